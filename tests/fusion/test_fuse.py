"""fuse_session and fuse_sessions: bad sessions refused clearly, many fused in parallel."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.dataset import FusedDataset
from fusion.fuse import (
    EmptySessionError,
    FuseFailure,
    OneStreamSessionError,
    describe_failures,
    fuse_session,
    fuse_sessions,
)
from fusion.schema import DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from sensing.errors import SessionNotFoundError
from sensing.records import InputEvent, Marker
from tests.fusion.conftest import MS, face_rows


def small_session(make_session, participant: str = "p1"):
    return make_session(face=face_rows(0, 1), participant=participant,
                        inputs=[InputEvent(100 * MS, "key_down", key_class="letter")],
                        markers=[Marker(0, "content_shown", {"content_id": "a"})])


def test_a_fused_session_is_a_valid_dataset_with_the_default_schema(make_session) -> None:
    dataset = fuse_session(small_session(make_session))
    dataset.validate()
    assert dataset.schema == DEFAULT_SCHEMA and len(dataset) == 4
    assert dataset.t_s.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert dataset.settings["step_s"] == 0.25 and dataset.participants == ("p1",)


def test_the_step_length_sets_the_number_of_steps(make_session) -> None:
    dataset = fuse_session(small_session(make_session), settings=FusionSettings(step_s=0.1))
    assert len(dataset) == 10


def test_an_unknown_session_is_refused(data_dir) -> None:
    with pytest.raises(SessionNotFoundError):
        fuse_session("no-such-session", data_dir=data_dir)


def test_an_empty_session_is_refused(make_session) -> None:
    with pytest.raises(EmptySessionError, match="empty"):
        fuse_session(make_session())


def test_a_one_stream_session_is_refused_unless_allowed(make_session) -> None:
    path = make_session(face=face_rows(0, 1))
    with pytest.raises(OneStreamSessionError, match="min-streams 1"):
        fuse_session(path)
    dataset = fuse_session(path, settings=FusionSettings(min_streams=1))
    behaviour = DEFAULT_SCHEMA.modality_of() == "behaviour"
    assert not dataset.valid[:, behaviour].any()


def test_many_sessions_fuse_in_parallel_and_a_corrupt_one_is_reported(make_session,
                                                                      tmp_path) -> None:
    good = [small_session(make_session, participant=f"p{i}") for i in range(3)]
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(good[0].read_bytes()[:3000])
    dataset, failures = fuse_sessions([good[0], corrupt, good[1], good[2]], processes=2,
                                      progress=False)
    assert isinstance(dataset, FusedDataset)
    assert dataset.participants == ("p0", "p1", "p2")
    assert [f.source for f in failures] == [str(corrupt)]
    assert np.all(np.diff(dataset.episode) >= 0) and len(set(dataset.session)) == 3


def test_parallel_and_serial_fusion_agree(make_session) -> None:
    paths = [small_session(make_session, participant=f"p{i}") for i in range(2)]
    parallel, _ = fuse_sessions(paths, processes=2, progress=False)
    serial, _ = fuse_sessions(paths, processes=1, progress=False)
    np.testing.assert_array_equal(parallel.states, serial.states)
    np.testing.assert_array_equal(parallel.actions, serial.actions)


def test_streams_out_of_time_order_fuse_like_sorted_ones(make_session) -> None:
    from fusion.fuse import SessionStreams, fuse_streams
    from sensing.session import open_session

    with open_session(small_session(make_session)) as session:
        streams = SessionStreams.read(session)
    expected = fuse_streams(streams, settings=FusionSettings())
    reverse = np.arange(streams.face["t_ns"].size)[::-1]
    streams.face = {name: values[reverse] for name, values in streams.face.items()}
    shuffled = fuse_streams(streams, settings=FusionSettings())
    np.testing.assert_array_equal(shuffled.states, expected.states)


def test_failures_of_one_reason_share_a_clause() -> None:
    failures = [FuseFailure("a/s1.sqlite", "session s1 is empty: nothing to fuse"),
                FuseFailure("a/s2.sqlite", "session s2 is empty: nothing to fuse"),
                FuseFailure("a/s3.sqlite", "not a session file")]
    assert describe_failures(failures) == ("a/s1.sqlite, a/s2.sqlite: each is empty: nothing "
                                           "to fuse; a/s3.sqlite: not a session file")
    assert describe_failures(failures[:1], name=lambda source: source[2:4]) == (
        "s1: session s1 is empty: nothing to fuse")
