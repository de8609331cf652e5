"""Replay: a session's rows from every stream, merged in time order, paced or as fast as read.

The GUI replay and an LSL re-broadcast are built on :func:`replay`. Each stream is read in
batches through :meth:`sensing.session.Session.iter_rows` (never all at once) and the streams
are merged by ``t_ns`` with a heap, so memory stays bounded by the batch size times the
number of streams. Rows with equal ``t_ns`` come in the order face, input, markers,
calibration.

Pacing: with ``speed`` a positive factor, row ``t_ns`` is yielded no earlier than
``(t_ns - first_t_ns) / speed`` after the replay started (``speed=2`` plays twice as fast);
with ``speed=None`` rows come as fast as they are read. A consumer slower than real time
is not caught up by skipping: every row is yielded, late.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sensing.errors import EngageError
from sensing.records import STORE_STREAMS
from sensing.session import Session


@dataclass(frozen=True)
class ReplayRow:
    """One stored row: its stream and record (FaceFrame, InputEvent, Marker, ...)."""

    stream: str
    t_ns: int
    record: Any


def _rows(session: Session, stream: str, batch_size: int) -> Iterator[tuple[int, int, Any]]:
    order = STORE_STREAMS.index(stream)
    for batch in session.iter_rows(stream, batch_size):
        for record in batch:
            yield (int(record.t_ns), order, record)


def replay(
    session: Session,
    *,
    speed: float | None = 1.0,
    streams: Iterable[str] | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    stop: threading.Event | None = None,
    batch_size: int = 1000,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] | None = None,
) -> Iterator[ReplayRow]:
    """Yield the rows of ``streams`` (default all) with ``start_s <= t < end_s``.

    ``stop`` ends the replay early (also while waiting for a row's time). ``monotonic`` and
    ``sleep`` are the time base for pacing (defaults: the real clock; with ``stop`` given,
    waits use ``stop.wait`` so a stop is immediate).
    """
    chosen = tuple(streams) if streams is not None else STORE_STREAMS
    unknown = sorted(set(chosen) - set(STORE_STREAMS))
    if unknown:
        raise EngageError(f"unknown stream(s) {', '.join(unknown)}; streams are "
                          f"{', '.join(STORE_STREAMS)}")
    if speed is not None and not speed > 0:
        raise EngageError(f"replay speed must be a positive factor, not {speed}")
    if sleep is None:
        sleep = stop.wait if stop is not None else time.sleep

    start_ns = int(start_s * 1e9)
    end_ns = None if end_s is None else int(end_s * 1e9)
    merged = heapq.merge(*(_rows(session, stream, batch_size) for stream in chosen),
                         key=lambda item: (item[0], item[1]))
    first_t_ns: int | None = None
    started = 0.0
    for t_ns, order, record in merged:
        if t_ns < start_ns:
            continue
        if end_ns is not None and t_ns >= end_ns:
            return
        if stop is not None and stop.is_set():
            return
        if speed is not None:
            if first_t_ns is None:
                first_t_ns, started = t_ns, monotonic()
            due = started + (t_ns - first_t_ns) / 1e9 / speed
            wait = due - monotonic()
            if wait > 0:
                sleep(wait)
                if stop is not None and stop.is_set():
                    return
        yield ReplayRow(STORE_STREAMS[order], t_ns, record)
