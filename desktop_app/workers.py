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
import queue
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from sensing.errors import EngageError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Any], None]


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
            signals.failed.emit(describe_error(error))
        else:
            signals.finished.emit(result)


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
    """Body of the child process: run, send progress, then one final result or error."""
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
