"""The recorder: every consented stream of one session into one session file.

Threads and queues (no source can block another):

- capture thread: reads the frame source and hands each frame to the face pipeline, whose
  bounded queue drops the oldest waiting frame when MediaPipe falls behind (counted), and,
  with ``keep_video``, to the video writer's bounded queue (drops counted);
- face pipeline thread (:class:`sensing.face.FacePipeline`): MediaPipe, then
  ``SessionWriter.write_face``;
- pynput listener threads (:class:`sensing.input.InputCapture`): stamp and offer events;
- marker endpoint threads (:mod:`sensing.markers`) and optional LSL inlet: stamp and offer;
- housekeeping thread: stores a thinned-away pointer move once the pointer rests;
- the session writer's own thread commits every 100 ms, so SIGKILL loses at most that.

Every producer offers to :class:`sensing.session.SessionWriter`, whose bounded buffer never
blocks: a full buffer drops and counts. :meth:`Recorder.status` is a cheap snapshot (counts,
rates, drops, queue depths) a GUI can poll several times a second.

Pause (privacy): :meth:`Recorder.pause` stops storing input, discards camera frames unseen
and stops the kept video; the pause and the resume are stored as markers (``source`` says
who asked), so later stages know the span is missing on purpose. A configurable global
hotkey toggles it.

A frame source that fails mid-run (raises, or a camera that gave up) is retried with
back-off while input and markers keep recording; the span without frames is written with
:meth:`SessionWriter.add_gap` once its end is known (recovery or the end of the session).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensing.datadir import FILE_MODE
from sensing.errors import EngageError, MediaError, SessionError
from sensing.frames import Frame, FrameSource
from sensing.input import InputCapture
from sensing.markers import MarkerEndpoint, MarkerError, MarkerIntake
from sensing.records import FaceFrame, InputEvent, Marker
from sensing.session import SessionWriter

log = logging.getLogger(__name__)

RETRY_BACKOFF_S: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0)
VIDEO_QUEUE_FRAMES = 60
HOUSEKEEPING_INTERVAL_S = 0.05


def video_path_for(session_path: Path) -> Path:
    """Where the kept raw video of a session is written: ``<id>.mkv``.

    Matroska (mp4v codec, as before) rather than MP4 because MP4 writes its frame index at
    the end: a recorder killed with SIGKILL left an MP4 no reader opens, while a Matroska
    file reads up to the last cluster written.
    """
    return session_path.with_suffix(".mkv")


def kept_video_for(session_path: Path) -> Path | None:
    """The kept raw video of a session if there is one: ``<id>.mkv``, or the ``<id>.mp4``
    of sessions recorded before the kept video moved to Matroska."""
    for candidate in (video_path_for(session_path), session_path.with_suffix(".mp4")):
        if candidate.is_file():
            return candidate
    return None


def video_times_path_for(session_path: Path) -> Path:
    """Session time of every kept video frame, little-endian int64, one per frame."""
    return session_path.with_suffix(".video_t_ns")


@dataclass
class RecorderOptions:
    """Knobs of one recording; consent itself lives in the session writer."""

    keep_video: bool = False
    landmarks: bool = False  # stored as provenance; the face pipeline builder keeps them
    marker_port: int | None = 0  # None: no local endpoint; 0: any free port
    pause_hotkey: str | None = None
    face_queue_frames: int = 8
    move_interval_s: float = 1 / 60
    lsl_markers: str | None = None  # LSL stream name to read markers from (opt-in)
    lsl_features: bool = False  # publish face features as an LSL outlet (opt-in)


class _VideoKeeper:
    """Writes kept frames on its own thread so encoding never holds up capture."""

    def __init__(self, session_path: Path, fps: float) -> None:
        self.path = video_path_for(session_path)
        self.times_path = video_times_path_for(session_path)
        self.fps = fps if fps and fps == fps else 30.0
        self._queue: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._running = True
        self._writer: Any = None
        self.written = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="video-keeper", daemon=True)
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        with self._cond:
            if len(self._queue) >= VIDEO_QUEUE_FRAMES:
                self.dropped += 1
                return
            self._queue.append(frame)
            self._cond.notify()

    def _open(self, frame: Frame) -> None:
        import cv2

        height, width = frame.image.shape[:2]
        for candidate in (self.path, self.times_path):
            descriptor = os.open(candidate, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
            os.close(descriptor)
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                       self.fps, (width, height))
        if not self._writer.isOpened():
            raise MediaError(f"cannot write the kept video {self.path} (no mp4v encoder)")
        self._times = open(self.times_path, "ab")  # closed by _run when it ends

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and self._running:
                    self._cond.wait()
                if not self._queue:
                    break
                frame = self._queue.popleft()
            try:
                if self._writer is None:
                    self._open(frame)
                self._writer.write(frame.image)
                self._times.write(np.int64(frame.t_ns).astype("<i8").tobytes())
                self.written += 1
                if self.written % 30 == 0:
                    self._times.flush()
            except (MediaError, OSError) as error:
                log.error("kept video stopped: %s", error)
                with self._cond:
                    self.dropped += 1 + len(self._queue)
                    self._queue.clear()
                    self._running = False
                break
        if self._writer is not None:
            self._writer.release()
            self._times.close()

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        self._thread.join()


class Recorder:
    """Runs a frame source, the face pipeline, input listeners and markers into a writer.

    ``make_face_pipeline(on_face) -> FacePipeline`` builds the (unstarted) vision pipeline;
    it is called only when the camera stream is consented and a source is given.
    """

    def __init__(
        self,
        writer: SessionWriter,
        *,
        frame_source: FrameSource | None = None,
        make_face_pipeline: Callable[[Callable[[FaceFrame], None]], Any] | None = None,
        options: RecorderOptions | None = None,
    ) -> None:
        self.writer = writer
        self.clock = writer.clock
        self.options = options or RecorderOptions()
        self._source = frame_source if writer.consented("camera") else None
        self._make_face_pipeline = make_face_pipeline
        self._pipeline: Any = None
        self._video: _VideoKeeper | None = None
        self._paused = False
        self._pause_lock = threading.Lock()
        self._marker_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_ns: int | None = None
        self._frames = {"read": 0, "paused": 0, "source_errors": 0, "ended": 0}
        self._gap_start_ns: int | None = None
        self._gap_reason = ""
        self._gaps_written = 0
        self._source_problem: str | None = None
        self._last_rates: tuple[float, dict[str, int]] | None = None
        self._rates: dict[str, float] = {}
        self._lsl: list[Any] = []

        consent = {stream: writer.consented(stream) for stream in ("keyboard", "mouse", "scroll")}
        self.input = InputCapture(self.clock, self._sink_input, consent=consent,
                                  move_interval_s=self.options.move_interval_s,
                                  pause_hotkey=self.options.pause_hotkey,
                                  on_hotkey=self._toggle_pause_from_hotkey)
        self.markers = MarkerIntake(self.submit_marker)
        self.endpoint: MarkerEndpoint | None = None
        if writer.consented("markers") and self.options.marker_port is not None:
            self.endpoint = MarkerEndpoint(self.markers, port=self.options.marker_port)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every consented stream; a stream that cannot start is reported, not fatal."""
        self._started_ns = self.clock.now_ns()
        if self.endpoint is not None:
            self.endpoint.start()
        if self._source is not None:
            if self._make_face_pipeline is None:
                raise EngageError("a frame source needs a face pipeline to turn frames into "
                                  "features")
            # The pipeline (model loading takes seconds) exists before the first frame is
            # read, so a paced source does not start out late.
            self._pipeline = self._make_face_pipeline(self._on_face)
            self._pipeline.start()
            self._source.open()
            self.writer.set_meta("camera", self._source.describe())
            if self.options.keep_video and self.writer.consented("video"):
                self._video = _VideoKeeper(self.writer.path, getattr(self._source, "fps", 30.0))
                self.writer.set_meta("video", {"path": self._video.path.name,
                                               "times": self._video.times_path.name})
            self._spawn(self._capture_loop, "frame-capture")
        self.writer.set_meta("recorder_options", {
            "keep_video": self._video is not None, "landmarks": self.options.landmarks,
            "pause_hotkey": self.options.pause_hotkey,
            "move_interval_s": self.options.move_interval_s,
            "marker_endpoint": self.endpoint is not None,
            "lsl_markers": self.options.lsl_markers, "lsl_features": self.options.lsl_features,
        })
        if not self.input.start():
            self.writer.set_meta("input_unavailable", self.input.unavailable_reason)
        self._start_lsl()
        self._spawn(self._housekeeping_loop, "recorder-housekeeping")
        log.info("recording session %s", self.writer.session_id)

    def stop(self) -> dict[str, Any]:
        """Stop every stream, write the open gap, and return the final status."""
        self._stop.set()
        interrupt = getattr(self._source, "interrupt", None)
        if interrupt is not None:
            interrupt()
        self.input.stop()
        if self.endpoint is not None:
            self.endpoint.stop()
        for outlet in self._lsl:
            outlet.close()
        for thread in self._threads:
            thread.join(timeout=10.0)
        if self._pipeline is not None:
            self._pipeline.stop(drain=True, timeout_s=30.0)
        if self._source is not None:
            self._source.close()
        if self._video is not None:
            self._video.close()
        if self._gap_start_ns is not None:
            self._write_gap(self.clock.now_ns(), self._gap_reason + "; not recovered by the end")
        try:
            # Rows still queued would be missing from the final counts of every stream.
            self.writer.flush(timeout=30.0)
        except SessionError as problem:
            log.warning("final counts taken before the writer caught up: %s", problem)
        final = self.status()
        self.writer.set_meta("recorder", {key: final[key] for key in
                                          ("frames", "input", "markers", "video")})
        return final

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until stopped from elsewhere or ``timeout_s`` passes; True when stopped."""
        return self._stop.wait(timeout_s)

    def request_stop(self) -> None:
        """Ask a waiting :meth:`wait` to return (signal handlers call this)."""
        self._stop.set()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- pause ------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self, source: str = "api") -> None:
        """Stop storing everything until :meth:`resume`; stored as a ``pause`` marker."""
        with self._pause_lock:
            if self._paused:
                return
            self._paused = True
            self.input.set_paused(True)
            self.submit_marker("pause", {"source": source})
        log.info("recording paused (%s)", source)

    def resume(self, source: str = "api") -> None:
        with self._pause_lock:
            if not self._paused:
                return
            self.submit_marker("resume", {"source": source})
            self._paused = False
            self.input.set_paused(False)
        log.info("recording resumed (%s)", source)

    def _toggle_pause_from_hotkey(self) -> None:
        if self._paused:
            self.resume("hotkey")
        else:
            self.pause("hotkey")

    # -- sinks ------------------------------------------------------------------------------

    def _sink_input(self, event: InputEvent) -> bool:
        try:
            return self.writer.write_input(event)
        except EngageError:  # consent withdrawn a moment ago: refuse, never stop the listener
            return False

    def withdraw_consent(self, stream: str, *, text: str = "withdrawn by the participant",
                         ) -> None:
        """Stop storing one stream from now on and record the withdrawal in the session."""
        self.writer.update_consent(stream, False, text=text)
        self.input.set_consent(stream, False)

    def submit_marker(self, kind: str, payload: dict[str, Any]) -> bool:
        """Stamp a validated marker now and offer it to the store (any thread).

        Stamping and offering happen under one lock so markers reach the store in time order.
        """
        if self._paused and kind not in ("pause", "resume"):
            raise MarkerError("recording is paused; markers are not kept until it resumes")
        with self._marker_lock:
            return self.writer.write_marker(Marker(self.clock.now_ns(), kind, payload))

    def _on_face(self, face: FaceFrame) -> None:
        if not self.writer.consented("camera"):
            return
        self.writer.write_face(face)
        for outlet in self._lsl:
            push = getattr(outlet, "push_face", None)
            if push is not None:
                push(face)

    # -- threads ----------------------------------------------------------------------------

    def _capture_loop(self) -> None:
        source = self._source
        assert source is not None
        attempt = 0
        while not self._stop.is_set():
            try:
                frame = source.read()
            except Exception as error:  # any failing source: keep the rest recording
                self._source_failed(error)
                delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                attempt += 1
                if self._stop.wait(delay):
                    return
                self._reopen(source)
                continue
            if frame is None:
                if self._stop.is_set():
                    return
                self._frames["ended"] = 1
                log.info("frame source ended after %d frames", self._frames["read"])
                return
            attempt = 0
            if self._gap_start_ns is not None:
                self._write_gap(frame.t_ns, self._gap_reason)
            self._frames["read"] += 1
            if self._paused:
                self._frames["paused"] += 1
                continue
            if self._video is not None:
                self._video.offer(frame)
            self._pipeline.submit(frame)

    def _source_failed(self, error: BaseException) -> None:
        self._frames["source_errors"] += 1
        if self._gap_start_ns is None:
            self._gap_start_ns = self.clock.now_ns()
            self._gap_reason = f"frame source failed: {error}"
            self._source_problem = str(error)
            log.warning("camera stopped delivering (%s); input keeps recording, retrying",
                        error)

    def _reopen(self, source: FrameSource) -> None:
        try:
            source.close()
        except Exception as error:  # closing a broken device may fail too; reopen anyway
            log.debug("closing the failed source: %s", error)
        try:
            source.open()
        except Exception as error:  # still broken: the next read raises and we back off
            log.debug("reopening the source failed: %s", error)

    def _write_gap(self, end_ns: int, reason: str) -> None:
        start = self._gap_start_ns
        if start is None:
            return
        self._gap_start_ns = None
        self._source_problem = None
        self.writer.add_gap("face", start, end_ns, reason)
        self._gaps_written += 1
        log.info("camera gap of %.2f s recorded", (end_ns - start) / 1e9)

    def source_gap(self, start_ns: int, end_ns: int | None, reason: str) -> None:
        """``on_gap`` callback for sources that report their own closed gaps."""
        if end_ns is not None:
            self.writer.add_gap("face", start_ns, end_ns, reason)
            self._gaps_written += 1

    def _housekeeping_loop(self) -> None:
        while not self._stop.wait(HOUSEKEEPING_INTERVAL_S):
            self.input.flush_pending()

    def _start_lsl(self) -> None:
        if not (self.options.lsl_markers or self.options.lsl_features):
            return
        from sensing import lsl

        if self.options.lsl_markers and self.writer.consented("markers"):
            self._lsl.append(lsl.LslMarkerInlet(self.options.lsl_markers, self.markers,
                                                clock=self.clock).start())
        if self.options.lsl_features and self._source is not None:
            self._lsl.append(lsl.LslFeatureOutlet(self.writer.session_id, clock=self.clock))

    # -- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A snapshot for displays: per-stream counts, rates since the last call, drops."""
        now_s = time.monotonic()
        store = self.writer.stats()
        received = {stream: store[stream]["received"] for stream in ("face", "input", "markers")}
        if self._last_rates is not None:
            then_s, before = self._last_rates
            span = max(now_s - then_s, 1e-3)
            if span >= 0.2:
                self._rates = {stream: (received[stream] - before[stream]) / span
                               for stream in received}
                self._last_rates = (now_s, received)
        else:
            self._last_rates = (now_s, received)
        endpoint = (None if self.endpoint is None or not self.endpoint.running
                    else "{}:{}".format(*self.endpoint.address))
        source_stats = self._source.stats.to_dict() if self._source is not None else {}
        pipeline = self._pipeline.stats.to_dict() if self._pipeline is not None else {}
        return {
            "session_id": self.writer.session_id,
            "t_s": self.clock.now_ns() / 1e9,
            "paused": self._paused,
            "streams": {stream: {**store[stream], "rate_hz": round(self._rates.get(stream, 0.0),
                                                                   1)}
                        for stream in ("face", "input", "markers")},
            "queue_depth": store["queue_depth"],
            "frames": {**self._frames, "source": source_stats, "pipeline": pipeline,
                       "gaps": self._gaps_written, "problem": self._source_problem},
            "input": {"streams": self.input.streams, "counts": self.input.counts,
                      "raw_moves": self.input.raw_moves,
                      "unavailable": self.input.unavailable_reason},
            "markers": {**self.markers.stats(),
                        "endpoint": endpoint},
            "video": (None if self._video is None else
                      {"path": str(self._video.path), "written": self._video.written,
                       "dropped": self._video.dropped}),
        }
