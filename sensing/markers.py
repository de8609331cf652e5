"""Content markers: what the participant is shown and does in the study task.

A marker is a session time, a kind from :data:`sensing.records.MARKER_KINDS` and a small JSON
payload. The receiver stamps every marker on the session clock when it arrives, so senders
need no clock of their own. Payload fields per kind (others may be added as JSON scalars,
up to :data:`MAX_PAYLOAD_BYTES` in all):

================== =========================================================================
kind               fields (``*`` required)
================== =========================================================================
content_shown      ``content_id*`` (str), ``region`` ({"x", "y", "w", "h"} screen pixels)
content_hidden     ``content_id*``
query_submitted    ``text_length*`` (int >= 0), ``is_rephrase*``, ``is_followup*`` (bool),
                   ``content_id``; never the text itself (``text``/``query`` are refused)
response_displayed ``content_id``, ``response_id``, ``length`` (int), ``latency_ms``
rating             ``value*`` (number), ``scale`` ([low, high], value within), ``content_id``
task_start/_end    ``task_id``
pause, resume      ``source`` (who paused: "hotkey", "gui", "endpoint", ...)
note               ``text*`` (str, at most 280 characters, written by the researcher)
================== =========================================================================

The local endpoint (:class:`MarkerEndpoint`) listens on 127.0.0.1 only, on one TCP port that
speaks two protocols, told apart by the first line of a connection:

- HTTP: ``POST /markers`` with ``Content-Type: application/json`` and a body holding one
  marker object or a list of them. The answer is JSON ``{"accepted": n, "rejected":
  [{"index": i, "reason": "..."}]}``, status 200 when all were accepted, 400 otherwise.
  ``GET /health`` answers ``{"ok": true}``. The JSON content type is required so that a web
  page the participant visits cannot post markers (a cross-origin JSON POST needs a CORS
  pre-flight, which this endpoint never grants); the Host header must name the loopback
  address, which defeats DNS rebinding. A browser extension with a host permission for
  ``http://127.0.0.1`` is not subject to CORS and can post.
- Lines: any other first line starts the line protocol. Each line is either a marker object
  in JSON or ``KIND`` optionally followed by a space and a JSON payload object. Each line
  is answered by ``ok`` or ``error: <reason>``; the connection may stay open for a session.

A marker object is ``{"kind": K, "payload": {...}}`` or flat, ``{"kind": K, field: value}``.
Example clients (``PORT`` is printed by ``engage record``)::

    import json, urllib.request
    body = json.dumps({"kind": "content_shown", "content_id": "article-7",
                       "region": {"x": 0, "y": 80, "w": 1280, "h": 640}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/markers", data=body,
                                     headers={"Content-Type": "application/json"})
    print(urllib.request.urlopen(request).read())

    printf 'rating {"value": 4, "scale": [1, 5]}\\n' | nc -q1 127.0.0.1 PORT

Malformed markers are refused with a reason and counted; a bad sender never stops the
recording.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import logging
import math
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sensing.errors import EngageError
from sensing.records import MARKER_KINDS

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 2048
MAX_ID_CHARS = 200
MAX_NOTE_CHARS = 280
MAX_LINE_BYTES = 8192
MAX_HTTP_BODY_BYTES = 256 * 1024
LOOPBACK_HOST = "127.0.0.1"

# A submit function stamps and stores one validated marker; False when it was dropped.
MarkerSubmit = Callable[[str, dict[str, Any]], bool]


class MarkerError(EngageError):
    """A marker that cannot be stored; the message is the reason given to the sender."""


_REQUIRED: dict[str, tuple[str, ...]] = {
    "content_shown": ("content_id",),
    "content_hidden": ("content_id",),
    "query_submitted": ("text_length", "is_rephrase", "is_followup"),
    "rating": ("value",),
    "note": ("text",),
}
_ID_FIELDS = ("content_id", "response_id", "task_id", "source")
_FORBIDDEN_TEXT = ("text", "query", "query_text", "response_text", "content_text")


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_region(region: Any) -> None:
    if not isinstance(region, Mapping) or set(region) != {"x", "y", "w", "h"}:
        raise MarkerError('region must be {"x", "y", "w", "h"} in screen pixels')
    if not all(_is_number(region[key]) for key in "xywh"):
        raise MarkerError("region values must be finite numbers")
    if region["w"] < 0 or region["h"] < 0:
        raise MarkerError("region width and height must not be negative")


def validate_payload(kind: str, payload: Any) -> dict[str, Any]:
    """Check one marker's kind and payload; returns the payload or raises MarkerError."""
    if not isinstance(kind, str) or kind not in MARKER_KINDS:
        raise MarkerError(f"unknown marker kind {kind!r}; kinds are {', '.join(MARKER_KINDS)}")
    if not isinstance(payload, Mapping):
        raise MarkerError("the payload must be a JSON object")
    payload = dict(payload)
    missing = [name for name in _REQUIRED.get(kind, ()) if name not in payload]
    if missing:
        raise MarkerError(f"{kind} needs {', '.join(missing)}")

    for key, value in payload.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise MarkerError("payload keys must be strings of 1 to 64 characters")
        if key in ("region", "scale"):
            continue
        if kind != "note" and key in _FORBIDDEN_TEXT:
            raise MarkerError(f"{key!r} is not stored: send lengths and flags, never the text")
        if value is not None and not isinstance(value, str | bool | int | float):
            raise MarkerError(f"{key} must be a JSON string, number, boolean or null")
        if isinstance(value, float) and not math.isfinite(value):
            raise MarkerError(f"{key} must be a finite number")
    for key in _ID_FIELDS:
        if key in payload and not (isinstance(payload[key], str)
                                   and 0 < len(payload[key]) <= MAX_ID_CHARS):
            raise MarkerError(f"{key} must be a string of 1 to {MAX_ID_CHARS} characters")
    if "region" in payload:
        _check_region(payload["region"])
    if kind == "query_submitted":
        length = payload["text_length"]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise MarkerError("text_length must be an integer >= 0")
        for flag in ("is_rephrase", "is_followup"):
            if not isinstance(payload[flag], bool):
                raise MarkerError(f"{flag} must be true or false")
    if "length" in payload and not (isinstance(payload["length"], int)
                                    and not isinstance(payload["length"], bool)
                                    and payload["length"] >= 0):
        raise MarkerError("length must be an integer >= 0")
    if "latency_ms" in payload and not (_is_number(payload["latency_ms"])
                                        and payload["latency_ms"] >= 0):
        raise MarkerError("latency_ms must be a number >= 0")
    if kind == "rating":
        value = payload["value"]
        if not _is_number(value):
            raise MarkerError("rating value must be a finite number")
        if "scale" in payload:
            scale = payload["scale"]
            if not (isinstance(scale, list) and len(scale) == 2
                    and all(_is_number(end) for end in scale) and scale[0] < scale[1]):
                raise MarkerError("scale must be [low, high] with low < high")
            if not scale[0] <= value <= scale[1]:
                raise MarkerError(f"rating {value} is outside its scale {scale}")
    elif "scale" in payload:
        raise MarkerError("scale belongs to rating markers")
    if kind == "note" and not (isinstance(payload["text"], str)
                               and len(payload["text"]) <= MAX_NOTE_CHARS):
        raise MarkerError(f"a note's text must be a string of at most {MAX_NOTE_CHARS} "
                          "characters")

    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise MarkerError(f"payload is {size} bytes; markers hold at most {MAX_PAYLOAD_BYTES}")
    return payload


def parse_marker_object(item: Any) -> tuple[str, dict[str, Any]]:
    """``{"kind": K, "payload": {...}}`` or ``{"kind": K, **fields}`` -> (kind, payload)."""
    if not isinstance(item, Mapping):
        raise MarkerError("a marker must be a JSON object with a kind")
    if "kind" not in item:
        raise MarkerError('a marker needs a "kind"')
    if "t_ns" in item or "t_s" in item:
        raise MarkerError("markers are stamped on arrival; leave out t_ns/t_s")
    kind = item["kind"]
    if "payload" in item:
        extra = sorted(set(item) - {"kind", "payload"})
        if extra:
            raise MarkerError(f"with a payload object, {', '.join(extra)} belong inside it")
        payload = item["payload"]
    else:
        payload = {key: value for key, value in item.items() if key != "kind"}
    return kind, validate_payload(kind, payload)


def parse_marker_line(line: str) -> tuple[str, dict[str, Any]]:
    """One line of the line protocol: a JSON marker object, or ``KIND [JSON payload]``."""
    text = line.strip()
    if not text:
        raise MarkerError("empty line")
    if text.startswith("{"):
        return parse_marker_object(_loads(text))
    kind, _, rest = text.partition(" ")
    payload = _loads(rest) if rest.strip() else {}
    return kind, validate_payload(kind, payload)


def _reject_constant(name: str) -> None:
    raise MarkerError(f"{name} is not a number JSON allows")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise MarkerError(f"not JSON: {error.msg} at character {error.pos}") from None


class MarkerIntake:
    """Validates markers from any source, counts them, and hands good ones to ``submit``.

    Counters: ``received`` (everything offered), ``accepted`` (valid and stored),
    ``rejected`` (invalid; the most common reasons are kept in ``reasons``), ``dropped``
    (valid but refused by a full store queue).
    """

    def __init__(self, submit: MarkerSubmit) -> None:
        self._submit = submit
        self._lock = threading.Lock()
        self.received = 0
        self.accepted = 0
        self.rejected = 0
        self.dropped = 0
        self.reasons: collections.Counter[str] = collections.Counter()

    def offer(self, kind: Any, payload: Any) -> str | None:
        """Validate and submit one marker; None when accepted, else the reason."""
        try:
            payload = validate_payload(kind, payload)
        except MarkerError as error:
            return self.reject(str(error))
        return self._store(kind, payload)

    def offer_object(self, item: Any) -> str | None:
        try:
            kind, payload = parse_marker_object(item)
        except MarkerError as error:
            return self.reject(str(error))
        return self._store(kind, payload)

    def offer_line(self, line: str) -> str | None:
        try:
            kind, payload = parse_marker_line(line)
        except MarkerError as error:
            return self.reject(str(error))
        return self._store(kind, payload)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"received": self.received, "accepted": self.accepted,
                    "rejected": self.rejected, "dropped": self.dropped,
                    "reasons": dict(self.reasons.most_common(5))}

    def reject(self, reason: str) -> str:
        """Count a marker refused before or during validation; returns the reason."""
        with self._lock:
            self.received += 1
            self.rejected += 1
            if len(self.reasons) < 100 or reason in self.reasons:
                self.reasons[reason] += 1
        log.info("marker rejected: %s", reason)
        return reason

    def _store(self, kind: str, payload: dict[str, Any]) -> str | None:
        try:
            stored = self._submit(kind, payload)
        except EngageError as error:  # e.g. markers consent withdrawn mid-session
            return self.reject(str(error))
        with self._lock:
            self.received += 1
            if stored:
                self.accepted += 1
            else:
                self.dropped += 1
        return None if stored else "the recorder's queue is full; marker dropped"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], intake: MarkerIntake) -> None:
        self.intake = intake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.request)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.request)
        try:
            super().finish()
        except OSError:
            log.debug("marker client went away before its answer was sent")

    def handle(self) -> None:
        try:
            first = self.rfile.readline(MAX_LINE_BYTES + 1)
            if not first:
                return
            words = first.split()
            if len(words) == 3 and words[2].startswith(b"HTTP/1."):
                self._handle_http(words[0].decode("latin-1"), words[1].decode("latin-1"))
            else:
                self._handle_lines(first)
        except (OSError, ValueError) as error:
            log.debug("marker connection ended: %s", error)

    def _answer_line(self, reason: str | None) -> None:
        self.wfile.write(b"ok\n" if reason is None else f"error: {reason}\n".encode())

    def _handle_lines(self, line: bytes) -> None:
        intake = self.server.intake
        while line:
            if len(line) > MAX_LINE_BYTES:
                self._answer_line(intake.reject(f"line longer than {MAX_LINE_BYTES} bytes"))
                return
            if line.strip():
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    self._answer_line(intake.reject("line is not UTF-8"))
                else:
                    self._answer_line(intake.offer_line(text))
            line = self.rfile.readline(MAX_LINE_BYTES + 1)

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                   405: "Method Not Allowed", 413: "Payload Too Large",
                   415: "Unsupported Media Type"}
        data = json.dumps(body).encode()
        head = (f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + data)

    def _refuse(self, status: int, reason: str) -> None:
        self.server.intake.reject(reason)
        self._send_json(status, {"accepted": 0, "rejected": [{"index": None,
                                                              "reason": reason}]})

    def _handle_http(self, method: str, target: str) -> None:
        self.connection.settimeout(10.0)
        headers: dict[str, str] = {}
        while True:
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "").rsplit(":", 1)[0].strip("[]")
        if not _is_loopback(host):
            self._refuse(403, "the Host header must name 127.0.0.1 or localhost")
            return
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/health":
            self._send_json(200, {"ok": True})
            return
        if path != "/markers":
            self._send_json(404, {"error": "POST markers to /markers"})
            return
        if method != "POST":
            self._send_json(405, {"error": "POST markers to /markers"})
            return
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            self._refuse(415, "Content-Type must be application/json")
            return
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            self._refuse(400, "Content-Length is required")
            return
        if not 0 <= length <= MAX_HTTP_BODY_BYTES:
            self._refuse(413, f"body larger than {MAX_HTTP_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length)
        try:
            document = _loads(body.decode("utf-8"))
        except (MarkerError, UnicodeDecodeError) as error:
            self._refuse(400, f"body is not a JSON marker or list: {error}")
            return
        items = document if isinstance(document, list) else [document]
        rejected = []
        accepted = 0
        for index, item in enumerate(items):
            reason = self.server.intake.offer_object(item)
            if reason is None:
                accepted += 1
            else:
                rejected.append({"index": index, "reason": reason})
        self._send_json(200 if not rejected else 400,
                        {"accepted": accepted, "rejected": rejected})


class MarkerEndpoint:
    """The local marker endpoint: HTTP and line protocol on one 127.0.0.1 TCP port."""

    def __init__(self, intake: MarkerIntake, *, port: int = 0,
                 host: str = LOOPBACK_HOST) -> None:
        if not _is_loopback(host):
            raise EngageError(f"the marker endpoint listens on the loopback address only, "
                              f"not {host!r}; markers come from programs on this computer")
        self._intake = intake
        self._requested = (host if host != "localhost" else LOOPBACK_HOST, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) while running."""
        if self._server is None:
            raise EngageError("the marker endpoint is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> tuple[str, int]:
        try:
            self._server = _Server(self._requested, self._intake)
        except OSError as error:
            raise EngageError(f"cannot listen for markers on {self._requested[0]}:"
                              f"{self._requested[1]} ({error.strerror}); choose another "
                              "--marker-port or 0 for any free port") from None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="marker-endpoint", daemon=True)
        self._thread.start()
        log.info("marker endpoint listening on %s:%d", *self.address)
        return self.address

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.connections_lock:
            open_connections = list(server.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("marker connection already closed")
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._server = None
