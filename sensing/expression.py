"""Expression summaries from MediaPipe blendshapes, and blink events with hysteresis.

The blendshapes follow Apple ARKit's face anchor coefficients, each a 0..1 activation of one
facial movement; the summaries average the coefficients that make up one Facial Action
Coding System action unit (Ekman and Friesen, 1978), so they stay in 0..1 and read the same
for left and right:

- ``smile`` = mean(mouthSmileLeft, mouthSmileRight)  (AU12, lip corner puller)
- ``brow_raise`` = mean(browInnerUp, browOuterUpLeft, browOuterUpRight)  (AU1 + AU2)
- ``brow_lower`` = mean(browDownLeft, browDownRight)  (AU4, brow lowerer)
- ``jaw_open`` = jawOpen  (AU26/27, jaw drop)
- ``nose_wrinkle`` = mean(noseSneerLeft, noseSneerRight)  (AU9, nose wrinkler)
- ``eye_closure`` = mean(eyeBlinkLeft, eyeBlinkRight)  (AU45, the blink signal)

Blinks are found on ``eye_closure`` with two thresholds (a Schmitt trigger): a blink starts
when closure rises above ``close_threshold`` and ends when it falls below the lower
``open_threshold``, so noise around one threshold cannot split one blink into several.
Closures shorter than ``min_duration_ms`` are noise; longer than ``max_duration_ms`` they
are eye closures (drowsiness, looking down) rather than blinks and are reported apart.
Typical spontaneous blinks last 100-400 ms at 10-20 per minute (Stern et al., 1984).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sensing.records import BLENDSHAPE_NAMES

_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}

EXPRESSION_FORMULAS: dict[str, tuple[str, ...]] = {
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "brow_raise": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "brow_lower": ("browDownLeft", "browDownRight"),
    "jaw_open": ("jawOpen",),
    "nose_wrinkle": ("noseSneerLeft", "noseSneerRight"),
    "eye_closure": ("eyeBlinkLeft", "eyeBlinkRight"),
}
EXPRESSION_NAMES: tuple[str, ...] = tuple(EXPRESSION_FORMULAS)

# Averaging matrix: summaries[..., k] = blendshapes[..., :] @ _WEIGHTS[:, k]; [52, K].
_WEIGHTS = np.zeros((len(BLENDSHAPE_NAMES), len(EXPRESSION_NAMES)), dtype=np.float32)
for _k, _parts in enumerate(EXPRESSION_FORMULAS.values()):
    for _part in _parts:
        _WEIGHTS[_INDEX[_part], _k] = 1.0 / len(_parts)


def expression_matrix(blendshapes: np.ndarray) -> np.ndarray:
    """Summaries as an array: ``[..., 52]`` blendshapes to ``[..., K]`` in EXPRESSION_NAMES order.

    NaN blendshapes (no face) give NaN summaries.
    """
    return np.asarray(blendshapes, dtype=np.float32) @ _WEIGHTS


def expression_summaries(blendshapes: np.ndarray) -> dict[str, np.ndarray | float]:
    """Summaries by name; a float each for one frame ``[52]``, an array each for ``[N, 52]``."""
    values = expression_matrix(blendshapes)
    if values.ndim == 1:
        return {name: float(values[k]) for k, name in enumerate(EXPRESSION_NAMES)}
    return {name: values[..., k] for k, name in enumerate(EXPRESSION_NAMES)}


def eye_closure(blendshapes: np.ndarray) -> np.ndarray | float:
    """mean(eyeBlinkLeft, eyeBlinkRight) of ``[52]`` or ``[N, 52]`` blendshapes."""
    values = np.asarray(blendshapes, dtype=np.float32)
    closure = 0.5 * (values[..., _INDEX["eyeBlinkLeft"]] + values[..., _INDEX["eyeBlinkRight"]])
    return float(closure) if np.ndim(closure) == 0 else closure


@dataclass(frozen=True)
class Blink:
    """One blink (or, with ``kind`` "closure", an eye closure too long to be a blink)."""

    start_ns: int
    end_ns: int
    kind: str = "blink"

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class BlinkDetector:
    """Streaming blink detection with hysteresis on the eye-closure signal.

    Feed frames in time order with :meth:`update`; it returns a finished :class:`Blink` when
    one ends, else ``None``. A frame without a face (``closure`` NaN) abandons a closure in
    progress, since its end was not seen. The start and end times are those of the frames
    that crossed the thresholds. ``blink_rate_per_min`` divides blinks by the time a face was
    observed, counting the interval between two consecutive face frames only when it is
    shorter than ``max_frame_gap_ms`` (so face-absent stretches do not dilute the rate).
    """

    def __init__(
        self,
        *,
        close_threshold: float = 0.5,
        open_threshold: float = 0.35,
        min_duration_ms: float = 50.0,
        max_duration_ms: float = 500.0,
        max_frame_gap_ms: float = 500.0,
    ) -> None:
        if not open_threshold < close_threshold:
            raise ValueError("open_threshold must be below close_threshold (hysteresis)")
        self.close_threshold = close_threshold
        self.open_threshold = open_threshold
        self.min_duration_ms = min_duration_ms
        self.max_duration_ms = max_duration_ms
        self.max_frame_gap_ms = max_frame_gap_ms
        self.blinks: list[Blink] = []
        self.closures: list[Blink] = []
        self.observed_ns = 0
        self._closed_since: int | None = None
        self._last_face_ns: int | None = None

    @property
    def is_closed(self) -> bool:
        """Whether the eyes are in a closure right now (between the two crossings)."""
        return self._closed_since is not None

    def update(self, t_ns: int, closure: float) -> Blink | None:
        if closure is None or not math.isfinite(closure):
            self._closed_since = None
            self._last_face_ns = None
            return None
        if self._last_face_ns is not None:
            interval = t_ns - self._last_face_ns
            if 0 < interval <= self.max_frame_gap_ms * 1e6:
                self.observed_ns += interval
        self._last_face_ns = t_ns

        if self._closed_since is None:
            if closure >= self.close_threshold:
                self._closed_since = t_ns
            return None
        if closure > self.open_threshold:
            return None
        event = Blink(start_ns=self._closed_since, end_ns=t_ns)
        self._closed_since = None
        if event.duration_ms < self.min_duration_ms:
            return None
        if event.duration_ms > self.max_duration_ms:
            self.closures.append(Blink(event.start_ns, event.end_ns, kind="closure"))
            return self.closures[-1]
        self.blinks.append(event)
        return event

    @property
    def blink_rate_per_min(self) -> float:
        """Blinks per minute of observed face time (NaN before any face time)."""
        if self.observed_ns <= 0:
            return math.nan
        return len(self.blinks) / (self.observed_ns / 60e9)


def detect_blinks(
    t_ns: np.ndarray, closure: np.ndarray, **settings: float
) -> tuple[list[Blink], float]:
    """Blinks and the blink rate (per minute) of a recorded ``[N]`` closure series."""
    detector = BlinkDetector(**settings)
    for stamp, value in zip(np.asarray(t_ns).tolist(), np.asarray(closure, dtype=float).tolist(),
                            strict=True):
        detector.update(int(stamp), value)
    return list(detector.blinks), detector.blink_rate_per_min
