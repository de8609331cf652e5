"""Expression summaries follow their documented formulas; blinks are found with hysteresis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensing.expression import (
    EXPRESSION_NAMES,
    BlinkDetector,
    detect_blinks,
    expression_matrix,
    expression_summaries,
)
from sensing.records import BLENDSHAPE_NAMES

PERIOD_NS = 33_333_333  # 30 fps


def blendshapes(**scores: float) -> np.ndarray:
    values = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
    for name, score in scores.items():
        values[BLENDSHAPE_NAMES.index(name)] = score
    return values


def test_summaries_average_the_coefficients_of_their_action_unit():
    summary = expression_summaries(blendshapes(
        mouthSmileLeft=0.8, mouthSmileRight=0.4, browInnerUp=0.3, browOuterUpLeft=0.6,
        browOuterUpRight=0.0, browDownLeft=0.2, jawOpen=0.7, noseSneerRight=0.5))
    assert summary["smile"] == pytest.approx(0.6)
    assert summary["brow_raise"] == pytest.approx(0.3)
    assert summary["brow_lower"] == pytest.approx(0.1)
    assert summary["jaw_open"] == pytest.approx(0.7)
    assert summary["nose_wrinkle"] == pytest.approx(0.25)
    assert summary["eye_closure"] == pytest.approx(0.0)


def test_summaries_of_many_frames_are_columns_and_nan_without_a_face():
    frames = np.stack([blendshapes(jawOpen=0.2), np.full(len(BLENDSHAPE_NAMES), np.nan)])
    matrix = expression_matrix(frames)
    assert matrix.shape == (2, len(EXPRESSION_NAMES))
    assert matrix[0, EXPRESSION_NAMES.index("jaw_open")] == pytest.approx(0.2)
    assert np.all(np.isnan(matrix[1]))


def closure_series(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(len(values), dtype=np.int64) * PERIOD_NS, np.array(values)


def test_noise_around_one_threshold_makes_one_blink_not_several():
    # Closure wobbles about 0.5 (the closing threshold) without dropping under 0.35.
    t, closure = closure_series([0.1, 0.1, 0.55, 0.45, 0.6, 0.48, 0.9, 0.4, 0.2, 0.1])
    blinks, _ = detect_blinks(t, closure)
    assert len(blinks) == 1
    assert blinks[0].start_ns == 2 * PERIOD_NS and blinks[0].end_ns == 8 * PERIOD_NS
    assert blinks[0].duration_ms == pytest.approx(200, abs=0.01)


def test_a_one_frame_flicker_is_not_a_blink_and_a_long_closure_is_not_either():
    short = [0.0, 0.0, 0.9, 0.0, 0.0]  # closes and opens within 33 ms (< 50 ms)
    long = [0.0] + [0.9] * 30 + [0.0]   # one second closed
    detector = BlinkDetector()
    t, closure = closure_series(short + long)
    events = [detector.update(int(a), float(b)) for a, b in zip(t, closure, strict=True)]
    found = [event for event in events if event is not None]
    assert detector.blinks == []
    assert len(found) == 1 and found[0].kind == "closure" and found[0].duration_ms > 500


def test_losing_the_face_abandons_a_closure_in_progress():
    t, closure = closure_series([0.0, 0.9, 0.9, math.nan, 0.0, 0.0])
    blinks, _ = detect_blinks(t, closure)
    assert blinks == []


def test_blink_rate_counts_blinks_per_minute_of_observed_face_time():
    one_blink = [0.0] * 10 + [0.9] * 5 + [0.0] * 15  # 30 frames, one second
    t, closure = closure_series(one_blink * 10)        # ten seconds, ten blinks
    blinks, rate = detect_blinks(t, closure)
    assert len(blinks) == 10
    assert rate == pytest.approx(10 / ((300 - 1) * PERIOD_NS / 60e9))


def test_thresholds_must_leave_room_for_hysteresis():
    with pytest.raises(ValueError, match="hysteresis"):
        BlinkDetector(close_threshold=0.3, open_threshold=0.4)
