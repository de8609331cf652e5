"""Boundary records: what sensing hands to the session store, one definition each.

The face, input and marker streams are written by different threads and read back by
``fusion``; both sides import these definitions so that a column means one thing everywhere.
Units are in the field names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# MediaPipe Face Landmarker blendshape categories, in the order the model emits them.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
N_BLENDSHAPES = len(BLENDSHAPE_NAMES)
N_LANDMARKS = 478

# Consent is given per stream. ``camera`` covers derived face features, ``video`` the raw
# frames kept next to the session, ``landmarks`` the 478-point face mesh (biometric).
CONSENT_STREAMS: tuple[str, ...] = (
    "camera", "video", "landmarks", "keyboard", "mouse", "scroll", "markers",
)

# Tables of the session store that hold time series.
STORE_STREAMS: tuple[str, ...] = ("face", "input", "markers", "calibration")

INPUT_KINDS: tuple[str, ...] = ("key_down", "key_up", "move", "button_down", "button_up", "scroll")

# Key presses are stored as one of these classes, never as the character or key code.
KEY_CLASSES: tuple[str, ...] = (
    "letter", "digit", "space", "punctuation", "backspace", "enter", "tab", "modifier",
    "navigation", "function", "other",
)

MARKER_KINDS: tuple[str, ...] = (
    "content_shown", "content_hidden", "query_submitted", "response_displayed", "rating",
    "task_start", "task_end", "pause", "resume", "calibration_start", "calibration_end",
    "note",
)


def consent_stream_for_input(kind: str) -> str:
    """The consent stream that governs an input event kind."""
    if kind.startswith("key_"):
        return "keyboard"
    if kind == "scroll":
        return "scroll"
    return "mouse"


@dataclass
class FaceFrame:
    """Face features of one camera frame.

    ``eye_features_norm`` holds, for the left then the right eye, the iris centre's position
    relative to the eye (x from inner to outer corner, y from upper to lower lid), each in
    [0, 1] with 0.5 the centre. ``gaze_px`` is NaN until a calibration is applied;
    ``on_screen`` is ``None`` when unknown, and without calibration it is an attention
    estimate from head pose (``gaze_calibrated`` False).
    """

    t_ns: int
    face_count: int = 0
    present: bool = False
    confidence: float = 0.0
    blendshapes: np.ndarray = field(
        default_factory=lambda: np.full(N_BLENDSHAPES, np.nan, dtype=np.float32)
    )
    yaw_deg: float = math.nan
    pitch_deg: float = math.nan
    roll_deg: float = math.nan
    translation_mm: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    eye_features_norm: tuple[float, float, float, float] = (math.nan,) * 4
    eye_openness: tuple[float, float] = (math.nan, math.nan)
    distance_mm: float = math.nan
    gaze_px: tuple[float, float] = (math.nan, math.nan)
    on_screen: bool | None = None
    gaze_calibrated: bool = False
    landmarks: np.ndarray | None = None  # [478, 3] float32, normalised image coords; opt-in

    @property
    def t_s(self) -> float:
        return self.t_ns / 1e9


@dataclass(frozen=True)
class InputEvent:
    """One keyboard, mouse or scroll event; keys appear only as their class."""

    t_ns: int
    kind: str
    key_class: str | None = None
    x_px: float | None = None
    y_px: float | None = None
    dx: float | None = None
    dy: float | None = None


@dataclass(frozen=True)
class Marker:
    """Something the study task reports: content shown, query submitted, rating, pause."""

    t_ns: int
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationRecord:
    """A fitted gaze calibration (``kind`` "fit") or a validation of one ("validation").

    ``model`` is what :mod:`sensing.calibration` needs to re-apply the mapping offline;
    ``report`` holds the accuracy figures shown to the participant.
    """

    t_ns: int
    kind: str
    model: dict[str, Any]
    report: dict[str, Any]
