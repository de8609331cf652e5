"""Vision features from face rows: presence, head pose, gaze, fixations, blinks, expressions.

Formulas are listed per feature in :mod:`fusion.schema`. Fixations and saccades follow the
velocity-threshold identification I-VT of Salvucci & Goldberg (2000, "Identifying fixations
and saccades in eye-tracking protocols"): a calibrated gaze row belongs to a fixation when its
angular velocity from the previous calibrated row is below ``saccade_velocity_deg_s``; a
velocity is only computed between rows at most ``velocity_max_interval_s`` apart, so a gap in
the gaze stream is never bridged. Screen positions become visual angle as
``atan(px * screen_mm_per_px / distance_mm)``, with the row's distance estimate when known.
Blinks are onsets of the mean eyeBlink blendshape above ``blink_threshold`` (the MediaPipe
analogue of eye-aspect-ratio blink detection, Soukupova & Cech 2016); eye closure share is a
PERCLOS-like share of closed rows (Wierwille et al. 1994).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion.align import StepGrid, grid_windows, hold, safe_ratio
from fusion.settings import FusionSettings
from sensing.records import BLENDSHAPE_NAMES

_B = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "brow_raise": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "brow_lower": ("browDownLeft", "browDownRight"),
    "jaw_open": ("jawOpen",),
}
BLINK_SHAPES: tuple[str, ...] = ("eyeBlinkLeft", "eyeBlinkRight")


@dataclass
class VisionResult:
    """Vision columns ``values[name][T]``, ``valid[name][T]`` and per-step evidence."""

    values: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    no_face: np.ndarray          # [T] camera available but no face in the window (nor held)
    gaze_uncalibrated: np.ndarray  # [T] no calibrated gaze in the window (nor held)


class WindowStats:
    """Means, variances and shares of face-row quantities over the step windows."""

    def __init__(self, t_ns: np.ndarray, grid: StepGrid, settings: FusionSettings) -> None:
        self.t_ns = t_ns
        self.ends = grid.ends_ns
        self.window = grid_windows(t_ns, grid)
        self.max_gap_ns = round(settings.max_gap_s * 1e9)

    def _held(self, value: np.ndarray, count: np.ndarray,
              mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        last = self.window.last_time_where(self.t_ns, mask)
        return hold(value, count > 0, last, self.ends, max_gap_ns=self.max_gap_ns)

    def mean(self, x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = rows & np.isfinite(x)
        count = self.window.count_where(mask)
        total = self.window.sum(np.where(mask, x, 0.0))
        return self._held(safe_ratio(total, count), count, mask)

    def share(self, hits: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = self.window.count_where(rows)
        return self._held(safe_ratio(self.window.count_where(hits & rows), count), count, rows)

    def spread(self, xs: tuple[np.ndarray, ...],
               rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sqrt(sum of per-axis variances) over rows; the variance is the population one."""
        mask = rows.copy()
        for x in xs:
            mask &= np.isfinite(x)
        count = self.window.count_where(mask)
        total_var = np.zeros(self.ends.shape[0])
        for x in xs:
            clean = np.where(mask, x, 0.0)
            mean = safe_ratio(self.window.sum(clean), count)
            total_var += safe_ratio(self.window.sum(clean * clean), count) - mean * mean
        return self._held(np.sqrt(np.maximum(total_var, 0.0)), count, mask)

    def rate(self, events: np.ndarray, rows: np.ndarray,
             window_s: float) -> tuple[np.ndarray, np.ndarray]:
        count = self.window.count_where(rows)
        return self._held(self.window.count_where(events & rows) / window_s, count, rows)


def region_at(t_ns: np.ndarray, change_t_ns: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """The content region [left, top, width, height] current at each row time, [N, 4]."""
    index = np.searchsorted(change_t_ns, t_ns, side="right") - 1
    out = np.full((t_ns.shape[0], 4), np.nan)
    known = index >= 0
    out[known] = regions[index[known]]
    return out


def gaze_degrees(gaze_px: np.ndarray, distance_mm: np.ndarray,
                 settings: FusionSettings) -> np.ndarray:
    """Screen positions [N, 2] px as visual angle [N, 2] deg at each row's viewing distance."""
    distance = np.where(np.isfinite(distance_mm) & (distance_mm > 0), distance_mm,
                        settings.viewing_distance_mm)
    return np.degrees(np.arctan2(gaze_px * settings.screen_mm_per_px, distance[:, None]))


def vision_features(face: dict[str, np.ndarray], grid: StepGrid, *, settings: FusionSettings,
                    unavailable: np.ndarray, content_change_t_ns: np.ndarray,
                    content_regions: np.ndarray) -> VisionResult:
    """Vision columns of the schema from ``Session.face()`` arrays.

    ``unavailable[T]`` marks steps whose camera stream was not consented, paused or in a
    recorded gap; ``content_change_t_ns[J]`` and ``content_regions[J, 4]`` give the content
    region from each content marker on (NaN where none is shown).
    """
    t_ns = face["t_ns"]
    stats = WindowStats(t_ns, grid, settings)
    window_s = settings.window
    present = face["present"].astype(bool)
    blend = face["blendshapes"]  # [N, 52] float32; only the columns used are widened
    values: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}

    def put(name: str, result: tuple[np.ndarray, np.ndarray]) -> None:
        values[name], valid[name] = result

    all_rows = np.ones(t_ns.shape[0], dtype=bool)
    put("face_present_share", stats.share(present, all_rows))
    put("head_yaw_mean_deg", stats.mean(face["yaw_deg"], present))
    put("head_pitch_mean_deg", stats.mean(face["pitch_deg"], present))
    put("head_motion_deg", stats.spread((face["yaw_deg"], face["pitch_deg"]), present))
    put("distance_mean_mm", stats.mean(face["distance_mm"], present))
    on_screen = face["on_screen"]
    put("gaze_on_screen_share", stats.share(on_screen == 1.0, np.isfinite(on_screen)))

    # Calibrated gaze: dispersion, I-VT fixations and saccades, dwell in the content region.
    gaze_px = face["gaze_px"]
    calibrated = (present & face["gaze_calibrated"].astype(bool)
                  & np.isfinite(gaze_px).all(axis=1))
    degrees = gaze_degrees(gaze_px, face["distance_mm"], settings)  # [N, 2]
    put("gaze_dispersion_deg", stats.spread((degrees[:, 0], degrees[:, 1]), calibrated))
    rows = np.flatnonzero(calibrated)
    velocity = np.full(t_ns.shape[0], np.nan)  # [N] deg/s from the previous calibrated row
    if rows.size > 1:
        dt_s = np.diff(t_ns[rows]) / 1e9
        step_deg = np.hypot(*np.diff(degrees[rows], axis=0).T)
        close = dt_s <= settings.velocity_max_interval_s
        velocity[rows[1:][close]] = step_deg[close] / dt_s[close]
    measured = np.isfinite(velocity)
    saccade = measured & (velocity >= settings.saccade_velocity_deg_s)
    previous_saccade = np.zeros_like(saccade)
    if rows.size > 1:
        previous_saccade[rows[1:]] = saccade[rows[:-1]]
    put("fixation_share", stats.share(measured & ~saccade, measured))
    put("saccade_rate_hz", stats.rate(saccade & ~previous_saccade, measured, window_s))
    region = region_at(t_ns, content_change_t_ns, content_regions)  # [N, 4]
    with np.errstate(invalid="ignore"):
        inside = ((gaze_px[:, 0] >= region[:, 0]) & (gaze_px[:, 0] < region[:, 0] + region[:, 2])
                  & (gaze_px[:, 1] >= region[:, 1])
                  & (gaze_px[:, 1] < region[:, 1] + region[:, 3]))
    put("dwell_content_share", stats.share(inside, calibrated))

    # Blinks and eye closure from the blink blendshapes, expressions from their groups.
    blink = blend[:, [_B[name] for name in BLINK_SHAPES]].astype(np.float64).mean(axis=1)
    has_blink = present & np.isfinite(blink)
    closed = has_blink & (np.nan_to_num(blink) > settings.blink_threshold)
    blink_rows = np.flatnonzero(has_blink)
    onset = np.zeros_like(closed)
    if blink_rows.size:
        onset[blink_rows] = closed[blink_rows] & ~np.r_[False, closed[blink_rows[:-1]]]
    put("blink_rate_hz", stats.rate(onset, has_blink, window_s))
    put("eye_closure_share", stats.share(closed, has_blink))
    for name, shapes in EXPRESSIONS.items():
        group = blend[:, [_B[s] for s in shapes]].astype(np.float64)
        put(name, stats.mean(group.mean(axis=1), present))

    for name in values:
        valid[name] = valid[name] & ~unavailable
        values[name] = np.where(valid[name], values[name], 0.0)
    no_face = ~unavailable & ~(valid["face_present_share"] & (values["face_present_share"] > 0))
    return VisionResult(values=values, valid=valid, no_face=no_face,
                        gaze_uncalibrated=~valid["gaze_dispersion_deg"] & ~unavailable)

