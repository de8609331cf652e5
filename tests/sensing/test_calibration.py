"""Calibration: targets, sample rules, a fit that recovers a known map, offline re-application."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensing.calibration import (
    CalibrationError,
    CalibrationSamples,
    SampleCollector,
    calibration_targets,
    fit_calibration,
    fit_record,
    latest_mapping,
    validation_report,
    validation_targets,
    visual_angle_deg,
)
from sensing.gaze import ScreenGeometry, face_arrays_from_frames
from sensing.records import BLENDSHAPE_NAMES, CalibrationRecord, FaceFrame

SCREEN = ScreenGeometry(width_px=1920, height_px=1080, width_mm=344.0, height_mm=194.0)
BLINK = BLENDSHAPE_NAMES.index("eyeBlinkLeft"), BLENDSHAPE_NAMES.index("eyeBlinkRight")

# The known map: screen = A @ [left_x, left_y] + B @ [right_x, right_y] + C @ head + b.
A = np.array([[900.0, 0.0], [0.0, 1100.0]])
B = np.array([[-1500.0, 80.0], [60.0, 1400.0]])
C = np.array([[14.0, 0.0, 2.0, 0.0], [0.0, -16.0, 0.0, 1.5]])  # yaw, pitch, head x, head y
OFFSET = np.array([1000.0, -900.0])


def synthetic_frame(target: np.ndarray, t_ns: int, rng: np.random.Generator) -> FaceFrame:
    """A face whose features map exactly to ``target`` under the known map."""
    left = rng.uniform(0.35, 0.65, size=2)
    head = np.array([rng.normal(0, 4), rng.normal(-8, 3), rng.normal(0, 20), rng.normal(0, 15)])
    right = np.linalg.solve(B, target - OFFSET - A @ left - C @ head)
    return FaceFrame(
        t_ns=t_ns, face_count=1, present=True, confidence=0.5,
        blendshapes=np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32),
        yaw_deg=float(head[0]), pitch_deg=float(head[1]), roll_deg=0.0,
        translation_mm=(float(head[2]), float(head[3]), -560.0),
        eye_features_norm=(float(left[0]), float(left[1]), float(right[0]), float(right[1])),
        eye_openness=(0.3, 0.3), distance_mm=560.0,
    )


def collect(targets: np.ndarray, seed: int, *, frames_per_point: int = 30) -> SampleCollector:
    rng = np.random.default_rng(seed)
    collector = SampleCollector()
    t_ns = 0
    for target in targets:
        collector.start_point(target, t_ns)
        for _ in range(frames_per_point):
            collector.add(synthetic_frame(target, t_ns, rng))
            t_ns += 33_333_333
        collector.end_point()
    return collector


def test_nine_targets_cover_the_screen_inside_its_margins():
    targets = calibration_targets(1920, 1080)
    assert targets.shape == (9, 2)
    assert targets[:, 0].min() == pytest.approx(192) and targets[:, 0].max() == pytest.approx(1728)
    assert targets[:, 1].min() == pytest.approx(108) and targets[:, 1].max() == pytest.approx(972)
    assert len({tuple(t) for t in targets}) == 9


@pytest.mark.parametrize("size", [(1280, 800), (3840, 2160), (800, 1280)])
def test_validation_targets_differ_from_calibration_targets(size):
    calibration = calibration_targets(*size)
    validation = validation_targets(*size, n_points=8)
    assert validation.shape == (8, 2)
    assert np.all((validation > 0) & (validation < np.array(size)))
    distances = np.linalg.norm(validation[:, None] - calibration[None], axis=2)
    assert distances.min() > 0.1 * min(size)


def test_the_collector_discards_settling_blinks_and_missing_faces():
    rng = np.random.default_rng(1)
    collector = SampleCollector(settle_ms=300, after_blink_ms=100)
    target = np.array([960.0, 540.0])
    collector.start_point(target, 0)
    ms = 1_000_000
    collector.add(synthetic_frame(target, 100 * ms, rng))        # settling
    blinking = synthetic_frame(target, 400 * ms, rng)
    blinking.blendshapes[list(BLINK)] = 0.8
    collector.add(blinking)                                        # blink
    collector.add(synthetic_frame(target, 450 * ms, rng))         # just after the blink
    collector.add(FaceFrame(t_ns=500 * ms))                        # no face
    assert collector.add(synthetic_frame(target, 600 * ms, rng))  # kept
    collector.end_point()
    collector.add(synthetic_frame(target, 700 * ms, rng))         # no target shown
    assert collector.counts == {"accepted": 1, "settling": 1, "no_face": 1, "blink": 2,
                                "no_target": 1}
    assert len(collector.samples) == 1


def test_the_fit_recovers_a_known_linear_map_within_a_pixel():
    fitted = collect(calibration_targets(SCREEN.width_px, SCREEN.height_px), seed=2)
    mapping, fit_report = fit_calibration(fitted.samples, SCREEN)
    checked = collect(validation_targets(SCREEN.width_px, SCREEN.height_px), seed=3)
    report = validation_report(mapping, checked.samples)
    assert report["mean_px"] < 1.0 and report["median_px"] < 1.0
    assert fit_report["fit_mean_px"] < 1.0 and fit_report["n_points"] == 9
    # The report's figure is the error it measured, not a constant.
    base, target, _, _ = checked.samples.arrays()
    errors = np.hypot(*(mapping.predict_features(base) - target).T)
    assert report["mean_px"] == pytest.approx(errors.mean())
    assert report["distance_mm"] == pytest.approx(560.0)
    assert report["mean_deg"] < 0.05


def test_noisy_samples_give_an_honest_error_in_pixels_and_degrees():
    fitted = collect(calibration_targets(SCREEN.width_px, SCREEN.height_px), seed=4)
    rng = np.random.default_rng(5)
    for face in fitted.samples.faces:
        face.eye_features_norm = tuple(np.array(face.eye_features_norm)
                                       + rng.normal(0, 0.01, 4))
    mapping, _ = fit_calibration(fitted.samples, SCREEN)
    checked = collect(validation_targets(SCREEN.width_px, SCREEN.height_px), seed=6)
    for face in checked.samples.faces:
        face.eye_features_norm = tuple(np.array(face.eye_features_norm)
                                       + rng.normal(0, 0.01, 4))
    report = validation_report(mapping, checked.samples)
    assert 5.0 < report["mean_px"] < 60.0
    px_per_deg = 560.0 * math.tan(math.radians(1)) / (344.0 / 1920)
    assert report["mean_deg"] == pytest.approx(report["mean_px"] / px_per_deg, rel=0.2)


def test_a_stored_calibration_re_applies_to_recorded_face_rows():
    fitted = collect(calibration_targets(SCREEN.width_px, SCREEN.height_px), seed=7)
    mapping, report = fit_calibration(fitted.samples, SCREEN)
    record = fit_record(mapping, report, t_ns=123)
    restored = latest_mapping([CalibrationRecord(t_ns=5, kind="validation", model={},
                                                 report={}), record])
    rows = face_arrays_from_frames(fitted.samples.faces + [FaceFrame(t_ns=10**12)])
    gaze, on_screen = restored.apply_to_face_rows(rows)
    direct, _ = mapping.apply_to_face_rows(rows)
    assert gaze.shape == (len(rows["t_ns"]), 2)
    np.testing.assert_allclose(gaze, direct)
    assert np.all(on_screen[:-1] == 1.0) and np.isnan(on_screen[-1]) and np.isnan(gaze[-1]).all()


def test_a_gaze_far_outside_the_screen_is_off_screen():
    fitted = collect(calibration_targets(SCREEN.width_px, SCREEN.height_px), seed=8)
    mapping, _ = fit_calibration(fitted.samples, SCREEN)
    flags = mapping.on_screen(np.array([[960.0, 540.0], [-400.0, 540.0], [960.0, 2000.0]]))
    assert flags.tolist() == [1.0, 0.0, 0.0]
    labelled = mapping.apply_to_frame(fitted.samples.faces[0])
    assert labelled.gaze_calibrated and labelled.on_screen is True


def test_too_few_usable_points_is_a_calibration_error():
    collector = collect(calibration_targets(1920, 1080)[:3], seed=9)
    with pytest.raises(CalibrationError, match="need 4"):
        fit_calibration(collector.samples, SCREEN)
    with pytest.raises(CalibrationError):
        fit_calibration(CalibrationSamples(), SCREEN)


def test_visual_angle_of_a_known_offset():
    # 10 mm beside the centre seen from 573 mm is one degree.
    screen = ScreenGeometry(1000, 1000, 1000.0, 1000.0)
    angle = visual_angle_deg(np.array([[510.0, 500.0]]), np.array([[500.0, 500.0]]), screen,
                             573.0)
    assert angle[0] == pytest.approx(1.0, abs=0.01)
