"""Gaze calibration without a user interface: targets, sample collection, fit, validation.

A calibration shows the participant a sequence of target points; while each is fixated the
face analyzer's features are collected, except during the first ``settle_ms`` (the eyes are
still travelling to the target: saccade latency and settling take about 200-300 ms) and
during and just after blinks (the iris is hidden or the lids distort its position). A ridge
regression maps the features to the targets (:class:`sensing.gaze.GazeMapping`); its
expansion degree and penalty are chosen by leave-one-target-out cross-validation, which
measures how well the map predicts a point it was not fitted on. A separate set of
validation points, never used for fitting, gives the accuracy report in pixels and in
degrees of visual angle (Holmqvist et al., "Eye Tracking", 2011, on accuracy as the mean
angular offset). The desktop app draws the targets; tests drive this module directly.

A fit is stored as a ``CalibrationRecord`` (kind "fit"), and a validation as another
("validation"); :func:`mapping_from_record` re-creates the mapping to apply it offline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensing.errors import EngageError
from sensing.expression import eye_closure
from sensing.gaze import (
    GazeMapping,
    ScreenGeometry,
    base_features,
    expand_features,
    face_arrays_from_frames,
)
from sensing.records import CalibrationRecord, FaceFrame

log = logging.getLogger(__name__)

DEFAULT_ALPHAS: tuple[float, ...] = (1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)
DEFAULT_DEGREES: tuple[int, ...] = (1, 2)


class CalibrationError(EngageError):
    """A calibration cannot be fitted or applied (too few points or samples)."""


def _grid(values_x: Sequence[float], values_y: Sequence[float]) -> np.ndarray:
    return np.array([(x, y) for y in values_y for x in values_x], dtype=np.float64)


def calibration_targets(
    width_px: int, height_px: int, *, n_points: int = 9, margin: float = 0.1
) -> np.ndarray:
    """Target points ``[n, 2]`` in pixels, row by row, ``margin`` of the size from the edges.

    ``n_points``: 5 (corners and centre), 9 (3 x 3), 13 (3 x 3 and the four cell centres),
    16 (4 x 4) or 25 (5 x 5).
    """
    lo, hi = margin, 1.0 - margin
    if n_points == 5:
        unit = np.array([(lo, lo), (hi, lo), (0.5, 0.5), (lo, hi), (hi, hi)])
    elif n_points in (9, 13):
        unit = _grid((lo, 0.5, hi), (lo, 0.5, hi))
        if n_points == 13:
            q1, q3 = (lo + 0.5) / 2, (hi + 0.5) / 2
            unit = np.vstack([unit, _grid((q1, q3), (q1, q3))])
    elif n_points in (16, 25):
        k = int(round(math.sqrt(n_points)))
        steps = np.linspace(lo, hi, k)
        unit = _grid(steps, steps)
    else:
        raise CalibrationError(f"{n_points} calibration points is not offered; use 5, 9, 13, "
                               "16 or 25")
    return unit * np.array([width_px, height_px], dtype=np.float64)


def validation_targets(
    width_px: int, height_px: int, *, n_points: int = 4, margin: float = 0.1
) -> np.ndarray:
    """Validation points ``[n, 2]`` between the calibration grid's points (4 or 8).

    They sit half way between the 3 x 3 grid's rows and columns, so they test the map where
    it interpolates rather than where it was fitted.
    """
    lo, hi = margin, 1.0 - margin
    q1, q3 = (lo + 0.5) / 2, (hi + 0.5) / 2
    if n_points == 4:
        unit = _grid((q1, q3), (q1, q3))
    elif n_points == 8:
        unit = np.vstack([_grid((q1, q3), (q1, q3)),
                          np.array([(0.5, q1), (q1, 0.5), (q3, 0.5), (0.5, q3)])])
    else:
        raise CalibrationError(f"{n_points} validation points is not offered; use 4 or 8")
    return unit * np.array([width_px, height_px], dtype=np.float64)


@dataclass
class CalibrationSamples:
    """Feature rows collected while targets were shown.

    ``faces`` are the accepted FaceFrames, ``target_px[i]`` and ``point[i]`` the target shown
    and its index in the sequence when ``faces[i]`` was captured.
    """

    faces: list[FaceFrame] = field(default_factory=list)
    target_px: list[tuple[float, float]] = field(default_factory=list)
    point: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.faces)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Base features ``[N, 8]``, targets ``[N, 2]``, point index ``[N]``, distance ``[N]``."""
        columns = face_arrays_from_frames(self.faces)
        return (base_features(columns), np.asarray(self.target_px, dtype=np.float64).reshape(-1, 2),
                np.asarray(self.point, dtype=np.int64), columns["distance_mm"])


class SampleCollector:
    """Collects feature samples per target with the rules in the module docstring.

    Call :meth:`start_point` when a target appears (with the session time it was drawn),
    :meth:`add` for every FaceFrame while it is shown, and :meth:`end_point` when it goes.
    ``counts`` says why frames were left out (``settling``, ``no_face``, ``blink``,
    ``no_target``) and how many were ``accepted``.
    """

    def __init__(
        self,
        *,
        settle_ms: float = 300.0,
        blink_threshold: float = 0.5,
        after_blink_ms: float = 100.0,
    ) -> None:
        self.settle_ms = settle_ms
        self.blink_threshold = blink_threshold
        self.after_blink_ms = after_blink_ms
        self.samples = CalibrationSamples()
        self.counts = {"accepted": 0, "settling": 0, "no_face": 0, "blink": 0, "no_target": 0}
        self._target: tuple[float, float] | None = None
        self._point = -1
        self._shown_ns = 0
        self._last_blink_ns: int | None = None

    def start_point(self, target_px: Sequence[float], t_ns: int) -> None:
        self._target = (float(target_px[0]), float(target_px[1]))
        self._point += 1
        self._shown_ns = t_ns

    def end_point(self) -> None:
        self._target = None

    def add(self, face: FaceFrame) -> bool:
        """Offer one frame; ``True`` if it was kept as a sample."""
        reason = self._rejection(face)
        self.counts[reason or "accepted"] += 1
        if reason is not None:
            return False
        assert self._target is not None
        self.samples.faces.append(face)
        self.samples.target_px.append(self._target)
        self.samples.point.append(self._point)
        return True

    def _rejection(self, face: FaceFrame) -> str | None:
        if self._target is None:
            return "no_target"
        features = np.asarray(face.eye_features_norm, dtype=np.float64)
        if not face.present or not np.all(np.isfinite(features)):
            return "no_face"
        closure = eye_closure(face.blendshapes)
        if not math.isfinite(closure) or closure >= self.blink_threshold:
            self._last_blink_ns = face.t_ns
            return "blink"
        if (self._last_blink_ns is not None
                and face.t_ns - self._last_blink_ns < self.after_blink_ms * 1e6):
            return "blink"
        if face.t_ns - self._shown_ns < self.settle_ms * 1e6:
            return "settling"
        return None


def _ridge(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """Ridge on standardised columns with an unpenalised intercept (closed form).

    Returns ``mean [F]``, ``scale [F]``, ``coef [F, 2]``, ``intercept [2]``.
    """
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-12] = 1.0
    Z = (X - mean) / scale                      # [N, F]
    y_mean = Y.mean(axis=0)                     # [2]
    gram = Z.T @ Z + alpha * len(Z) * np.eye(Z.shape[1])
    coef = np.linalg.solve(gram, Z.T @ (Y - y_mean))   # [F, 2]
    return mean, scale, coef, y_mean


def _predict(params: tuple[np.ndarray, ...], X: np.ndarray) -> np.ndarray:
    mean, scale, coef, intercept = params
    return ((X - mean) / scale) @ coef + intercept


def _loto_error(X: np.ndarray, Y: np.ndarray, groups: np.ndarray, alpha: float) -> float:
    """Mean pixel error predicting each target's samples from a fit to all other targets."""
    errors = []
    for group in np.unique(groups):
        held = groups == group
        params = _ridge(X[~held], Y[~held], alpha)
        errors.append(np.hypot(*(_predict(params, X[held]) - Y[held]).T))
    return float(np.mean(np.concatenate(errors)))


def fit_calibration(
    samples: CalibrationSamples,
    screen: ScreenGeometry,
    *,
    degrees: Iterable[int] = DEFAULT_DEGREES,
    alphas: Iterable[float] = DEFAULT_ALPHAS,
    min_samples_per_point: int = 3,
) -> tuple[GazeMapping, dict[str, Any]]:
    """Fit the feature-to-screen map; return it and a report of how it was chosen.

    Every (degree, alpha) pair is scored by leave-one-target-out error and the best one is
    refitted on all samples. The report has ``candidates`` (each pair's cross-validated
    error), ``chosen``, ``fit_mean_px`` and ``fit_median_px`` (error on the fitting samples),
    ``cv_mean_px`` and sample counts. Raises :class:`CalibrationError` when fewer than four
    targets have ``min_samples_per_point`` usable samples.
    """
    base, target, point, _ = samples.arrays()
    usable = np.all(np.isfinite(base), axis=1)
    base, target, point = base[usable], target[usable], point[usable]
    counts = {int(p): int(np.sum(point == p)) for p in np.unique(point)}
    good_points = [p for p, c in counts.items() if c >= min_samples_per_point]
    if len(good_points) < 4:
        raise CalibrationError(
            f"only {len(good_points)} calibration point(s) have {min_samples_per_point}+ usable "
            "samples (need 4): keep the face in view, look at each target until it moves, and "
            "run the calibration again")
    keep = np.isin(point, good_points)
    base, target, point = base[keep], target[keep], point[keep]

    candidates = []
    for degree in degrees:
        X = expand_features(base, degree)
        for alpha in alphas:
            candidates.append({"degree": int(degree), "alpha": float(alpha),
                               "cv_mean_px": _loto_error(X, target, point, alpha)})
    best = min(candidates, key=lambda c: (c["cv_mean_px"], c["degree"], -c["alpha"]))
    X = expand_features(base, best["degree"])
    mean, scale, coef, intercept = _ridge(X, target, best["alpha"])
    mapping = GazeMapping(screen=screen, degree=best["degree"], alpha=best["alpha"],
                          mean=mean, scale=scale, coef=coef, intercept=intercept)
    errors = np.hypot(*(mapping.predict_features(base) - target).T)
    report = {
        "n_points": len(good_points),
        "n_samples": int(len(base)),
        "chosen": {"degree": best["degree"], "alpha": best["alpha"]},
        "cv_mean_px": best["cv_mean_px"],
        "fit_mean_px": float(errors.mean()),
        "fit_median_px": float(np.median(errors)),
        "candidates": candidates,
    }
    log.info("gaze calibration fitted: degree %d, alpha %g, fit %.1f px, cross-validated %.1f px",
             best["degree"], best["alpha"], report["fit_mean_px"], best["cv_mean_px"])
    return mapping, report


def visual_angle_deg(
    predicted_px: np.ndarray, target_px: np.ndarray, screen: ScreenGeometry, distance_mm: float
) -> np.ndarray:
    """``[N]`` angles between the rays from the eye to predicted and to target points.

    The eye is placed ``distance_mm`` in front of the screen's centre, the usual set-up.
    """
    mm = np.array(screen.mm_per_px)
    centre = np.array([screen.width_px, screen.height_px]) / 2.0
    n = len(predicted_px)
    depth = np.full((n, 1), float(distance_mm))
    a = np.hstack([(np.asarray(predicted_px) - centre) * mm, depth])   # [N, 3]
    b = np.hstack([(np.asarray(target_px) - centre) * mm, depth])      # [N, 3]
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def validation_report(
    mapping: GazeMapping,
    samples: CalibrationSamples,
    *,
    distance_mm: float | None = None,
) -> dict[str, Any]:
    """Accuracy on validation samples: mean and median error in pixels and degrees.

    ``distance_mm`` defaults to the median face-to-camera distance measured during the
    validation (iris size); the report says which was used. Per point it gives the mean
    error and the number of samples.
    """
    base, target, point, measured = samples.arrays()
    predicted = mapping.predict_features(base)
    usable = np.all(np.isfinite(predicted), axis=1)
    if not np.any(usable):
        raise CalibrationError("no usable validation samples: keep the face in view and "
                               "look at each validation target")
    predicted, target, point = predicted[usable], target[usable], point[usable]
    source = "given"
    if distance_mm is None:
        finite = measured[usable][np.isfinite(measured[usable])]
        distance_mm = float(np.median(finite)) if finite.size else 600.0
        source = "measured (iris)" if finite.size else "assumed 600 mm"
    errors_px = np.hypot(*(predicted - target).T)
    errors_deg = visual_angle_deg(predicted, target, mapping.screen, distance_mm)
    per_point = [
        {"point": int(p), "target_px": target[point == p][0].tolist(),
         "mean_px": float(errors_px[point == p].mean()),
         "mean_deg": float(errors_deg[point == p].mean()), "n_samples": int(np.sum(point == p))}
        for p in np.unique(point)
    ]
    return {
        "n_points": len(per_point),
        "n_samples": int(len(errors_px)),
        "mean_px": float(errors_px.mean()),
        "median_px": float(np.median(errors_px)),
        "mean_deg": float(errors_deg.mean()),
        "median_deg": float(np.median(errors_deg)),
        "distance_mm": float(distance_mm),
        "distance_source": source,
        "screen": mapping.screen.to_dict(),
        "per_point": per_point,
    }


def fit_record(mapping: GazeMapping, report: dict[str, Any], t_ns: int) -> CalibrationRecord:
    """The session record of a fit; ``model`` is everything needed to re-apply it."""
    return CalibrationRecord(t_ns=t_ns, kind="fit", model=mapping.to_dict(), report=report)


def validation_record(
    mapping: GazeMapping, report: dict[str, Any], t_ns: int
) -> CalibrationRecord:
    return CalibrationRecord(t_ns=t_ns, kind="validation", model=mapping.to_dict(), report=report)


def mapping_from_record(record: CalibrationRecord) -> GazeMapping:
    """Re-create a stored mapping, e.g. to apply it to a recorded session's face rows."""
    try:
        return GazeMapping.from_dict(record.model)
    except (KeyError, TypeError, ValueError) as error:
        raise CalibrationError(f"stored calibration cannot be used: {error}") from error


def latest_mapping(records: Iterable[CalibrationRecord]) -> GazeMapping | None:
    """The mapping of the last fit in a session's calibration records, if any."""
    fits = [r for r in records if r.kind == "fit"]
    return mapping_from_record(max(fits, key=lambda r: r.t_ns)) if fits else None
