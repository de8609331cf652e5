"""The session store: one SQLite file per recorded session, the format every later stage reads.

Design, after the recording tools researchers trust (LSL, Pupil Capture):

- Every row carries ``t_ns`` from one monotonic session clock; the wall clock is stored once,
  as an anchor pair, in the metadata.
- Writes go through one writer thread that drains an in-memory buffer and commits a batch
  about every 100 ms in WAL mode, so a process killed with SIGKILL leaves a file that opens
  and holds everything committed up to the last batch. Producers never block: when the
  buffer is full an item is dropped and counted, never silently lost.
- Readers open the file read-only and can read while a session is being written.
- A file is recognised by its SQLite ``application_id`` and schema ``user_version``; a
  foreign, newer or damaged file raises a specific error and is never modified.

Tables (schema version 1): ``meta`` (key to JSON value), ``consent`` (per stream, with time
and the text shown), ``face``, ``input``, ``markers``, ``calibration``, ``gaps`` (spans in
which a stream delivered nothing, with the reason) and ``fused_runs``/``fused_states``
(room for fused states kept with the session).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sensing import __version__
from sensing.clock import ClockAnchor, SessionClock
from sensing.datadir import (
    FILE_MODE,
    ensure_private_dir,
    resolve_data_dir,
    sessions_dir,
)
from sensing.errors import (
    ConsentError,
    CorruptSessionError,
    FutureSchemaError,
    NotASessionError,
    SessionError,
    SessionNotFoundError,
)
from sensing.records import (
    CONSENT_STREAMS,
    N_BLENDSHAPES,
    N_LANDMARKS,
    STORE_STREAMS,
    CalibrationRecord,
    FaceFrame,
    InputEvent,
    Marker,
    consent_stream_for_input,
)

log = logging.getLogger(__name__)

SUFFIX = ".sqlite"
APPLICATION_ID = 0x456E6761  # "Enga"
SCHEMA_VERSION = 1
COMMIT_INTERVAL_S = 0.1
DEFAULT_BUFFER_LIMIT = 200_000
_SQLITE_HEADER = b"SQLite format 3\x00"

FACE_COLUMNS: tuple[str, ...] = (
    "t_ns", "face_count", "present", "confidence", "blendshapes", "yaw_deg", "pitch_deg",
    "roll_deg", "tx_mm", "ty_mm", "tz_mm", "iris_lx", "iris_ly", "iris_rx", "iris_ry",
    "open_l", "open_r", "distance_mm", "gaze_x_px", "gaze_y_px", "on_screen",
    "gaze_calibrated", "landmarks",
)
INPUT_COLUMNS: tuple[str, ...] = ("t_ns", "kind", "key_class", "x_px", "y_px", "dx", "dy")

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE consent (
    t_ns INTEGER NOT NULL, stream TEXT NOT NULL, granted INTEGER NOT NULL, text TEXT);
CREATE TABLE face (
    t_ns INTEGER NOT NULL, face_count INTEGER NOT NULL, present INTEGER NOT NULL,
    confidence REAL, blendshapes BLOB, yaw_deg REAL, pitch_deg REAL, roll_deg REAL,
    tx_mm REAL, ty_mm REAL, tz_mm REAL, iris_lx REAL, iris_ly REAL, iris_rx REAL, iris_ry REAL,
    open_l REAL, open_r REAL, distance_mm REAL, gaze_x_px REAL, gaze_y_px REAL,
    on_screen INTEGER, gaze_calibrated INTEGER NOT NULL, landmarks BLOB);
CREATE TABLE input (
    t_ns INTEGER NOT NULL, kind TEXT NOT NULL, key_class TEXT,
    x_px REAL, y_px REAL, dx REAL, dy REAL);
CREATE TABLE markers (t_ns INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE calibration (
    t_ns INTEGER NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE gaps (
    stream TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER, reason TEXT NOT NULL);
CREATE TABLE fused_runs (
    id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, settings TEXT NOT NULL,
    schema TEXT NOT NULL);
CREATE TABLE fused_states (
    run_id INTEGER NOT NULL REFERENCES fused_runs(id), step INTEGER NOT NULL,
    t_ns INTEGER NOT NULL, state BLOB NOT NULL, valid BLOB NOT NULL, action INTEGER NOT NULL,
    episode INTEGER NOT NULL);
"""

# Migrations from version v to v + 1, applied in order by :func:`migrate`. Version 1 is the
# first; later versions append a function here and bump SCHEMA_VERSION.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}

_SESSION_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")


def new_session_id(now: datetime | None = None) -> str:
    """A sortable, unguessable id: UTC start time plus 24 random bits."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _nan_to_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


# --------------------------------------------------------------------------------------------
# Writing

# Rows about the session itself; they are never dropped, whatever the buffer holds.
_CONTROL_STREAMS = ("gaps", "consent", "meta")


@dataclass
class StreamCounter:
    """What one stream offered, what reached the file, and what was dropped."""

    received: int = 0
    written: int = 0
    dropped: int = 0


class SessionWriter:
    """Writes one session file through a single background writer thread.

    Producers on any thread call ``write_*``; each call converts the record to a row and
    appends it to a buffer without blocking. The writer thread commits what has arrived about
    every ``COMMIT_INTERVAL_S``. A full buffer drops the item and counts it.
    """

    def __init__(self, path: Path, *, session_id: str, clock: SessionClock,
                 consent: dict[str, bool], buffer_limit: int = DEFAULT_BUFFER_LIMIT) -> None:
        self.path = path
        self.session_id = session_id
        self.clock = clock
        self._consent = {stream: bool(consent.get(stream, False)) for stream in CONSENT_STREAMS}
        self._buffer: collections.deque[tuple[str, tuple[Any, ...]]] = collections.deque()
        self._buffer_limit = buffer_limit
        self._counters = {stream: StreamCounter()
                          for stream in (*STORE_STREAMS, *_CONTROL_STREAMS)}
        self._counter_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drained = threading.Condition()
        self._committed_seq = 0
        self._enqueued_seq = 0
        self._error: BaseException | None = None
        self._closed = False
        self._landmarks_warned = False
        self._connection = sqlite3.connect(str(path), check_same_thread=False,
                                           isolation_level=None)
        self._thread = threading.Thread(target=self._run, name=f"session-writer-{session_id}",
                                        daemon=True)

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def create(cls, data_dir: str | os.PathLike[str] | None = None, *, participant: str,
               consent: dict[str, bool], consent_text: str = "",
               host: dict[str, Any] | None = None, camera: dict[str, Any] | None = None,
               session_id: str | None = None, clock: SessionClock | None = None,
               buffer_limit: int = DEFAULT_BUFFER_LIMIT) -> SessionWriter:
        """Create a new session file in the data folder's ``sessions`` folder and start writing.

        ``consent`` maps each of :data:`sensing.records.CONSENT_STREAMS` to whether the
        participant agreed; streams not named are not consented.
        """
        unknown = sorted(set(consent) - set(CONSENT_STREAMS))
        if unknown:
            raise ConsentError(f"unknown consent stream(s) {', '.join(unknown)}; "
                               f"choose from {', '.join(CONSENT_STREAMS)}")
        folder = ensure_private_dir(sessions_dir(ensure_private_dir(resolve_data_dir(data_dir))))
        session_id = session_id or new_session_id()
        path = folder / f"{session_id}{SUFFIX}"
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            raise SessionError(f"a session named {session_id} already exists at {path}") from None
        os.close(descriptor)
        clock = clock or SessionClock()
        writer = cls(path, session_id=session_id, clock=clock, consent=consent,
                     buffer_limit=buffer_limit)
        writer._initialise(participant=participant, consent_text=consent_text,
                           host=host or {}, camera=camera or {})
        writer._thread.start()
        log.info("session %s started at %s", session_id, path)
        return writer

    def _initialise(self, *, participant: str, consent_text: str, host: dict[str, Any],
                    camera: dict[str, Any]) -> None:
        connection = self._connection
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA application_id={APPLICATION_ID}")
        connection.execute("BEGIN")
        for statement in _SCHEMA_V1.split(";"):
            if statement.strip():
                connection.execute(statement)
        started = datetime.fromtimestamp(self.clock.anchor.wall_ns / 1e9, UTC)
        meta = {
            "format": "engage-session",
            "session_id": self.session_id,
            "participant": participant,
            "app_version": __version__,
            "started_at": started.isoformat(),
            "clock_anchor": self.clock.anchor.to_dict(),
            "host": host,
            "camera": camera,
            "status": "recording",
        }
        connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?)",
                               [(key, _json(value)) for key, value in meta.items()])
        connection.executemany(
            "INSERT INTO consent(t_ns, stream, granted, text) VALUES (?, ?, ?, ?)",
            [(0, stream, int(granted), consent_text) for stream, granted in self._consent.items()],
        )
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        connection.execute("COMMIT")
        # Fold the header into the main file now, so the file is recognisable as a session
        # even if the process dies before the first checkpoint.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        os.chmod(self.path, FILE_MODE)

    # -- producers --------------------------------------------------------------------------

    def consented(self, stream: str) -> bool:
        """Whether the participant currently consents to ``stream``."""
        return self._consent.get(stream, False)

    def _require(self, consent_stream: str) -> None:
        if not self._consent.get(consent_stream, False):
            raise ConsentError(f"the participant has not consented to the {consent_stream} "
                               "stream; nothing of it may be recorded")

    def _offer(self, stream: str, row: tuple[Any, ...]) -> bool:
        counter = self._counters[stream]
        if self._closed:
            raise SessionError(f"session {self.session_id} is closed; start a new one")
        # deque.append is atomic in CPython; the counters are protected because += is not.
        if len(self._buffer) >= self._buffer_limit and stream not in _CONTROL_STREAMS:
            with self._counter_lock:
                counter.received += 1
                counter.dropped += 1
            return False
        with self._counter_lock:
            counter.received += 1
            self._enqueued_seq += 1
        self._buffer.append((stream, row))
        return True

    def write_face(self, frame: FaceFrame) -> bool:
        """Queue one face row; False when it had to be dropped."""
        self._require("camera")
        landmarks = None
        if frame.landmarks is not None:
            if self._consent["landmarks"]:
                landmarks = np.asarray(frame.landmarks, dtype=np.float32).reshape(
                    N_LANDMARKS, 3).tobytes()
            elif not self._landmarks_warned:
                self._landmarks_warned = True
                log.warning("face landmarks offered without consent to the face mesh; "
                            "they are not stored")
        blendshapes = np.asarray(frame.blendshapes, dtype=np.float32)
        if blendshapes.shape != (N_BLENDSHAPES,):
            raise ValueError(f"blendshapes must have {N_BLENDSHAPES} values, "
                             f"got {blendshapes.shape}")
        tx, ty, tz = frame.translation_mm
        lx, ly, rx, ry = frame.eye_features_norm
        open_l, open_r = frame.eye_openness
        gx, gy = frame.gaze_px
        row = (
            int(frame.t_ns), int(frame.face_count), int(bool(frame.present)),
            _nan_to_none(frame.confidence), blendshapes.tobytes(),
            _nan_to_none(frame.yaw_deg), _nan_to_none(frame.pitch_deg),
            _nan_to_none(frame.roll_deg), _nan_to_none(tx), _nan_to_none(ty), _nan_to_none(tz),
            _nan_to_none(lx), _nan_to_none(ly), _nan_to_none(rx), _nan_to_none(ry),
            _nan_to_none(open_l), _nan_to_none(open_r), _nan_to_none(frame.distance_mm),
            _nan_to_none(gx), _nan_to_none(gy),
            None if frame.on_screen is None else int(bool(frame.on_screen)),
            int(bool(frame.gaze_calibrated)), landmarks,
        )
        return self._offer("face", row)

    def write_input(self, event: InputEvent) -> bool:
        """Queue one input event; False when it had to be dropped."""
        self._require(consent_stream_for_input(event.kind))
        row = (int(event.t_ns), event.kind, event.key_class, _nan_to_none(event.x_px),
               _nan_to_none(event.y_px), _nan_to_none(event.dx), _nan_to_none(event.dy))
        return self._offer("input", row)

    def write_marker(self, marker: Marker) -> bool:
        """Queue one marker; pause/resume markers are kept even without marker consent."""
        if marker.kind not in ("pause", "resume"):
            self._require("markers")
        return self._offer("markers", (int(marker.t_ns), marker.kind, _json(marker.payload)))

    def write_calibration(self, record: CalibrationRecord) -> bool:
        self._require("camera")
        return self._offer("calibration", (int(record.t_ns), record.kind, _json(record.model),
                                           _json(record.report)))

    def add_gap(self, stream: str, start_ns: int, end_ns: int | None, reason: str) -> bool:
        """Record that ``stream`` delivered nothing from ``start_ns`` to ``end_ns``."""
        return self._offer("gaps", (stream, int(start_ns),
                                    None if end_ns is None else int(end_ns), reason))

    def update_consent(self, stream: str, granted: bool, *, text: str = "") -> None:
        """Change consent mid-session (withdrawal); later rows of the stream are refused."""
        if stream not in CONSENT_STREAMS:
            raise ConsentError(f"unknown consent stream {stream!r}")
        self._consent[stream] = bool(granted)
        self._offer("consent", (self.clock.now_ns(), stream, int(bool(granted)), text))

    def set_meta(self, key: str, value: Any) -> None:
        """Store or replace one metadata value (JSON-serialisable)."""
        self._offer("meta", (key, _json(value)))

    # -- state ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters per stream and the buffer depth, for status displays and summaries."""
        with self._counter_lock:
            snapshot: dict[str, Any] = {
                stream: {"received": c.received, "written": c.written, "dropped": c.dropped}
                for stream, c in self._counters.items() if stream in STORE_STREAMS
            }
        snapshot["queue_depth"] = len(self._buffer)
        return snapshot

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything offered so far is committed."""
        with self._counter_lock:
            target = self._enqueued_seq
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._drained:
            while self._committed_seq < target and self._error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SessionError(f"session {self.session_id}: writer did not catch up "
                                       f"within {timeout} s")
                self._drained.wait(remaining)
        if self._error is not None:
            raise SessionError(f"session {self.session_id}: writing failed: {self._error}")

    def close(self, status: str = "complete") -> None:
        """Commit everything, record the end, and leave a self-contained file."""
        if self._closed:
            return
        self.set_meta("ended_at", datetime.now(UTC).isoformat())
        self.set_meta("duration_s", self.clock.now_ns() / 1e9)
        self.set_meta("status", status)
        try:
            # Rows still queued would be missing from the counts below, which then disagreed
            # with the rows in the file.
            self.flush(timeout=30.0)
        except SessionError as problem:
            log.warning("session %s: counts stored before the queue drained: %s",
                        self.session_id, problem)
        self.set_meta("stream_counts", {k: v for k, v in self.stats().items()
                                        if k != "queue_depth"})
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join()
        try:
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._connection.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as error:
            log.warning("session %s: could not fold the write-ahead log: %s",
                        self.session_id, error)
        self._connection.close()
        if self._error is not None:
            raise SessionError(f"session {self.session_id}: writing failed: {self._error}")
        log.info("session %s closed (%s)", self.session_id, status)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close("complete" if exc_type is None else "aborted")

    # -- writer thread ----------------------------------------------------------------------

    _INSERTS = {
        "face": f"INSERT INTO face VALUES ({', '.join('?' * len(FACE_COLUMNS))})",
        "input": f"INSERT INTO input VALUES ({', '.join('?' * len(INPUT_COLUMNS))})",
        "markers": "INSERT INTO markers VALUES (?, ?, ?)",
        "calibration": "INSERT INTO calibration VALUES (?, ?, ?, ?)",
        "gaps": "INSERT INTO gaps VALUES (?, ?, ?, ?)",
        "consent": "INSERT INTO consent VALUES (?, ?, ?, ?)",
        "meta": "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
    }

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            self._wake.wait(COMMIT_INTERVAL_S)
            self._wake.clear()
            try:
                self._commit_batch()
            except sqlite3.Error as error:  # disk full, file removed: report, stop writing
                log.error("session %s: write failed: %s", self.session_id, error)
                self._error = error
                with self._drained:
                    self._drained.notify_all()
                return
            if stopping and not self._buffer:
                return

    def _commit_batch(self) -> None:
        taken: dict[str, list[tuple[Any, ...]]] = collections.defaultdict(list)
        count = 0
        buffer = self._buffer
        while buffer:
            stream, row = buffer.popleft()
            taken[stream].append(row)
            count += 1
        if count:
            connection = self._connection
            connection.execute("BEGIN")
            for stream, rows in taken.items():
                if stream in STORE_STREAMS:
                    # Rows from several producer threads can interleave by a few microseconds;
                    # sort within the batch so every stream is stored in time order.
                    rows.sort(key=lambda row: row[0])
                connection.executemany(self._INSERTS[stream], rows)
            connection.execute("COMMIT")
            with self._counter_lock:
                for stream, rows in taken.items():
                    if stream in self._counters:
                        self._counters[stream].written += len(rows)
        with self._drained:
            self._committed_seq += count
            self._drained.notify_all()


# --------------------------------------------------------------------------------------------
# Reading


def list_sessions(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Session files in the data folder, oldest first (ids sort by start time)."""
    folder = sessions_dir(resolve_data_dir(data_dir))
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(f"*{SUFFIX}") if path.is_file())


def resolve_session(id_or_path: str | os.PathLike[str],
                    data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The session file meant by a path or a session id (or a unique id prefix)."""
    text = str(id_or_path)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate
    if candidate.is_dir():
        raise NotASessionError(f"{candidate} is a folder, not a session file")
    folder = sessions_dir(resolve_data_dir(data_dir))
    direct = folder / f"{text}{SUFFIX}"
    if direct.is_file():
        return direct
    if os.sep not in text and not text.endswith(SUFFIX) and text:
        matches = [path for path in list_sessions(data_dir) if path.stem.startswith(text)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise SessionNotFoundError(f"{text!r} matches {len(matches)} sessions; "
                                       "give more of the id")
    raise SessionNotFoundError(f"no session {text!r}: not a file, and no such id in {folder} "
                               "(see `engage sessions list`)")


def open_session(id_or_path: str | os.PathLike[str],
                 data_dir: str | os.PathLike[str] | None = None) -> Session:
    """Open a session read-only by id or path."""
    return Session.open(resolve_session(id_or_path, data_dir))


def migrate(path: Path) -> int:
    """Bring an older session file up to :data:`SCHEMA_VERSION`; returns the new version.

    This is the only function that changes an existing file's schema, and only when asked.
    """
    with Session.open(path) as session:
        version = session.schema_version
    connection = sqlite3.connect(str(path), isolation_level=None)
    try:
        while version < SCHEMA_VERSION:
            connection.execute("BEGIN")
            MIGRATIONS[version](connection)
            version += 1
            connection.execute(f"PRAGMA user_version={version}")
            connection.execute("COMMIT")
    finally:
        connection.close()
    return version


class Session:
    """A session file opened read-only; arrays come back column-wise for fast fusion."""

    def __init__(self, path: Path, connection: sqlite3.Connection, schema_version: int) -> None:
        self.path = path
        self._connection = connection
        self.schema_version = schema_version
        self.meta: dict[str, Any] = {
            key: json.loads(value)
            for key, value in connection.execute("SELECT key, value FROM meta")
        }

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Session:
        """Open ``path`` read-only, refusing foreign, future-schema and damaged files."""
        path = Path(path)
        if not path.is_file():
            raise SessionNotFoundError(f"no session file at {path}")
        try:
            with path.open("rb") as handle:
                header = handle.read(100)
        except OSError as error:
            raise SessionError(f"cannot read {path}: {error.strerror}") from None
        has_wal = path.with_name(path.name + "-wal").exists()
        if not header and not has_wal:
            raise CorruptSessionError(f"{path} is empty: the session file was cut off "
                                      "before anything was written")
        if header and not header.startswith(_SQLITE_HEADER):
            raise NotASessionError(f"{path} is not an Engage session (not an SQLite file)")
        _refuse_truncated(path, header, has_wal)
        uri = f"file:{path.resolve().as_posix()}?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            application_id = connection.execute("PRAGMA application_id").fetchone()[0]
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if application_id != APPLICATION_ID:
                connection.close()
                raise NotASessionError(f"{path} is an SQLite file but not an Engage session")
            if version > SCHEMA_VERSION:
                connection.close()
                raise FutureSchemaError(
                    f"{path} has session schema v{version}, newer than this Engage's "
                    f"v{SCHEMA_VERSION}; upgrade Engage to read it")
            if version < 1:
                connection.close()
                raise CorruptSessionError(f"{path} was never fully initialised (no schema)")
            session = cls(path, connection, version)
        except sqlite3.DatabaseError as error:
            raise CorruptSessionError(f"{path} is damaged or truncated ({error}); "
                                      "`engage sessions verify` tells more") from None
        if session.meta.get("format") != "engage-session":
            session.close()
            raise NotASessionError(f"{path} lacks Engage session metadata")
        return session

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts ------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return str(self.meta.get("session_id", self.path.stem))

    @property
    def participant(self) -> str:
        return str(self.meta.get("participant", ""))

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.meta["started_at"])

    @property
    def clock_anchor(self) -> ClockAnchor:
        anchor = self.meta["clock_anchor"]
        return ClockAnchor(monotonic_ns=int(anchor["monotonic_ns"]), wall_ns=int(anchor["wall_ns"]))

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))

    @property
    def duration_s(self) -> float:
        """Recorded duration; for a session cut short, the time of its last row."""
        if "duration_s" in self.meta:
            return float(self.meta["duration_s"])
        last = [summary["last_t_s"] for summary in self.stream_summary().values()
                if summary["last_t_s"] is not None]
        return max(last, default=0.0)

    @property
    def consent(self) -> dict[str, bool]:
        """Current consent per stream (the latest record of each stream wins)."""
        granted = {stream: False for stream in CONSENT_STREAMS}
        for stream, value in self._connection.execute(
                "SELECT stream, granted FROM consent ORDER BY rowid"):
            granted[stream] = bool(value)
        return granted

    def consent_records(self) -> list[dict[str, Any]]:
        return [{"t_ns": t_ns, "stream": stream, "granted": bool(granted), "text": text}
                for t_ns, stream, granted, text in self._connection.execute(
                    "SELECT t_ns, stream, granted, text FROM consent ORDER BY rowid")]

    def row_count(self, stream: str) -> int:
        self._check_stream(stream)
        return int(self._connection.execute(f"SELECT COUNT(*) FROM {stream}").fetchone()[0])

    def stream_summary(self) -> dict[str, dict[str, Any]]:
        """Rows and first/last time in seconds for every stream."""
        summary = {}
        for stream in STORE_STREAMS:
            rows, first, last = self._connection.execute(
                f"SELECT COUNT(*), MIN(t_ns), MAX(t_ns) FROM {stream}").fetchone()
            summary[stream] = {
                "rows": int(rows),
                "first_t_s": None if first is None else first / 1e9,
                "last_t_s": None if last is None else last / 1e9,
            }
        return summary

    def summary(self) -> dict[str, Any]:
        """The object ``engage sessions show --json`` prints."""
        return {
            "id": self.id,
            "path": str(self.path.resolve()),
            "participant": self.participant,
            "started_at": self.meta.get("started_at"),
            "ended_at": self.meta.get("ended_at"),
            "status": self.status,
            "duration_s": self.duration_s,
            "consent": self.consent,
            "schema_version": self.schema_version,
            "app_version": self.meta.get("app_version"),
            "host": self.meta.get("host", {}),
            "camera": self.meta.get("camera", {}),
            "streams": self.stream_summary(),
            "gaps": len(self.gaps()),
        }

    # -- streams ----------------------------------------------------------------------------

    @staticmethod
    def _check_stream(stream: str) -> None:
        if stream not in STORE_STREAMS:
            raise SessionError(f"unknown stream {stream!r}; streams are "
                               f"{', '.join(STORE_STREAMS)}")

    def _time_order(self, table: str) -> slice | np.ndarray:
        """Row positions (in storage order) that put ``table`` in (t_ns, rowid) order.

        The writer stores rows in time order, so this is almost always the identity, found
        by one cheap pass instead of an SQL sort; otherwise a stable sort of t_ns.
        """
        t_ns = np.fromiter((t for (t,) in self._connection.execute(f"SELECT t_ns FROM {table}")),
                           dtype=np.int64)
        if t_ns.size < 2 or bool(np.all(t_ns[1:] >= t_ns[:-1])):
            return slice(None)
        return np.argsort(t_ns, kind="stable")

    def face(self, include_landmarks: bool = False) -> dict[str, np.ndarray]:
        """Face rows as columns in time order.

        Keys: ``t_ns[N]`` int64, ``face_count[N]``, ``present[N]`` bool, ``confidence[N]``,
        ``blendshapes[N, 52]`` float32, ``yaw_deg``, ``pitch_deg``, ``roll_deg``,
        ``translation_mm[N, 3]``, ``eye_features_norm[N, 4]``, ``eye_openness[N, 2]``,
        ``distance_mm``, ``gaze_px[N, 2]``, ``on_screen`` (1, 0 or NaN), ``gaze_calibrated``
        bool, and with ``include_landmarks`` ``landmarks[N, 478, 3]`` (NaN where absent).
        """
        numeric_columns = [c for c in FACE_COLUMNS if c not in ("blendshapes", "landmarks")]
        order = self._time_order("face")
        # Numbers come back as one float64 matrix (SQL NULL becomes NaN); session times are
        # exact in float64 below 2**53 ns, about 104 days.
        numeric = np.array(
            self._connection.execute(f"SELECT {', '.join(numeric_columns)} FROM face").fetchall(),
            dtype=np.float64,
        ).reshape(-1, len(numeric_columns))[order]
        count = numeric.shape[0]
        col = {name: numeric[:, i] for i, name in enumerate(numeric_columns)}
        no_face = np.full(N_BLENDSHAPES, np.nan, dtype=np.float32).tobytes()
        blend_blobs = b"".join(blob for (blob,) in self._connection.execute(
            "SELECT ifnull(blendshapes, ?) FROM face", (no_face,)))
        result: dict[str, np.ndarray] = {
            "t_ns": col["t_ns"].astype(np.int64),
            "face_count": col["face_count"].astype(np.int64),
            "present": col["present"].astype(bool),
            "confidence": col["confidence"],
            "blendshapes": np.frombuffer(blend_blobs, dtype=np.float32).reshape(
                count, N_BLENDSHAPES)[order].copy(),
            "yaw_deg": col["yaw_deg"],
            "pitch_deg": col["pitch_deg"],
            "roll_deg": col["roll_deg"],
            "translation_mm": numeric[:, [numeric_columns.index(c)
                                          for c in ("tx_mm", "ty_mm", "tz_mm")]],
            "eye_features_norm": numeric[:, [numeric_columns.index(c) for c in (
                "iris_lx", "iris_ly", "iris_rx", "iris_ry")]],
            "eye_openness": numeric[:, [numeric_columns.index(c) for c in ("open_l", "open_r")]],
            "distance_mm": col["distance_mm"],
            "gaze_px": numeric[:, [numeric_columns.index(c) for c in ("gaze_x_px", "gaze_y_px")]],
            "on_screen": col["on_screen"],
            "gaze_calibrated": np.nan_to_num(col["gaze_calibrated"]).astype(bool),
        }
        if include_landmarks:
            landmarks = np.full((count, N_LANDMARKS, 3), np.nan, dtype=np.float32)
            for i, (blob,) in enumerate(self._connection.execute("SELECT landmarks FROM face")):
                if blob is not None:
                    landmarks[i] = np.frombuffer(blob, dtype=np.float32).reshape(N_LANDMARKS, 3)
            result["landmarks"] = landmarks[order]
        return result

    def input_events(self) -> dict[str, np.ndarray]:
        """Input events as columns in time order; missing numbers are NaN, missing class ""."""
        order = self._time_order("input")
        rows = self._connection.execute(
            "SELECT t_ns, kind, key_class, x_px, y_px, dx, dy FROM input").fetchall()
        if not isinstance(order, slice):
            rows = [rows[i] for i in order]
        count = len(rows)
        if not count:
            empty = np.zeros(0, dtype=np.float64)
            return {"t_ns": np.zeros(0, np.int64), "kind": np.zeros(0, dtype="<U11"),
                    "key_class": np.zeros(0, dtype="<U11"), "x_px": empty, "y_px": empty.copy(),
                    "dx": empty.copy(), "dy": empty.copy()}
        t_ns, kind, key_class, x_px, y_px, dx, dy = zip(*rows, strict=True)

        def floats(values: tuple[Any, ...]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return {
            "t_ns": np.array(t_ns, dtype=np.int64),
            "kind": np.array(kind, dtype=str),
            "key_class": np.array(["" if k is None else k for k in key_class], dtype=str),
            "x_px": floats(x_px), "y_px": floats(y_px), "dx": floats(dx), "dy": floats(dy),
        }

    def markers(self) -> list[Marker]:
        return [Marker(t_ns=t_ns, kind=kind, payload=json.loads(payload))
                for t_ns, kind, payload in self._connection.execute(
                    "SELECT t_ns, kind, payload FROM markers ORDER BY t_ns, rowid")]

    def calibrations(self) -> list[CalibrationRecord]:
        return [CalibrationRecord(t_ns=t_ns, kind=kind, model=json.loads(model),
                                  report=json.loads(report))
                for t_ns, kind, model, report in self._connection.execute(
                    "SELECT t_ns, kind, model, report FROM calibration ORDER BY t_ns, rowid")]

    def gaps(self) -> list[dict[str, Any]]:
        return [{"stream": stream, "start_ns": start, "end_ns": end, "reason": reason}
                for stream, start, end, reason in self._connection.execute(
                    "SELECT stream, start_ns, end_ns, reason FROM gaps ORDER BY start_ns")]

    def iter_rows(self, stream: str, batch_size: int = 1000) -> Iterator[list[Any]]:
        """Records of one stream in time order, in lists of up to ``batch_size``.

        Face rows come as :class:`FaceFrame` (without landmarks), input rows as
        :class:`InputEvent`, markers as :class:`Marker`, calibrations as
        :class:`CalibrationRecord`.
        """
        self._check_stream(stream)
        if stream == "markers":
            items: list[Any] = self.markers()
            for start in range(0, len(items), batch_size):
                yield items[start:start + batch_size]
            return
        if stream == "calibration":
            items = self.calibrations()
            for start in range(0, len(items), batch_size):
                yield items[start:start + batch_size]
            return
        columns = FACE_COLUMNS[:-1] if stream == "face" else INPUT_COLUMNS
        cursor = self._connection.execute(
            f"SELECT {', '.join(columns)} FROM {stream} ORDER BY t_ns, rowid")
        while True:
            rows = cursor.fetchmany(batch_size)
            if not rows:
                return
            if stream == "face":
                yield [_face_from_row(row) for row in rows]
            else:
                yield [InputEvent(t_ns=row[0], kind=row[1], key_class=row[2], x_px=row[3],
                                  y_px=row[4], dx=row[5], dy=row[6]) for row in rows]

    # -- integrity --------------------------------------------------------------------------

    def verify(self) -> tuple[bool, str]:
        """SQLite integrity, schema, and time order of every stream; (ok, one-line verdict)."""
        problems: list[str] = []
        try:
            result = self._connection.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as error:
            return False, f"integrity check failed: {error}"
        if result != [("ok",)]:
            problems.append(f"integrity check: {result[0][0]}")
        tables = {name for (name,) in self._connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        missing = sorted({"meta", "consent", "gaps", *STORE_STREAMS} - tables)
        if missing:
            problems.append(f"missing tables: {', '.join(missing)}")
        for stream in STORE_STREAMS:
            if stream in missing:
                continue
            backwards = self._connection.execute(
                f"SELECT COUNT(*) FROM (SELECT t_ns - LAG(t_ns) OVER (ORDER BY rowid) AS step "
                f"FROM {stream}) WHERE step < 0").fetchone()[0]
            negative = self._connection.execute(
                f"SELECT COUNT(*) FROM {stream} WHERE t_ns < 0").fetchone()[0]
            if backwards:
                problems.append(f"{stream}: time goes backwards {backwards} times")
            if negative:
                problems.append(f"{stream}: {negative} rows before the session start")
        if problems:
            return False, "; ".join(problems)
        counts = ", ".join(f"{stream} {summary['rows']}"
                           for stream, summary in self.stream_summary().items())
        state = {"complete": "complete", "recording": "not closed: still recording or cut short"
                 }.get(self.status, self.status)
        return True, f"ok ({state}): {counts} rows"


def _refuse_truncated(path: Path, header: bytes, has_wal: bool) -> None:
    """Compare the file size with the page count the SQLite header promises.

    The header's page count is trustworthy when its change counter matches the
    version-valid-for field; with a write-ahead log beside the file the log may hold the rest,
    so only a file without one can be judged here.
    """
    if has_wal or len(header) < 100:
        return
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_matches = header[24:28] == header[92:96]
    expected = page_size * pages
    actual = path.stat().st_size
    if counter_matches and pages and actual < expected:
        raise CorruptSessionError(f"{path} is truncated: {actual} of {expected} bytes; "
                                  "restore it from a copy if you have one")


def _face_from_row(row: tuple[Any, ...]) -> FaceFrame:
    def number(value: Any) -> float:
        return math.nan if value is None else float(value)

    return FaceFrame(
        t_ns=row[0], face_count=row[1], present=bool(row[2]), confidence=number(row[3]),
        blendshapes=np.frombuffer(row[4], dtype=np.float32).copy() if row[4] else
        np.full(N_BLENDSHAPES, np.nan, dtype=np.float32),
        yaw_deg=number(row[5]), pitch_deg=number(row[6]), roll_deg=number(row[7]),
        translation_mm=(number(row[8]), number(row[9]), number(row[10])),
        eye_features_norm=(number(row[11]), number(row[12]), number(row[13]), number(row[14])),
        eye_openness=(number(row[15]), number(row[16])), distance_mm=number(row[17]),
        gaze_px=(number(row[18]), number(row[19])),
        on_screen=None if row[20] is None else bool(row[20]), gaze_calibrated=bool(row[21]),
    )
