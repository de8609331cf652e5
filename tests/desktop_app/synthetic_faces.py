"""Synthetic FaceFrames for calibration: eye features a known linear function of the target."""

from __future__ import annotations

import numpy as np

from sensing.records import FaceFrame


class SyntheticEyes:
    """Makes the FaceFrame a participant looking at ``target_px`` would give, plus noise."""

    def __init__(self, width_px: int, height_px: int, *, seed: int = 0,
                 noise: float = 0.002) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.rng = np.random.default_rng(seed)
        self.noise = noise

    def face(self, t_ns: int, target_px: tuple[float, float] | None,
             *, present: bool = True) -> FaceFrame:
        if not present or target_px is None:
            return FaceFrame(t_ns=t_ns)
        u = target_px[0] / self.width_px - 0.5
        v = target_px[1] / self.height_px - 0.5
        eyes = np.array([0.5 + 0.3 * u, 0.5 + 0.2 * v, 0.5 - 0.3 * u, 0.5 + 0.2 * v])
        eyes = eyes + self.rng.normal(0, self.noise, 4)
        return FaceFrame(
            t_ns=t_ns, face_count=1, present=True, confidence=0.95,
            blendshapes=np.zeros(52, np.float32),
            yaw_deg=float(self.rng.normal(0, 0.2)), pitch_deg=float(self.rng.normal(0, 0.2)),
            roll_deg=0.0,
            translation_mm=(float(self.rng.normal(0, 0.5)), float(self.rng.normal(0, 0.5)),
                            550.0),
            eye_features_norm=tuple(float(x) for x in eyes), eye_openness=(0.3, 0.3),
            distance_mm=550.0)
