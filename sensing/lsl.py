"""Lab Streaming Layer (opt-in): a marker inlet and a face-feature outlet, for LSL labs.

LSL is a network protocol: liblsl announces and resolves streams by UDP multicast and serves
them over TCP on the machine's interfaces, so it is the one part of a recording that may open
sockets beyond 127.0.0.1. It is therefore off unless asked for (``--lsl-markers NAME``,
``--lsl-features``), and ``pylsl`` is an optional dependency (``pip install engage[lsl]``;
its wheels carry liblsl).

Marker inlet: each sample of a string stream is a marker in the line protocol of
:mod:`sensing.markers` (a JSON object, or ``KIND {payload}``). It is stamped on the session
clock when pulled, so the store's time order holds; the sender's own time, mapped to the
session clock with LSL's clock-offset estimate, is kept in the payload as ``lsl_t_ns``.

Feature outlet: one float32 sample per analysed frame, channels ``present``, ``confidence``,
``yaw_deg``, ``pitch_deg``, ``roll_deg``, ``gaze_x_px``, ``gaze_y_px``, ``on_screen`` and the
52 blendshapes by MediaPipe name, timestamped at capture on LSL's clock.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from sensing.clock import SessionClock
from sensing.errors import EngageError
from sensing.markers import MarkerError, MarkerIntake, parse_marker_line
from sensing.records import BLENDSHAPE_NAMES, FaceFrame

log = logging.getLogger(__name__)

FEATURE_CHANNELS: tuple[str, ...] = (
    "present", "confidence", "yaw_deg", "pitch_deg", "roll_deg", "gaze_x_px", "gaze_y_px",
    "on_screen", *BLENDSHAPE_NAMES,
)


def _pylsl() -> Any:
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as error:
        raise EngageError(f"Lab Streaming Layer is not available ({error}); install it with "
                          "`pip install pylsl` or record without the --lsl options") from None
    return pylsl


def lsl_available() -> bool:
    """Whether pylsl and its liblsl load on this machine."""
    try:
        _pylsl()
    except EngageError:
        return False
    return True


class LslMarkerInlet:
    """Pulls markers from the LSL string stream named ``stream_name`` into an intake."""

    def __init__(self, stream_name: str, intake: MarkerIntake, *, clock: SessionClock,
                 resolve_timeout_s: float = 2.0) -> None:
        self._pylsl = _pylsl()
        self.stream_name = stream_name
        self._intake = intake
        self._clock = clock
        self._resolve_timeout_s = resolve_timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lsl-marker-inlet", daemon=True)
        self.connected = False

    def start(self) -> LslMarkerInlet:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._resolve_timeout_s + 2.0)

    def _run(self) -> None:
        pylsl = self._pylsl
        warned = False
        inlet = None
        while inlet is None and not self._stop.is_set():
            found = pylsl.resolve_byprop("name", self.stream_name, 1, self._resolve_timeout_s)
            if found:
                inlet = pylsl.StreamInlet(found[0])
            elif not warned:
                warned = True
                log.warning("no LSL stream named %r yet; still looking", self.stream_name)
        if inlet is None:
            return
        self.connected = True
        log.info("reading markers from LSL stream %r", self.stream_name)
        offset_s = 0.0
        while not self._stop.is_set():
            sample, lsl_time = inlet.pull_sample(timeout=0.2)
            if sample is None:
                continue
            try:
                offset_s = inlet.time_correction(timeout=0.5)
            except Exception as error:  # offset unknown this time: keep the last estimate
                log.debug("LSL time correction failed: %s", error)
            self._offer(str(sample[0]), lsl_time + offset_s, pylsl.local_clock())
        inlet.close_stream()

    def _offer(self, text: str, sent_local_s: float, now_local_s: float) -> None:
        try:
            kind, payload = parse_marker_line(text)
        except MarkerError as error:
            self._intake.reject(str(error))
            return
        age_ns = int((now_local_s - sent_local_s) * 1e9)
        payload["lsl_t_ns"] = self._clock.now_ns() - age_ns
        self._intake.offer(kind, payload)


class LslFeatureOutlet:
    """Publishes each analysed frame's features as one LSL sample."""

    def __init__(self, session_id: str, *, clock: SessionClock, nominal_rate_hz: float = 0.0):
        pylsl = _pylsl()
        self._pylsl = pylsl
        self._clock = clock
        info = pylsl.StreamInfo("engage-face", "Features", len(FEATURE_CHANNELS),
                                nominal_rate_hz, "float32", f"engage-{session_id}")
        channels = info.desc().append_child("channels")
        for name in FEATURE_CHANNELS:
            channels.append_child("channel").append_child_value("label", name)
        self._outlet = pylsl.StreamOutlet(info)

    def push_face(self, face: FaceFrame) -> None:
        on_screen = math.nan if face.on_screen is None else float(face.on_screen)
        sample = [float(face.present), face.confidence, face.yaw_deg, face.pitch_deg,
                  face.roll_deg, face.gaze_px[0], face.gaze_px[1], on_screen,
                  *(float(v) for v in face.blendshapes)]
        age_s = (self._clock.now_ns() - face.t_ns) / 1e9
        self._outlet.push_sample(sample, self._pylsl.local_clock() - age_s)

    def close(self) -> None:
        self._outlet = None
