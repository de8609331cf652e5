"""``engage fuse``, ``engage export`` and ``engage import`` through the real command line."""

from __future__ import annotations

import json

import pytest

from desktop_app.cli import main
from fusion.dataset import FusedDataset
from sensing.records import InputEvent, Marker
from tests.fusion.conftest import MS, face_rows


@pytest.fixture
def session(make_session):
    return make_session(face=face_rows(0, 1),
                        inputs=[InputEvent(100 * MS, "key_down", key_class="letter")],
                        markers=[Marker(0, "content_shown", {"content_id": "a"})])


def test_fuse_writes_a_dataset_folder(session, tmp_path, capsys) -> None:
    assert main(["fuse", str(session), "--step", "0.5", "--out", str(tmp_path / "ds")]) == 0
    assert "2 steps" in capsys.readouterr().out
    assert len(FusedDataset.load(tmp_path / "ds")) == 2


@pytest.mark.parametrize("argv, message", [
    (["fuse", "no-such-session"], "no session"),
    (["fuse", "{session}", "--step", "0"], "step_s"),
    (["fuse", "{session}", "--step", "-1"], "step_s"),
    (["fuse", "{session}", "--config", "{config}"], "unknown setting"),
    (["export", "{session}", "--format", "csv", "--out", "{blocked}/out"], "not a folder"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, session, tmp_path, capsys) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"step": 0.5}))
    blocked = tmp_path / "file"
    blocked.write_text("x")
    argv = [a.format(session=session, config=config, blocked=blocked) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_empty_session_is_one_line_and_exit_2(make_session, capsys) -> None:
    assert main(["fuse", str(make_session())]) == 2
    assert "empty" in capsys.readouterr().err


def test_sessions_failing_alike_share_one_reason_on_one_line(make_session, capsys) -> None:
    face_only = [make_session(face=face_rows(0, 1)) for _ in range(3)]
    empty = make_session()
    assert main(["fuse", *map(str, face_only), str(empty), "--processes", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "none of the 4 sessions" in err
    assert err.count("has only the face stream") == 1 and err.count("is empty") == 1
    assert all(str(path) in err for path in [*face_only, empty])


def test_a_corrupt_session_among_good_ones_is_named_and_exit_1(session, tmp_path,
                                                               capsys) -> None:
    corrupt = tmp_path / "bad.sqlite"
    corrupt.write_bytes(b"not a database at all")
    status = main(["export", str(session), str(corrupt), "--format", "parquet",
                   "--out", str(tmp_path / "pq"), "--processes", "1"])
    assert status == 1
    assert str(corrupt) in capsys.readouterr().err
    assert (tmp_path / "pq" / "_common_metadata").exists()


def test_import_prints_the_new_session_which_then_fuses(media, data_dir, tmp_path,
                                                        capsys) -> None:
    assert main(["import", "imotions", str(media("iMotions_Test_v6.txt")),
                 "--participant", "x9"]) == 0
    session_id = capsys.readouterr().out.split(" as session ")[1].split()[0]
    assert main(["export", session_id, "--format", "npz", "--out", str(tmp_path / "n")]) == 0
    assert (tmp_path / "n" / "dataset.npz").exists()
