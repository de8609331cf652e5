"""Replay: every stream merged in time order, filtered, windowed and paced."""

from __future__ import annotations

import threading

import pytest

from sensing.errors import EngageError
from sensing.records import FaceFrame, InputEvent, Marker
from sensing.replay import replay
from sensing.session import SessionWriter, open_session

CONSENT = {"camera": True, "keyboard": True, "mouse": True, "markers": True}


@pytest.fixture
def session(data_dir):
    """Face rows every 100 ms, a key every 150 ms, markers at 0.25 s and 0.5 s."""
    with SessionWriter.create(data_dir, participant="p", consent=CONSENT) as writer:
        for i in range(10):
            writer.write_face(FaceFrame(t_ns=i * 100_000_000, present=True))
        for i in range(7):
            writer.write_input(InputEvent(i * 150_000_000, "key_down", "letter"))
        writer.write_marker(Marker(250_000_000, "task_start", {}))
        writer.write_marker(Marker(500_000_000, "rating", {"value": 3}))
        path = writer.path
    with open_session(path) as opened:
        yield opened


def test_rows_of_all_streams_come_merged_in_time_order(session):
    rows = list(replay(session, speed=None))
    assert len(rows) == 10 + 7 + 2
    assert [row.t_ns for row in rows] == sorted(row.t_ns for row in rows)
    assert {row.stream for row in rows} == {"face", "input", "markers"}


def test_rows_at_the_same_time_come_face_then_input_then_markers(session):
    at_zero = [row.stream for row in replay(session, speed=None) if row.t_ns == 0]
    assert at_zero == ["face", "input"]


def test_small_batches_give_the_same_rows(session):
    assert ([(r.stream, r.t_ns) for r in replay(session, speed=None, batch_size=2)]
            == [(r.stream, r.t_ns) for r in replay(session, speed=None)])


def test_streams_and_a_time_window_can_be_chosen(session):
    rows = list(replay(session, speed=None, streams=["input", "markers"], start_s=0.2,
                       end_s=0.6))
    assert [(row.stream, row.t_ns) for row in rows] == [
        ("markers", 250_000_000), ("input", 300_000_000), ("input", 450_000_000),
        ("markers", 500_000_000)]


def test_pacing_waits_for_each_row_at_the_speed_factor(session):
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    rows = list(replay(session, speed=2.0, streams=["face"], monotonic=lambda: now[0],
                       sleep=sleep))
    assert len(rows) == 10
    assert sum(waits) == pytest.approx(0.9 / 2.0)
    assert now[0] - 100.0 == pytest.approx(0.45)


def test_a_stop_event_ends_the_replay(session):
    stop = threading.Event()
    seen = []
    for row in replay(session, speed=None, stop=stop):
        seen.append(row)
        if len(seen) == 3:
            stop.set()
    assert len(seen) == 3


def test_unknown_streams_and_bad_speeds_are_refused(session):
    with pytest.raises(EngageError, match="unknown stream"):
        list(replay(session, streams=["gaze"]))
    with pytest.raises(EngageError, match="positive"):
        list(replay(session, speed=0))
