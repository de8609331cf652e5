"""The recorder: a failing camera leaves a marked gap while input keeps recording; pause is
stored as markers and stores nothing in between; status counts what came and went."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sensing.errors import MediaError
from sensing.face import FaceAnalyzer, FacePipeline
from sensing.frames import Frame, FrameSource
from sensing.recorder import Recorder, RecorderOptions
from sensing.session import SessionWriter, open_session
from tests.sensing.waiting import wait_until


class Key:
    def __init__(self, char: str) -> None:
        self.char = char


class UnpluggableCamera(FrameSource):
    """Grey 30 fps frames; while ``unplugged`` is set, reads and reopening raise."""

    fps = 30.0

    def __init__(self, clock) -> None:
        super().__init__()
        self.clock = clock
        self.unplugged = threading.Event()
        self._tick = threading.Event()
        self._image = np.full((120, 160, 3), 128, dtype=np.uint8)

    def _open(self) -> None:
        if self.unplugged.is_set():
            raise MediaError("camera 0 is gone")

    def _read(self) -> Frame | None:
        self._tick.wait(1 / 30)
        if self.unplugged.is_set():
            raise MediaError("camera 0 stopped delivering")
        return self._emit(self.clock.now_ns(), self._image)


@pytest.fixture
def headless(monkeypatch):
    """No display: the listeners cannot start, events are injected through their callbacks."""
    monkeypatch.delenv("DISPLAY", raising=False)


def make_pipeline(face_model):
    return lambda on_face: FacePipeline(FaceAnalyzer(face_model), on_face, queue_size=8)


@pytest.mark.usefixtures("headless")
def test_a_camera_failing_mid_run_leaves_a_marked_gap_while_input_keeps_recording(
        data_dir, face_model):
    writer = SessionWriter.create(data_dir, participant="p",
                                  consent={"camera": True, "keyboard": True})
    camera = UnpluggableCamera(writer.clock)
    recorder = Recorder(writer, frame_source=camera, make_face_pipeline=make_pipeline(face_model),
                        options=RecorderOptions(marker_port=None))
    recorder.start()
    wait_until(lambda: recorder.status()["frames"]["read"] >= 5, what="five frames")
    camera.unplugged.set()
    wait_until(lambda: recorder.status()["frames"]["source_errors"] >= 1, what="the failure")
    for char in "abc":
        recorder.input.on_press(Key(char))
    pressed_at = writer.clock.now_ns()
    frames_before = recorder.status()["frames"]["read"]
    camera.unplugged.clear()
    wait_until(lambda: recorder.status()["frames"]["read"] >= frames_before + 3,
               what="frames after recovery")
    final = recorder.stop()
    writer.close()

    with open_session(writer.path) as session:
        gaps = session.gaps()
        keys = session.input_events()["t_ns"]
        face_t = session.face()["t_ns"]
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap["stream"] == "face"
    assert "stopped delivering" in gap["reason"]
    assert gap["start_ns"] < keys[0] and keys[-1] <= pressed_at < gap["end_ns"]
    assert len(keys) == 3
    assert not np.any((face_t > gap["start_ns"]) & (face_t < gap["end_ns"]))
    assert len(face_t) == final["frames"]["read"]


@pytest.mark.usefixtures("headless")
def test_a_camera_still_failing_at_the_end_gets_a_gap_closed_at_the_stop(data_dir, face_model):
    writer = SessionWriter.create(data_dir, participant="p", consent={"camera": True})
    camera = UnpluggableCamera(writer.clock)
    recorder = Recorder(writer, frame_source=camera, make_face_pipeline=make_pipeline(face_model),
                        options=RecorderOptions(marker_port=None))
    recorder.start()
    wait_until(lambda: recorder.status()["frames"]["read"] >= 2, what="two frames")
    camera.unplugged.set()
    wait_until(lambda: recorder.status()["frames"]["source_errors"] >= 1, what="the failure")
    recorder.stop()
    stopped_at = writer.clock.now_ns()
    writer.close()
    with open_session(writer.path) as session:
        (gap,) = session.gaps()
    assert gap["end_ns"] <= stopped_at
    assert "not recovered by the end" in gap["reason"]


@pytest.mark.usefixtures("headless")
def test_pause_is_stored_as_markers_and_nothing_is_stored_in_between(data_dir):
    writer = SessionWriter.create(data_dir, participant="p",
                                  consent={"keyboard": True, "markers": True})
    recorder = Recorder(writer, options=RecorderOptions(marker_port=None))
    recorder.start()
    recorder.input.on_press(Key("a"))
    recorder.pause("gui")
    recorder.input.on_press(Key("b"))
    refused = recorder.markers.offer("task_start", {})
    recorder.resume("gui")
    recorder.input.on_press(Key("c"))
    recorder.stop()
    writer.close()
    with open_session(writer.path) as session:
        markers = [(m.kind, m.payload) for m in session.markers()]
        presses = session.input_events()["t_ns"]
    assert markers == [("pause", {"source": "gui"}), ("resume", {"source": "gui"})]
    assert len(presses) == 2
    assert "paused" in refused


@pytest.mark.usefixtures("headless")
def test_pause_markers_are_kept_even_without_marker_consent(data_dir):
    writer = SessionWriter.create(data_dir, participant="p", consent={"keyboard": True})
    recorder = Recorder(writer, options=RecorderOptions(marker_port=None))
    recorder.start()
    recorder.pause("hotkey")
    recorder.resume("hotkey")
    recorder.stop()
    writer.close()
    with open_session(writer.path) as session:
        assert [m.kind for m in session.markers()] == ["pause", "resume"]


@pytest.mark.usefixtures("headless")
def test_status_counts_received_written_and_reports_queue_depth(data_dir):
    writer = SessionWriter.create(data_dir, participant="p",
                                  consent={"keyboard": True, "markers": True})
    recorder = Recorder(writer, options=RecorderOptions(marker_port=None))
    recorder.start()
    for _ in range(100):
        recorder.input.on_press(Key("x"))
    recorder.markers.offer_line("task_start")
    recorder.markers.offer_line("nonsense")
    writer.flush()
    status = recorder.status()
    recorder.stop()
    writer.close()
    assert status["streams"]["input"]["received"] == 100
    assert status["streams"]["input"]["written"] == 100
    assert status["streams"]["input"]["dropped"] == 0
    assert status["markers"]["accepted"] == 1 and status["markers"]["rejected"] == 1
    assert status["queue_depth"] == 0
    assert status["input"]["unavailable"] is not None
    assert status["paused"] is False


def test_the_final_status_counts_rows_still_queued_at_the_stop(data_dir):
    writer = SessionWriter.create(data_dir, participant="p", consent={"keyboard": True})
    recorder = Recorder(writer, options=RecorderOptions(marker_port=None))
    recorder.start()
    for _ in range(3000):
        recorder.input.on_press(Key("x"))
    final = recorder.stop()  # no flush first: the writer may still hold rows
    writer.close()
    with open_session(writer.path) as session:
        stored = session.row_count("input")
    assert stored == 3000
    assert final["streams"]["input"]["written"] == stored
