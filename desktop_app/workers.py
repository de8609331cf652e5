"""Background work for the desktop app: the GUI thread never waits on capture, disk or training.

Two kinds of worker, both reporting through Qt signals that are delivered on the GUI thread
(queued connections across threads):

* :class:`BackgroundTask` runs a function on Qt's global thread pool. It suits work that
  spends its time in I/O or in C code that releases the GIL (reading a session, fusing,
  exporting, verifying).
* :class:`ProcessTask` runs a module-level function in a separate, spawned process and
  relays its progress from a queue. Training runs there so that a long stretch of Python in
  the learner can never hold the GIL against the event loop.

Errors become one readable message: an :class:`~sensing.errors.EngageError` shows as its
own text (it already says what to do); anything else is logged with its traceback and shown
as its type and message.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from sensing.errors import EngageError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Any], None]
BACKGROUND_NICENESS = 10


def describe_error(error: BaseException) -> str:
    """The message a person sees for a failed task."""
    if isinstance(error, EngageError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class TaskSignals(QObject):
    """What a task reports: progress items, its result, or a readable error."""

    progress = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)


# Tasks in flight, kept alive until they report, so their signal objects are not collected.
_LIVE: set[TaskSignals] = set()


class BackgroundTask(QRunnable):
    """Run ``function(*args, **kwargs)`` on the thread pool and report through signals.

    With ``with_progress`` the function receives a ``progress`` keyword: a callable that
    may be called from the worker thread with any object to show.
    """

    def __init__(self, function: Callable[..., Any], *args: Any, with_progress: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.with_progress = with_progress
        self.signals = TaskSignals()
        self.setAutoDelete(True)

    def run(self) -> None:
        signals = self.signals
        try:
            if self.with_progress:
                self.kwargs["progress"] = signals.progress.emit
            result = self.function(*self.args, **self.kwargs)
        except Exception as error:  # noqa: BLE001 - every failure must reach the window
            if not isinstance(error, EngageError):
                log.error("background task %s failed\n%s", getattr(self.function, "__name__",
                                                                   self.function),
                          traceback.format_exc())
            message = describe_error(error)
            self._deliver(signals.failed, message)
        else:
            self._deliver(signals.finished, result)

    @staticmethod
    def _deliver(signal: Any, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the window closed while the task ran: nobody to tell
            log.debug("task result dropped: its receiver is gone")


def run_in_background(function: Callable[..., Any], *args: Any,
                      on_done: Callable[[Any], None] | None = None,
                      on_error: Callable[[str], None] | None = None,
                      on_progress: Callable[[Any], None] | None = None,
                      **kwargs: Any) -> TaskSignals:
    """Start ``function`` on the global thread pool; callbacks run on the GUI thread."""
    task = BackgroundTask(function, *args, with_progress=on_progress is not None, **kwargs)
    signals = task.signals
    _LIVE.add(signals)
    if on_progress is not None:
        signals.progress.connect(on_progress)
    if on_done is not None:
        signals.finished.connect(on_done)
    if on_error is not None:
        signals.failed.connect(on_error)
    signals.finished.connect(lambda _result: _LIVE.discard(signals))
    signals.failed.connect(lambda _message: _LIVE.discard(signals))
    QThreadPool.globalInstance().start(task)
    return signals


def _process_entry(function: Callable[..., Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any], channel: Any) -> None:
    """Body of the child process: run, send progress, then one final result or error.

    The child lowers its own scheduling priority: on a laptop with two cores, background
    learning must yield the CPU to the window the participant or researcher is using.
    """
    try:
        os.nice(BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # no nice on this platform: run at normal priority
        log.debug("could not lower the worker's priority")
    try:
        result = function(*args, progress=lambda item: channel.put(("progress", item)),
                          **kwargs)
    except Exception as error:  # noqa: BLE001 - reported to the parent as text
        channel.put(("error", describe_error(error), traceback.format_exc()))
    else:
        channel.put(("done", result))


class ProcessTask(QObject):
    """Run a picklable module-level ``function(*args, progress=..., **kwargs)`` in a process.

    A thread-pool task waits on the process's queue and re-emits what arrives, so the GUI
    thread only ever handles signals. ``cancel`` terminates the process.
    """

    progress = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, function: Callable[..., Any], *args: Any,
                 parent: QObject | None = None, **kwargs: Any) -> None:
        super().__init__(parent)
        context = multiprocessing.get_context("spawn")
        self._channel = context.Queue()
        self._process = context.Process(
            target=_process_entry, args=(function, args, kwargs, self._channel), daemon=True,
        )
        self._cancelled = False
        self.running = False

    def start(self) -> None:
        self._process.start()
        self.running = True
        run_in_background(self._relay, on_error=self._relay_failed)

    def cancel(self) -> None:
        """Stop the process; the task reports that it was cancelled."""
        self._cancelled = True
        if self._process.is_alive():
            self._process.terminate()

    def _relay(self) -> None:
        while True:
            try:
                message = self._channel.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    self._process.join()
                    self.running = False
                    reason = ("cancelled" if self._cancelled else
                              f"the worker process ended unexpectedly (exit code "
                              f"{self._process.exitcode})")
                    self.failed.emit(reason)
                    return
                continue
            if message[0] == "progress":
                self.progress.emit(message[1])
                continue
            self._process.join(timeout=5)
            self.running = False
            if message[0] == "done":
                self.finished.emit(message[1])
            else:
                log.error("worker process failed\n%s", message[2])
                self.failed.emit(message[1])
            return

    def _relay_failed(self, message: str) -> None:
        self.running = False
        self.failed.emit(message)


class RecordingController(QObject):
    """Runs one :class:`LiveRecording` for the window, off the GUI thread.

    Starting (opening the camera, loading the face model) and stopping (draining queues,
    closing the file) run on the thread pool. While recording, a timer asks for the
    recorder's status snapshot on the pool and emits it; preview frames and face features
    arrive from the recorder's pipeline thread and are re-emitted as signals, thinned to
    ``preview_fps``, so the GUI thread only paints.
    """

    started = pyqtSignal(dict)      # {"session_id", "path", ...}
    status = pyqtSignal(dict)       # the recorder's status snapshot
    preview = pyqtSignal(object, object)   # BGR image [H, W, 3] uint8 (downscaled), FaceFrame
    face = pyqtSignal(object)       # every FaceFrame, for calibration
    stopped = pyqtSignal(dict)      # {"session_id", "path", "status", "summary"}
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, *, preview_fps: float = 15.0,
                 preview_width: int = 480, status_interval_ms: int = 500) -> None:
        super().__init__(parent)
        from PyQt6.QtCore import QTimer

        self.recorder: Any = None
        self.session_id = ""
        self.path = ""
        self.paused = False
        self.stopping = False
        self.preview_width = preview_width
        self._preview_period_ns = int(1e9 / preview_fps)
        self._last_preview_ns = 0
        self._status_busy = False
        self._timer = QTimer(self, interval=status_interval_ms)
        self._timer.timeout.connect(self._poll_status)

    @property
    def recording(self) -> bool:
        return self.recorder is not None and not self.stopping

    def start(self, **options: Any) -> None:
        """Create and start a recorder with ``options`` (see :func:`build_recorder`)."""
        if self.recorder is not None:
            self.failed.emit("a recording is already running; stop it first")
            return
        self.stopping = False
        run_in_background(self._start_recorder, options, on_done=self._on_started,
                          on_error=self.failed.emit)

    def _start_recorder(self, options: dict[str, Any]) -> Any:
        recording = LiveRecording(on_result=self._on_result, **options)
        recording.start()
        return recording

    def _on_started(self, recorder: Any) -> None:
        self.recorder = recorder
        self.session_id = str(recorder.session_id)
        self.path = str(recorder.path)
        self.paused = False
        self._timer.start()
        self.started.emit({"session_id": self.session_id, "path": self.path})

    def _on_result(self, frame: Any, face: Any) -> None:
        """Pipeline thread: hand every face on, and a small preview image now and then."""
        self.face.emit(face)
        if frame is None or frame.t_ns - self._last_preview_ns < self._preview_period_ns:
            return
        self._last_preview_ns = frame.t_ns
        import cv2

        image = frame.image
        height, width = image.shape[:2]
        if width > self.preview_width:
            scale = self.preview_width / width
            image = cv2.resize(image, (self.preview_width, max(1, int(height * scale))),
                               interpolation=cv2.INTER_AREA)
        self.preview.emit(image, face)

    def post_marker(self, kind: str, payload: dict[str, Any]) -> str | None:
        """Store a marker now (stamped on the session clock); None or the refusal reason."""
        if not self.recording:
            return "not recording"
        return self.recorder.post_marker(kind, payload)

    def write_calibration(self, records: list[Any]) -> None:
        if self.recording:
            run_in_background(self.recorder.write_calibration, records,
                              on_error=self.failed.emit)

    def set_paused(self, paused: bool, *, source: str = "gui") -> None:
        if not self.recording or paused == self.paused:
            return
        # Pause and resume only set flags and queue a marker: safe on the GUI thread.
        if paused:
            self.recorder.pause(source=source)
        else:
            self.recorder.resume(source=source)
        self.paused = paused

    def withdraw_consent(self) -> None:
        """Withdraw every stream: nothing more is captured, then the recording stops."""
        if not self.recording:
            return
        self.recorder.withdraw()
        self.stop(status="withdrawn")

    def stop(self, *, status: str = "complete") -> None:
        if self.recorder is None or self.stopping:
            return
        self.stopping = True
        self._timer.stop()
        recorder = self.recorder
        run_in_background(self._stop_recorder, recorder, status,
                          on_done=self._on_stopped, on_error=self._on_stop_failed)

    @staticmethod
    def _stop_recorder(recorder: Any, status: str) -> dict[str, Any]:
        summary = recorder.stop(status)
        return {"session_id": str(recorder.session_id), "path": str(recorder.path),
                "status": status, "summary": summary}

    def _on_stopped(self, result: dict[str, Any]) -> None:
        self.recorder = None
        self.stopping = False
        self.stopped.emit(result)

    def _on_stop_failed(self, message: str) -> None:
        self.recorder = None
        self.stopping = False
        self.failed.emit(message)

    def _poll_status(self) -> None:
        if self._status_busy or not self.recording:
            return
        self._status_busy = True
        run_in_background(self.recorder.status, on_done=self._on_status,
                          on_error=self._on_status_error)

    def _on_status(self, snapshot: dict[str, Any]) -> None:
        self._status_busy = False
        self.status.emit(snapshot)

    def _on_status_error(self, message: str) -> None:
        self._status_busy = False
        log.warning("recorder status failed: %s", message)


class LiveRecording:
    """One recording as the app runs it: a session writer, a frame source, the face
    pipeline and :class:`sensing.recorder.Recorder`, assembled from the libraries.

    ``video`` stands in for the camera (looped, paced in real time); otherwise ``camera`` is
    the device index. Only consented streams are built: without camera consent no source is
    opened and no face model is loaded.
    """

    def __init__(self, *, data_dir: Any, participant: str, consent: dict[str, bool],
                 consent_text: str = "", camera: int | None = 0, video: str | None = None,
                 face_model: str | None = None, keep_video: bool = False,
                 landmarks: bool = False,
                 on_result: Callable[[Any, Any], None] | None = None) -> None:
        self.options = {"data_dir": data_dir, "participant": participant, "consent": consent,
                        "consent_text": consent_text, "camera": camera, "video": video,
                        "face_model": face_model, "keep_video": keep_video,
                        "landmarks": landmarks}
        self.on_result = on_result
        self.writer: Any = None
        self.recorder: Any = None
        self.mapping: Any = None

    @property
    def session_id(self) -> str:
        return str(self.writer.session_id)

    @property
    def path(self) -> str:
        return str(self.writer.path)

    @property
    def clock(self) -> Any:
        return self.writer.clock

    def start(self) -> None:
        from sensing.face import FaceAnalyzer, FacePipeline
        from sensing.frames import CameraSource, VideoFileSource
        from sensing.models import resolve_face_model
        from sensing.recorder import Recorder, RecorderOptions
        from sensing.session import SessionWriter

        options = self.options
        consent = options["consent"]
        model = resolve_face_model(options["face_model"]) if consent.get("camera") else None
        writer = SessionWriter.create(options["data_dir"], participant=options["participant"],
                                      consent=consent, consent_text=options["consent_text"],
                                      host={"client": "engage app"})
        source = None
        try:
            if consent.get("camera"):
                if options["video"]:
                    source = VideoFileSource(options["video"], clock=writer.clock,
                                             realtime=True, loop=True)
                else:
                    source = CameraSource(int(options["camera"] or 0), clock=writer.clock)

            def make_pipeline(on_face: Callable[[Any], None]) -> Any:
                analyzer = FaceAnalyzer(model, keep_landmarks=bool(options["landmarks"]))
                return FacePipeline(analyzer, on_face, queue_size=2, drop_when_behind=True,
                                    on_result=self._on_result)

            recorder = Recorder(writer, frame_source=source, make_face_pipeline=make_pipeline,
                                options=RecorderOptions(keep_video=bool(options["keep_video"]),
                                                        landmarks=bool(options["landmarks"])))
            if source is not None and hasattr(source, "on_gap"):
                source.on_gap = recorder.source_gap
            recorder.start()
        except BaseException:
            writer.close(status="failed to start")
            raise
        self.writer, self.recorder = writer, recorder

    def _on_result(self, frame: Any, face: Any) -> None:
        if self.mapping is not None:
            face = self.mapping.apply_to_frame(face)
        if self.on_result is not None:
            self.on_result(frame, face)

    def status(self) -> dict[str, Any]:
        return self.recorder.status()

    def post_marker(self, kind: str, payload: dict[str, Any]) -> str | None:
        """Validate and store a marker; None when stored, else why not."""
        return self.recorder.markers.offer(kind, payload)

    def pause(self, *, source: str = "gui") -> None:
        self.recorder.pause(source)

    def resume(self, *, source: str = "gui") -> None:
        self.recorder.resume(source)

    def write_calibration(self, records: list[Any]) -> None:
        """Store an accepted calibration; the preview then shows calibrated gaze."""
        from sensing.calibration import latest_mapping

        for record in records:
            self.writer.write_calibration(record)
        self.mapping = latest_mapping(records)

    def withdraw(self) -> None:
        """Record the withdrawal of every stream; nothing more is stored after this."""
        self.recorder.pause("withdrawal")
        for stream, granted in self.options["consent"].items():
            if granted:
                self.writer.update_consent(stream, False, text="withdrawn by the participant")

    def stop(self, status: str = "complete") -> dict[str, Any]:
        try:
            final = self.recorder.stop()
        finally:
            self.writer.close(status=status)
        return final
