"""Gaze application: the uncalibrated attention estimate and One Euro smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensing.filters import OneEuroFilter
from sensing.gaze import GazeTracker, attention_on_screen
from sensing.records import FaceFrame


def face(t_ns: int = 0, *, yaw: float = 0.0, pitch: float = -10.0,
         eyes: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.5)) -> FaceFrame:
    return FaceFrame(t_ns=t_ns, face_count=1, present=True, confidence=0.5, yaw_deg=yaw,
                     pitch_deg=pitch, roll_deg=0.0, translation_mm=(0.0, 0.0, -550.0),
                     eye_features_norm=eyes, eye_openness=(0.3, 0.3), distance_mm=550.0)


def columns(*frames: FaceFrame) -> dict[str, np.ndarray]:
    return {
        "present": np.array([f.present for f in frames]),
        "eye_features_norm": np.array([f.eye_features_norm for f in frames]),
        "yaw_deg": np.array([f.yaw_deg for f in frames]),
        "pitch_deg": np.array([f.pitch_deg for f in frames]),
        "translation_mm": np.array([f.translation_mm for f in frames]),
    }


def test_attention_is_on_screen_facing_it_and_off_when_turned_away():
    estimate = attention_on_screen(columns(face(), face(yaw=50.0), face(pitch=-60.0)))
    assert estimate.tolist() == [1.0, 0.0, 0.0]


def test_eyes_turned_far_to_one_side_take_attention_off_screen():
    # Both irises at their outer-left extreme: each eye's x runs inner to outer corner.
    sideways = face(eyes=(0.8, 0.5, 0.2, 0.5))
    assert attention_on_screen(columns(sideways)).tolist() == [0.0]


def test_attention_is_unknown_without_a_face():
    absent = FaceFrame(t_ns=0)
    assert math.isnan(attention_on_screen(columns(absent, face()))[0])


def test_the_uncalibrated_tracker_flags_its_estimate_as_uncalibrated():
    annotated = GazeTracker().annotate(face())
    assert annotated.on_screen is True and annotated.gaze_calibrated is False
    assert math.isnan(annotated.gaze_px[0])


def test_one_euro_filter_leaves_a_constant_signal_unchanged():
    smoother = OneEuroFilter()
    outputs = [smoother(k / 30, np.array([100.0, 200.0])) for k in range(30)]
    assert outputs[-1] == pytest.approx([100.0, 200.0])


def test_one_euro_filter_reduces_jitter_of_a_fixation():
    rng = np.random.default_rng(0)
    noisy = 500.0 + rng.normal(0, 20, size=300)
    smoother = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
    smooth = np.array([smoother(k / 30, x)[0] for k, x in enumerate(noisy)])
    assert smooth[30:].std() < noisy[30:].std() / 3


def test_one_euro_filter_follows_a_fast_jump_with_little_lag_when_beta_is_high():
    slow, fast = OneEuroFilter(beta=0.0), OneEuroFilter(beta=0.1)
    signal = [0.0] * 30 + [800.0] * 5
    slow_out = [slow(k / 30, x)[0] for k, x in enumerate(signal)]
    fast_out = [fast(k / 30, x)[0] for k, x in enumerate(signal)]
    assert fast_out[-1] > 700 and fast_out[-1] > slow_out[-1] + 100


def test_one_euro_filter_restarts_after_a_lost_face():
    smoother = OneEuroFilter()
    smoother(0.0, np.array([0.0]))
    assert math.isnan(smoother(0.033, np.array([math.nan]))[0])
    assert smoother(0.066, np.array([900.0]))[0] == pytest.approx(900.0)
