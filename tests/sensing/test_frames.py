"""Frame sources: timestamps on the session clock, counted skips, camera failure handling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sensing.clock import SessionClock
from sensing.errors import MediaError
from sensing.frames import CameraSource, ImageSource, VideoFileSource, open_media

SINGLE_FACE_FRAMES = 72


class ManualClock(SessionClock):
    """A session clock a test moves by hand, so pacing is checked without waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.t_ns = 0

    def now_ns(self) -> int:
        return self.t_ns


def test_fast_video_delivers_every_frame_with_times_from_its_position(media):
    with VideoFileSource(media("single_face.mp4")) as source:
        frames = list(source)
    assert len(frames) == SINGLE_FACE_FRAMES
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames] == list(range(SINGLE_FACE_FRAMES))
    assert frames[0].t_ns == 0
    assert frames[30].t_ns == pytest.approx(1e9, abs=1e6)  # 30 fps video
    assert source.stats.frames_read == SINGLE_FACE_FRAMES and source.stats.frames_skipped == 0


def test_fast_video_times_start_at_the_session_clock_when_opened(media):
    clock = ManualClock()
    clock.t_ns = 5_000_000_000
    with VideoFileSource(media("single_face.mp4"), clock=clock) as source:
        first, second = source.read(), source.read()
    assert first.t_ns == 5_000_000_000
    assert second.t_ns == 5_000_000_000 + round(1e9 / 30)


def test_timestamps_stay_strictly_increasing_across_a_source_restart(media):
    clock = ManualClock()
    source = VideoFileSource(media("single_face.mp4"), clock=clock)
    source.open()
    before = [source.read().t_ns for _ in range(40)]
    source.close()
    source.open()  # the clock has not moved: the video is ahead of it
    after = [f.t_ns for f in source]
    stamps = np.array(before + after)
    assert len(after) == SINGLE_FACE_FRAMES
    assert np.all(np.diff(stamps) > 0)
    assert after[0] - before[-1] == round(1e9 / 30)


def test_realtime_video_skips_and_counts_frames_when_the_reader_falls_behind(media):
    clock = ManualClock()
    period_ns = 1e9 / 30
    with VideoFileSource(media("single_face.mp4"), clock=clock, realtime=True) as source:
        first = source.read()
        clock.t_ns = int(5.5 * period_ns)  # the reader was busy for five and a half periods
        late = source.read()
        stats = source.stats
    assert first.t_ns == 0
    assert stats.frames_skipped == 4 and stats.frames_late == 1
    assert late.index == 1 and late.t_ns == round(5 * period_ns)


def test_missing_and_non_media_files_raise_media_errors(tmp_path: Path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(MediaError, match="no such"):
        VideoFileSource(tmp_path / "absent.mp4").open()
    with pytest.raises(MediaError, match="notes.mp4"):
        VideoFileSource(text).open()
    with pytest.raises(MediaError, match="folder"):
        open_media(tmp_path)


def test_an_image_is_one_frame_at_time_zero(media):
    source = open_media(media("single_face.jpg"))
    frames = list(source)
    assert isinstance(source, ImageSource)
    assert len(frames) == 1 and frames[0].t_ns == 0 and frames[0].image.shape[2] == 3


def test_a_camera_that_cannot_be_opened_raises_a_clear_error():
    # An index far beyond any device attached to a test machine.
    source = CameraSource(97, clock=SessionClock())
    with pytest.raises(MediaError, match="camera 97 could not be opened"):
        source.open()


def test_a_camera_that_stops_is_reconnected_and_the_gap_reported(media):
    # The "camera" is a video capture: at the video's end reads fail exactly as when a
    # webcam is unplugged, and reopening it delivers frames again.
    video = str(media("single_face.mp4"))
    gaps: list[tuple[int, int | None, str]] = []
    source = CameraSource(0, clock=SessionClock(), on_gap=lambda *gap: gaps.append(gap),
                          reconnect_after=2, backoff_s=(0.0,),
                          capture_factory=lambda _index: cv2.VideoCapture(video))
    with source:
        frames = [source.read() for _ in range(SINGLE_FACE_FRAMES + 3)]
    stats = source.stats
    assert all(f is not None for f in frames)
    assert stats.failed_reads == 2 and stats.reconnects == 1 and stats.gaps == 1
    assert len(gaps) == 1
    start_ns, end_ns, reason = gaps[0]
    assert start_ns == frames[SINGLE_FACE_FRAMES - 1].t_ns
    assert end_ns == frames[SINGLE_FACE_FRAMES].t_ns and "recovered" in reason
    assert np.all(np.diff([f.t_ns for f in frames]) > 0)


def test_a_camera_that_never_comes_back_reports_an_open_gap_and_raises(media):
    video = str(media("single_face.mp4"))
    opened: list[int] = []

    def open_once(_index: int) -> cv2.VideoCapture:
        opened.append(1)
        return cv2.VideoCapture(video if len(opened) == 1 else "")

    gaps: list[tuple[int, int | None, str]] = []
    source = CameraSource(0, clock=SessionClock(), on_gap=lambda *gap: gaps.append(gap),
                          reconnect_after=1, backoff_s=(0.0,), give_up_s=0.0,
                          capture_factory=open_once)
    with source:
        for _ in range(SINGLE_FACE_FRAMES):
            source.read()
        with pytest.raises(MediaError, match="stopped delivering"):
            source.read()
    assert len(gaps) == 1 and gaps[0][1] is None and "gave up" in gaps[0][2]
