"""Face meshes leave only when asked; consent withdrawn mid-session ends a stream's features."""

from __future__ import annotations

import time

import numpy as np
import pyarrow.dataset as pads

from fusion.export import export
from fusion.fuse import fuse_session
from fusion.schema import DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from sensing.clock import ClockAnchor, SessionClock
from sensing.records import N_LANDMARKS, InputEvent, Marker
from sensing.session import SessionWriter
from tests.fusion.conftest import ALL_CONSENT, MS, S, face_rows


def _mesh_session(data_dir):
    consent = {**ALL_CONSENT, "landmarks": True}
    with SessionWriter.create(data_dir, participant="m", consent=consent) as writer:
        for frame in face_rows(0, 0.5):
            frame.landmarks = np.full((N_LANDMARKS, 3), 0.5, dtype=np.float32)
            writer.write_face(frame)
        writer.write_input(InputEvent(10 * MS, "key_down", key_class="letter"))
        path = writer.path
    return path


def test_landmarks_are_exported_only_with_include_landmarks(data_dir, tmp_path) -> None:
    dataset = fuse_session(_mesh_session(data_dir),
                           settings=FusionSettings(include_landmarks=True))
    assert dataset.extras["landmarks"].shape == (2, N_LANDMARKS, 3)
    export(dataset, tmp_path / "plain", format="parquet")
    export(dataset, tmp_path / "mesh", format="parquet", include_landmarks=True)
    plain = pads.dataset(tmp_path / "plain", partitioning="hive").schema.names
    mesh = pads.dataset(tmp_path / "mesh", partitioning="hive").to_table()
    assert "landmarks" not in plain
    assert len(mesh.column("landmarks")[0]) == N_LANDMARKS * 3


def test_landmarks_are_not_read_unless_asked(data_dir) -> None:
    assert "landmarks" not in fuse_session(_mesh_session(data_dir)).extras


def test_withdrawn_consent_invalidates_the_stream_from_then_on(data_dir) -> None:
    # A clock started one second ago, so that the withdrawal lands inside the rows below.
    clock = SessionClock(ClockAnchor(monotonic_ns=time.monotonic_ns() - S,
                                     wall_ns=time.time_ns() - S))
    with SessionWriter.create(data_dir, participant="w", consent=ALL_CONSENT,
                              clock=clock) as writer:
        for frame in face_rows(0, 3):
            writer.write_face(frame)
        writer.write_input(InputEvent(10 * MS, "key_down", key_class="letter"))
        writer.write_marker(Marker(0, "content_shown", {"content_id": "a"}))
        writer.flush()
        withdrawn_ns = writer.clock.now_ns()
        writer.update_consent("keyboard", False)
        path = writer.path
    dataset = fuse_session(path)
    key_valid = dataset.valid[:, DEFAULT_SCHEMA.feature_index("key_rate_hz")]
    ends_ns = np.round(dataset.t_s * S)
    assert 1 * S < withdrawn_ns < 2 * S
    assert key_valid[ends_ns <= withdrawn_ns].sum() >= 4
    assert not key_valid[ends_ns - 0.25 * S > withdrawn_ns].any()
    assert dataset.valid[:, DEFAULT_SCHEMA.feature_index("clicks")].all()
