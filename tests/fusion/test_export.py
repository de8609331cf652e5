"""Exports: Parquet read by pyarrow.dataset and DuckDB, CSV, NPZ offline-RL arrays, Minari."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fusion.export import ExportError, export, offline_rl_arrays
from fusion.fuse import fuse_sessions
from fusion.schema import DEFAULT_SCHEMA, action_index
from sensing.records import InputEvent, Marker
from tests.fusion.conftest import MS, S, face_rows


@pytest.fixture
def dataset(make_session):
    paths = [make_session(participant=name, face=face_rows(0, 2),
                          inputs=[InputEvent(600 * MS, "key_down", key_class="letter")],
                          markers=[Marker(0, "content_shown", {"content_id": "a"}),
                                   Marker(S, "content_shown", {"content_id": "b"})])
             for name in ("alice", "bob smith")]
    fused, failures = fuse_sessions(paths, processes=1, progress=False)
    assert not failures
    return fused


def test_parquet_is_a_hive_dataset_pyarrow_reads_with_its_metadata(dataset, tmp_path) -> None:
    import pyarrow.dataset as pads

    export(dataset, tmp_path / "pq", format="parquet")
    table = pads.dataset(tmp_path / "pq", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(dataset)
    assert set(table.column("participant").to_pylist()) == {"alice", "bob smith"}
    assert table.column("head_yaw_mean_deg").type.bit_width == 32
    meta = json.loads(table.schema.metadata[b"engage"])
    assert meta["schema"]["actions"] == list(DEFAULT_SCHEMA.actions)
    assert meta["settings"]["step_s"] == 0.25


def test_parquet_is_read_by_duckdb_as_it_is(dataset, tmp_path) -> None:
    import duckdb

    export(dataset, tmp_path / "pq", format="parquet")
    rows = duckdb.sql(
        f"SELECT participant, session, count(*) AS n, sum(key_rate_hz) AS keys "
        f"FROM read_parquet('{tmp_path / 'pq'}/**/*.parquet', hive_partitioning = true) "
        "GROUP BY participant, session ORDER BY participant").fetchall()
    assert [(r[0], r[2], r[3]) for r in rows] == [("alice", 8, 4.0), ("bob smith", 8, 4.0)]
    assert rows[0][1] == dataset.session_ids[0]


def test_csv_has_one_row_per_step_and_a_metadata_file(dataset, tmp_path) -> None:
    import pyarrow.csv as pcsv

    export(dataset, tmp_path / "csv", format="csv")
    table = pcsv.read_csv(tmp_path / "csv" / "steps.csv")
    assert table.num_rows == len(dataset)
    assert "valid_gaze_dispersion_deg" in table.column_names
    meta = json.loads((tmp_path / "csv" / "dataset.json").read_text())
    assert meta["schema_fingerprint"] == DEFAULT_SCHEMA.fingerprint()


def test_npz_follows_the_offline_rl_convention(dataset, tmp_path) -> None:
    export(dataset, tmp_path / "npz", format="npz")
    with np.load(tmp_path / "npz" / "dataset.npz") as arrays:
        n = arrays["actions"].shape[0]
        assert arrays["observations"].shape == arrays["next_observations"].shape == (
            n, len(DEFAULT_SCHEMA.features))
        assert n == 2 * (len(dataset) // 2 - 1)  # every step but each session's last
        assert arrays["actions"][1] == action_index("type_query")  # key at 0.6 s, step 3
        np.testing.assert_array_equal(arrays["next_observations"][0],
                                      arrays["observations"][1])
        assert arrays["terminals"].sum() == 2 and arrays["timeouts"].sum() == 2
        assert str(arrays["reward_source"]) == "engagement of the next state"


def test_transitions_never_cross_a_session_boundary(dataset) -> None:
    arrays = offline_rl_arrays(dataset)
    last_of_first = np.flatnonzero(arrays["session"] == 0)[-1]
    assert arrays["timeouts"][last_of_first]


def test_minari_export_is_loaded_by_minari(dataset, tmp_path, monkeypatch) -> None:
    minari = pytest.importorskip("minari")
    export(dataset, tmp_path / "mn", format="minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "mn"))
    loaded = minari.load_dataset("engage/fused-v0")
    assert loaded.total_steps == offline_rl_arrays(dataset)["actions"].shape[0]


def test_landmarks_are_refused_when_the_dataset_has_none(dataset, tmp_path) -> None:
    with pytest.raises(ExportError, match="face meshes"):
        export(dataset, tmp_path / "pq", format="parquet", include_landmarks=True)
    assert not (tmp_path / "pq").exists()


def test_an_unwritable_folder_is_refused_before_writing(dataset, tmp_path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        # Root writes through permissions; /proc refuses new folders to everyone on Linux.
        target = locked / "out" if not os.access(locked, os.W_OK) else Path("/proc/engage-out")
        with pytest.raises(ExportError, match="cannot write"):
            export(dataset, target, format="npz")
        assert not target.exists()
    finally:
        os.chmod(locked, 0o700)


def test_an_output_below_a_file_is_refused(dataset, tmp_path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    with pytest.raises(ExportError, match="not a folder"):
        export(dataset, blocker / "out", format="parquet")


def test_a_failed_export_leaves_nothing_that_looks_complete(dataset, tmp_path,
                                                            monkeypatch) -> None:
    import fusion.export as module

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module.np, "savez_compressed", broken)
    exports = tmp_path / "exports"
    with pytest.raises(OSError):
        export(dataset, exports / "npz", format="npz")
    assert list(exports.iterdir()) == []


def test_an_existing_non_empty_folder_is_not_overwritten(dataset, tmp_path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(dataset, tmp_path / "out", format="csv")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
