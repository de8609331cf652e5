"""Gaze on screen: a fitted mapping from eye and head features to pixels, and its use.

The features are appearance-free quantities the face analyzer already measures (iris
position within each eye, head yaw and pitch, head position), so a calibration can be
re-applied offline to the face rows of any recorded session. The mapping is a ridge
regression on a small expansion of these features, in the tradition of regression-based
webcam eye tracking (Papoutsaki et al., WebGazer, IJCAI 2016; Hansen and Ji's survey,
IEEE TPAMI 2010, for the polynomial mappings of interpolation-based trackers).
:mod:`sensing.calibration` produces a :class:`GazeMapping`; this module applies it.

Without a calibration, :func:`attention_on_screen` gives a coarse on/off-screen estimate
from head pose plus the eyes' rotation in the head, always flagged as uncalibrated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sensing.filters import OneEuroFilter
from sensing.records import FaceFrame

FEATURE_SET = "eyes-head-v1"
BASE_FEATURES: tuple[str, ...] = (
    "eye_left_x", "eye_left_y", "eye_right_x", "eye_right_y",
    "yaw_deg", "pitch_deg", "head_x_mm", "head_y_mm",
)
# Degree-2 terms of the binocular horizontal (h) and vertical (v) iris position; the eyes'
# rotation maps to the screen non-linearly, the head's small rotations nearly linearly.
QUADRATIC_FEATURES: tuple[str, ...] = ("h_sq", "v_sq", "h_v")

# Screen margin (fraction of its size) within which a gaze point still counts as on screen;
# webcam gaze error is a few degrees, about this much of a laptop screen.
ON_SCREEN_MARGIN = 0.05


@dataclass(frozen=True)
class ScreenGeometry:
    """The screen the participant looks at: size in pixels and in millimetres."""

    width_px: int
    height_px: int
    width_mm: float
    height_mm: float

    @property
    def mm_per_px(self) -> tuple[float, float]:
        return self.width_mm / self.width_px, self.height_mm / self.height_px

    def to_dict(self) -> dict[str, float]:
        return {"width_px": self.width_px, "height_px": self.height_px,
                "width_mm": self.width_mm, "height_mm": self.height_mm}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScreenGeometry:
        return cls(int(data["width_px"]), int(data["height_px"]), float(data["width_mm"]),
                   float(data["height_mm"]))


def face_arrays_from_frames(frames: Iterable[FaceFrame]) -> dict[str, np.ndarray]:
    """Columns of a list of FaceFrames, shaped like ``Session.face()`` returns them."""
    rows = list(frames)
    n = len(rows)
    return {
        "t_ns": np.array([f.t_ns for f in rows], dtype=np.int64),
        "present": np.array([f.present for f in rows], dtype=bool),
        "blendshapes": (np.stack([f.blendshapes for f in rows]).astype(np.float32) if n
                        else np.zeros((0, 52), np.float32)),
        "yaw_deg": np.array([f.yaw_deg for f in rows], dtype=np.float64),
        "pitch_deg": np.array([f.pitch_deg for f in rows], dtype=np.float64),
        "roll_deg": np.array([f.roll_deg for f in rows], dtype=np.float64),
        "translation_mm": np.array([f.translation_mm for f in rows],
                                   dtype=np.float64).reshape(n, 3),
        "eye_features_norm": np.array([f.eye_features_norm for f in rows],
                                      dtype=np.float64).reshape(n, 4),
        "eye_openness": np.array([f.eye_openness for f in rows], dtype=np.float64).reshape(n, 2),
        "distance_mm": np.array([f.distance_mm for f in rows], dtype=np.float64),
    }


def _single_row(face: FaceFrame) -> dict[str, np.ndarray]:
    """The columns the gaze features need, for one frame (cheaper than the full helper)."""
    return {
        "eye_features_norm": np.array([face.eye_features_norm], dtype=np.float64),
        "yaw_deg": np.array([face.yaw_deg]),
        "pitch_deg": np.array([face.pitch_deg]),
        "translation_mm": np.array([face.translation_mm], dtype=np.float64),
    }


def base_features(face_arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """``[N, 8]`` BASE_FEATURES from face columns (``Session.face()`` or the helper above)."""
    eyes = np.asarray(face_arrays["eye_features_norm"], dtype=np.float64).reshape(-1, 4)
    n = eyes.shape[0]
    yaw = np.asarray(face_arrays["yaw_deg"], dtype=np.float64).reshape(n, 1)
    pitch = np.asarray(face_arrays["pitch_deg"], dtype=np.float64).reshape(n, 1)
    head = np.asarray(face_arrays["translation_mm"], dtype=np.float64).reshape(n, 3)[:, :2]
    return np.hstack([eyes, yaw, pitch, head])


def expand_features(base: np.ndarray, degree: int) -> np.ndarray:
    """``[N, 8]`` base features to ``[N, 8]`` (degree 1) or ``[N, 11]`` (degree 2).

    ``h = (left_x - right_x) / 2`` is positive when both irises move toward the
    participant's left (each eye's x runs from its inner to its outer corner), and
    ``v = (left_y + right_y) / 2`` positive when they move down; both centred on 0.5.
    """
    if degree <= 1:
        return base
    h = (base[:, 0] - base[:, 2]) / 2.0
    v = (base[:, 1] + base[:, 3]) / 2.0 - 0.5
    return np.hstack([base, np.stack([h * h, v * v, h * v], axis=1)])


@dataclass
class GazeMapping:
    """A fitted feature-to-screen mapping: standardise, expand, then a linear map.

    ``predict`` is ``((expand(x) - mean) / scale) @ coef + intercept``; coef is ``[F, 2]``.
    """

    screen: ScreenGeometry
    degree: int
    alpha: float
    mean: np.ndarray       # [F]
    scale: np.ndarray      # [F]
    coef: np.ndarray       # [F, 2]
    intercept: np.ndarray  # [2]
    feature_set: str = FEATURE_SET

    @property
    def feature_names(self) -> tuple[str, ...]:
        return BASE_FEATURES + (QUADRATIC_FEATURES if self.degree >= 2 else ())

    def predict_features(self, base: np.ndarray) -> np.ndarray:
        """``[N, 2]`` screen pixels from ``[N, 8]`` base features; NaN rows stay NaN."""
        expanded = expand_features(np.asarray(base, dtype=np.float64), self.degree)
        return ((expanded - self.mean) / self.scale) @ self.coef + self.intercept

    def on_screen(self, gaze_px: np.ndarray, *, margin: float = ON_SCREEN_MARGIN) -> np.ndarray:
        """``[N]`` float: 1 inside the screen (plus ``margin``), 0 outside, NaN if unknown."""
        gaze = np.asarray(gaze_px, dtype=np.float64).reshape(-1, 2)
        mx, my = margin * self.screen.width_px, margin * self.screen.height_px
        inside = ((gaze[:, 0] >= -mx) & (gaze[:, 0] <= self.screen.width_px + mx)
                  & (gaze[:, 1] >= -my) & (gaze[:, 1] <= self.screen.height_px + my))
        result = inside.astype(np.float64)
        result[~np.all(np.isfinite(gaze), axis=1)] = np.nan
        return result

    def apply_to_face_rows(
        self, face_arrays: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gaze ``[N, 2]`` pixels and on-screen ``[N]`` (1/0/NaN) for recorded face rows.

        Rows without a face give NaN for both.
        """
        gaze = self.predict_features(base_features(face_arrays))
        if "present" in face_arrays:
            gaze[~np.asarray(face_arrays["present"], dtype=bool)] = np.nan
        return gaze, self.on_screen(gaze)

    def apply_to_frame(self, face: FaceFrame) -> FaceFrame:
        """A copy of ``face`` with calibrated ``gaze_px``, ``on_screen`` and the flag set."""
        if not face.present:
            return replace(face, gaze_px=(math.nan, math.nan), on_screen=None,
                           gaze_calibrated=True)
        gaze, on_screen = self.apply_to_face_rows(_single_row(face))
        flag = None if math.isnan(on_screen[0]) else bool(on_screen[0])
        return replace(face, gaze_px=(float(gaze[0, 0]), float(gaze[0, 1])), on_screen=flag,
                       gaze_calibrated=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_set": self.feature_set,
            "features": list(self.feature_names),
            "degree": self.degree,
            "alpha": self.alpha,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "screen": self.screen.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GazeMapping:
        if data.get("feature_set") != FEATURE_SET:
            raise ValueError(f"calibration uses feature set {data.get('feature_set')!r}; this "
                             f"version applies {FEATURE_SET!r} only")
        return cls(
            screen=ScreenGeometry.from_dict(data["screen"]),
            degree=int(data["degree"]),
            alpha=float(data["alpha"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64).reshape(-1, 2),
            intercept=np.asarray(data["intercept"], dtype=np.float64),
        )


# Uncalibrated attention. Rough eye-in-head gains: a 12 mm eyeball radius over a ~30 mm eye
# width puts 30 degrees of horizontal rotation at 0.2 of the eye's width, and 20 degrees of
# vertical rotation at about 0.4 of the lid opening.
EYE_GAIN_H_DEG = 150.0
EYE_GAIN_V_DEG = 50.0


def attention_on_screen(
    face_arrays: Mapping[str, np.ndarray],
    *,
    yaw_limit_deg: float = 30.0,
    pitch_up_limit_deg: float = 20.0,
    pitch_down_limit_deg: float = 35.0,
) -> np.ndarray:
    """Uncalibrated on/off-screen estimate, ``[N]`` float 1/0/NaN (NaN without a face).

    Gaze direction is approximated as head pose plus the eyes' rotation in the head
    (iris offset times the gains above); the participant counts as looking at the screen
    while it stays within ``yaw_limit_deg`` sideways and between ``pitch_down_limit_deg``
    below and ``pitch_up_limit_deg`` above the camera axis (the camera usually sits on the
    screen's top edge, so the screen lies mostly below it). A heuristic for attention,
    not a gaze point; results carry ``gaze_calibrated`` False.
    """
    base = base_features(face_arrays)
    h = (base[:, 0] - base[:, 2]) / 2.0
    v = (base[:, 1] + base[:, 3]) / 2.0 - 0.5
    yaw = base[:, 4] + EYE_GAIN_H_DEG * h
    pitch = base[:, 5] - EYE_GAIN_V_DEG * v
    inside = (np.abs(yaw) <= yaw_limit_deg) & (pitch <= pitch_up_limit_deg) & (
        pitch >= -pitch_down_limit_deg)
    result = inside.astype(np.float64)
    unknown = ~np.all(np.isfinite(base[:, :6]), axis=1)
    if "present" in face_arrays:
        unknown |= ~np.asarray(face_arrays["present"], dtype=bool)
    result[unknown] = np.nan
    return result


@dataclass(frozen=True)
class GazeEstimate:
    """One frame's gaze: raw point (stored), smoothed point (display only), on-screen flag."""

    t_ns: int
    gaze_px: tuple[float, float]
    smoothed_px: tuple[float, float]
    on_screen: bool | None
    calibrated: bool


class GazeTracker:
    """Per-frame gaze for a live view: a mapping if calibrated, else the attention estimate.

    :meth:`annotate` returns the FaceFrame with the raw values to store; :meth:`update`
    also returns the One Euro smoothed point, which is for drawing only.
    """

    def __init__(
        self, mapping: GazeMapping | None = None, *, min_cutoff_hz: float = 1.0,
        beta: float = 0.01,
    ) -> None:
        self.mapping = mapping
        self._filter = OneEuroFilter(min_cutoff_hz=min_cutoff_hz, beta=beta)

    def annotate(self, face: FaceFrame) -> FaceFrame:
        if self.mapping is not None:
            return self.mapping.apply_to_frame(face)
        if not face.present:
            return replace(face, on_screen=None, gaze_calibrated=False)
        value = attention_on_screen(_single_row(face))[0]
        return replace(face, on_screen=None if math.isnan(value) else bool(value),
                       gaze_calibrated=False)

    def update(self, face: FaceFrame) -> tuple[FaceFrame, GazeEstimate]:
        annotated = self.annotate(face)
        smoothed = self._filter(annotated.t_ns / 1e9, np.asarray(annotated.gaze_px))
        estimate = GazeEstimate(
            t_ns=annotated.t_ns, gaze_px=annotated.gaze_px,
            smoothed_px=(float(smoothed[0]), float(smoothed[1])),
            on_screen=annotated.on_screen, calibrated=annotated.gaze_calibrated,
        )
        return annotated, estimate
