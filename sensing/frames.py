"""Frame sources: a webcam or a recorded video behind one interface, every frame timestamped.

A :class:`FrameSource` hands out :class:`Frame` objects stamped with session time (``t_ns``
from :class:`sensing.clock.SessionClock`) at the moment of capture. Nothing is lost without
a word: frames that arrive late, frames skipped to keep up, failed reads and reconnects are
counted in :class:`SourceStats`, and a camera that stops delivering reports the gap through
``on_gap(start_ns, end_ns, reason)`` so the recorder can write it into the session.

A :class:`VideoFileSource` stands in for a camera: paced in real time (``realtime=True``) it
behaves like a 30 fps webcam that keeps running while the consumer is busy (frames it could
not deliver in time are skipped and counted); unpaced it runs as fast as it is read, and its
timestamps follow the video's own position so that they are exact and strictly increasing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensing.clock import SessionClock
from sensing.errors import MediaError

log = logging.getLogger(__name__)

GapCallback = Callable[[int, "int | None", str], None]

# A frame counts as late when it arrives this many nominal frame periods after the previous one.
LATE_FACTOR = 1.5


@dataclass(frozen=True)
class Frame:
    """One captured image.

    ``t_ns`` is session time at capture, ``index`` counts frames delivered by the source since
    it was created (it keeps counting across a restart), ``image`` is BGR uint8 ``[H, W, 3]``.
    """

    t_ns: int
    index: int
    image: np.ndarray

    @property
    def t_s(self) -> float:
        return self.t_ns / 1e9


@dataclass(frozen=True)
class SourceStats:
    """What a source did so far; every frame not delivered is counted in one of these."""

    frames_read: int = 0
    frames_late: int = 0
    frames_skipped: int = 0
    failed_reads: int = 0
    reconnects: int = 0
    gaps: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FrameSource:
    """Base of every frame source: ``open``, ``read`` until ``None``, ``close``.

    Subclasses implement ``_open``, ``_read`` and ``_close``; the base keeps the counters and
    guarantees strictly increasing ``t_ns`` across restarts (``close`` then ``open`` again).
    """

    #: Nominal frames per second, known after ``open``.
    fps: float = math.nan

    def __init__(self) -> None:
        self._counts = {name: 0 for name in SourceStats.__dataclass_fields__}
        self._counts_lock = threading.Lock()
        self._last_t_ns: int | None = None
        self._next_index = 0
        self._is_open = False

    # public interface

    def open(self) -> None:
        """Open the device or file; raises :class:`MediaError` if it cannot be used."""
        if self._is_open:
            return
        self._open()
        self._is_open = True

    def read(self) -> Frame | None:
        """The next frame, or ``None`` at the end of the stream."""
        if not self._is_open:
            self.open()
        return self._read()

    def close(self) -> None:
        if self._is_open:
            self._close()
            self._is_open = False

    def interrupt(self) -> None:
        """Wake a ``read`` that is waiting (pacing, reconnecting) so another thread can stop."""
        return None

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def stats(self) -> SourceStats:
        with self._counts_lock:
            return SourceStats(**self._counts)

    def describe(self) -> dict[str, Any]:
        """Facts about the source for the session's metadata (no image content)."""
        return {"kind": type(self).__name__, "fps": self.fps}

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    # for subclasses

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount

    def _emit(self, t_ns: int, image: np.ndarray) -> Frame:
        """Stamp and count one delivered frame, keeping ``t_ns`` strictly increasing."""
        if self._last_t_ns is not None and t_ns <= self._last_t_ns:
            t_ns = self._last_t_ns + 1
        self._last_t_ns = t_ns
        frame = Frame(t_ns=t_ns, index=self._next_index, image=image)
        self._next_index += 1
        self._count("frames_read")
        return frame

    def _open(self) -> None:
        raise MediaError(f"{type(self).__name__} cannot be opened")

    def _read(self) -> Frame | None:
        return None

    def _close(self) -> None:
        return None


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """BGR uint8 [H, W, 3] from whatever OpenCV decoded (grey or BGRA happen)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class CameraSource(FrameSource):
    """A webcam through OpenCV ``VideoCapture``.

    ``t_ns`` is read from the session clock as soon as ``VideoCapture.read`` returns, which is
    as close to capture as OpenCV lets a program get. A failed read is retried; after
    ``reconnect_after`` failures in a row the device is released and reopened with back-off
    (``backoff_s``, the last value repeating) until ``give_up_s`` has passed, when ``read``
    reports the open gap and raises :class:`MediaError`. A gap that closes is reported once
    with its start (the last good frame) and end (the first good frame after it).
    ``capture_factory`` makes the capture object (``cv2.VideoCapture`` by default).
    """

    def __init__(
        self,
        device_index: int,
        *,
        clock: SessionClock,
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
        on_gap: GapCallback | None = None,
        reconnect_after: int = 3,
        backoff_s: Sequence[float] = (0.1, 0.2, 0.5, 1.0, 2.0),
        give_up_s: float = 30.0,
        capture_factory: Callable[[int], Any] | None = None,
    ) -> None:
        super().__init__()
        self.device_index = device_index
        self.clock = clock
        self.width = width
        self.height = height
        self.fps = float(fps)
        self.on_gap = on_gap
        self.reconnect_after = max(1, reconnect_after)
        self.backoff_s = tuple(backoff_s) or (0.0,)
        self.give_up_s = give_up_s
        self._factory = capture_factory or cv2.VideoCapture
        self._capture: Any = None
        self._stop = threading.Event()
        self._gap_start_ns: int | None = None
        self._actual: dict[str, float] = {}

    def _open_capture(self) -> bool:
        capture = self._factory(self.device_index)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            return False
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        # A one-frame driver buffer keeps frames fresh instead of queueing stale ones.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._actual = {
            "width": capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            "height": capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
            "fps": capture.get(cv2.CAP_PROP_FPS),
        }
        self._capture = capture
        return True

    def _open(self) -> None:
        self._stop.clear()
        if not self._open_capture():
            raise MediaError(
                f"camera {self.device_index} could not be opened: check that it is connected, "
                "not used by another program, and that this program may use the camera "
                "(or pass --video PATH to use a recorded video)"
            )
        log.info("camera %d opened: %s", self.device_index, self._actual)

    def _close(self) -> None:
        self._stop.set()
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def interrupt(self) -> None:
        """Wake a ``read`` that is waiting to reconnect, so another thread can stop it."""
        self._stop.set()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "camera", "device_index": self.device_index,
            "requested": {"width": self.width, "height": self.height, "fps": self.fps},
            "actual": dict(self._actual),
        }

    def _report_gap(self, end_ns: int | None, reason: str) -> None:
        start_ns = self._gap_start_ns if self._gap_start_ns is not None else end_ns or 0
        self._count("gaps")
        log.warning("camera %d gap %s..%s ns: %s", self.device_index, start_ns, end_ns, reason)
        if self.on_gap is not None:
            self.on_gap(start_ns, end_ns, reason)

    def _read(self) -> Frame | None:
        failures = 0
        attempt = 0
        first_failure_s: float | None = None
        while not self._stop.is_set():
            ok, image = (False, None)
            if self._capture is not None:
                ok, image = self._capture.read()
            t_ns = self.clock.now_ns()
            if ok and image is not None:
                if self._gap_start_ns is not None:
                    self._report_gap(t_ns, f"camera stopped delivering; recovered after "
                                           f"{attempt} reconnect(s)")
                    self._gap_start_ns = None
                self._note_timing(t_ns)
                return self._emit(t_ns, _as_bgr(image))

            self._count("failed_reads")
            failures += 1
            if self._gap_start_ns is None:
                self._gap_start_ns = self._last_t_ns if self._last_t_ns is not None else t_ns
            if first_failure_s is None:
                first_failure_s = time.monotonic()
            if failures < self.reconnect_after:
                continue
            if time.monotonic() - first_failure_s >= self.give_up_s:
                self._report_gap(None, f"camera stopped delivering; gave up after "
                                       f"{attempt} reconnect(s) in {self.give_up_s:g} s")
                raise MediaError(
                    f"camera {self.device_index} stopped delivering frames and did not come back "
                    f"within {self.give_up_s:g} s; check the cable or the camera's other users"
                )
            delay = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
            attempt += 1
            failures = 0
            if self._capture is not None:
                self._capture.release()
                self._capture = None
            if self._stop.wait(delay):
                break
            self._count("reconnects")
            if self._open_capture():
                log.info("camera %d reopened (attempt %d)", self.device_index, attempt)
        return None

    def _note_timing(self, t_ns: int) -> None:
        """Count a frame as late, and the frames it implies were missed, from its interval."""
        # The driver's reported rate, when it gives one, is what the camera really runs at
        # (many drop to 15 fps in dim light); the requested rate otherwise.
        actual = self._actual.get("fps", 0.0)
        fps = actual if 1.0 <= actual <= 240.0 else self.fps
        if self._last_t_ns is None or not fps > 0:
            return
        period_ns = 1e9 / fps
        interval = t_ns - self._last_t_ns
        if interval > LATE_FACTOR * period_ns:
            self._count("frames_late")
            self._count("frames_skipped", max(0, round(interval / period_ns) - 1))


class VideoFileSource(FrameSource):
    """A recorded video with a camera's interface.

    ``realtime=False``: frames come as fast as they are read and ``t_ns`` is the origin plus
    the frame's position in the video (``position / fps``), where the origin is the clock at
    the first ``open`` (or zero without a clock, giving plain media time). ``realtime=True``:
    frame ``k`` is due at ``origin + k / fps`` on the clock; ``read`` waits for it, and if the
    consumer fell a full period or more behind, the frames whose time has passed are skipped
    (grabbed, not decoded) and counted, as a camera would overwrite them. After ``close`` and
    ``open`` the video starts again and the origin moves past the last delivered frame, so
    timestamps stay strictly increasing across restarts. ``loop=True`` rewinds at the end.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: SessionClock | None = None,
        realtime: bool = False,
        loop: bool = False,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.clock = clock
        self.realtime = realtime
        self.loop = loop
        self.frame_count = 0
        self.width = 0
        self.height = 0
        self._capture: Any = None
        self._origin_ns = 0
        self._position = 0
        self._pending: np.ndarray | None = None
        self._stop = threading.Event()

    def _now_ns(self) -> int:
        return self.clock.now_ns() if self.clock is not None else 0

    def _open(self) -> None:
        if not self.path.is_file():
            raise MediaError(f"{self.path}: no such video file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise MediaError(f"{self.path}: not a video OpenCV can decode (is it a video file?)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not (fps and math.isfinite(fps) and 1.0 <= fps <= 1000.0):
            log.warning("%s: frame rate %r unknown, assuming 30 fps", self.path, fps)
            fps = 30.0
        self.fps = float(fps)
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.width <= 0 or self.height <= 0:
            capture.release()
            raise MediaError(f"{self.path}: no video stream found (is it a video file?)")
        # Decode the first frame now, so that a file OpenCV opens but cannot decode fails here.
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise MediaError(f"{self.path}: no frame could be decoded (damaged or not a video)")
        self._pending = first
        self._capture = capture
        self._position = 0
        self._stop.clear()
        period_ns = round(1e9 / self.fps)
        origin = self._now_ns()
        if self._last_t_ns is not None:
            origin = max(origin, self._last_t_ns + period_ns)
        self._origin_ns = origin

    def _close(self) -> None:
        self._stop.set()
        self._pending = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def interrupt(self) -> None:
        """Wake a paced ``read`` that is waiting for its frame's time."""
        self._stop.set()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "video", "path": str(self.path), "fps": self.fps,
            "width": self.width, "height": self.height, "frame_count": self.frame_count,
            "realtime": self.realtime,
        }

    def _due_ns(self, position: int) -> int:
        return self._origin_ns + round(position * 1e9 / self.fps)

    def _rewind(self) -> bool:
        """Start the video again with timestamps continuing after the last frame."""
        if not self.loop or self._position == 0:
            return False
        self._origin_ns = self._due_ns(self._position)
        self._position = 0
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return True

    def _read(self) -> Frame | None:
        if self._capture is None:
            return None
        if self.realtime and self.clock is not None:
            lag_ns = self.clock.now_ns() - self._due_ns(self._position)
            period_ns = 1e9 / self.fps
            if lag_ns >= period_ns and self._pending is None:
                behind = int(lag_ns // period_ns)
                self._count("frames_late")
                for _ in range(behind):
                    if not self._capture.grab():
                        break
                    self._position += 1
                    self._count("frames_skipped")
            wait_s = (self._due_ns(self._position) - self.clock.now_ns()) / 1e9
            if wait_s > 0 and self._stop.wait(wait_s):
                return None
        if self._pending is not None:
            ok, image = True, self._pending
            self._pending = None
        else:
            ok, image = self._capture.read()
        if not ok or image is None:
            if self._rewind():
                ok, image = self._capture.read()
            if not ok or image is None:
                if self.frame_count and self._position < self.frame_count - 1:
                    self._count("failed_reads")
                    log.warning("%s: decoding stopped at frame %d of %d", self.path,
                                self._position, self.frame_count)
                return None
        t_ns = self._due_ns(self._position)
        self._position += 1
        return self._emit(t_ns, _as_bgr(image))


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class ImageSource(FrameSource):
    """A still image as a one-frame stream at ``t_ns`` 0 (or the clock at open)."""

    def __init__(self, path: str | Path, *, clock: SessionClock | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.clock = clock
        self.fps = math.nan
        self._image: np.ndarray | None = None
        self._delivered = False

    def _open(self) -> None:
        if not self.path.is_file():
            raise MediaError(f"{self.path}: no such image file")
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise MediaError(f"{self.path}: not an image OpenCV can decode")
        self._image = _as_bgr(image)
        self._delivered = False

    def _read(self) -> Frame | None:
        if self._delivered or self._image is None:
            return None
        self._delivered = True
        return self._emit(self.clock.now_ns() if self.clock is not None else 0, self._image)

    def describe(self) -> dict[str, Any]:
        height, width = self._image.shape[:2] if self._image is not None else (0, 0)
        return {"kind": "image", "path": str(self.path), "width": width, "height": height}


def open_media(
    path: str | Path, *, clock: SessionClock | None = None, realtime: bool = False
) -> FrameSource:
    """An opened source for an image or a video file, chosen by content and suffix.

    Raises :class:`MediaError` with one clear line for a missing, unreadable or non-media file.
    """
    media = Path(path)
    if not media.exists():
        raise MediaError(f"{media}: no such file")
    if media.is_dir():
        raise MediaError(f"{media}: is a folder, not an image or video file")
    source: FrameSource
    if media.suffix.lower() in IMAGE_SUFFIXES:
        source = ImageSource(media, clock=clock)
    else:
        source = VideoFileSource(media, clock=clock, realtime=realtime)
    source.open()
    return source
