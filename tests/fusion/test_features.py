"""Each feature of the default schema against a hand-computed value on a built session."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.fuse import fuse_session
from fusion.schema import DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from sensing.records import BLENDSHAPE_NAMES, N_BLENDSHAPES, InputEvent, Marker
from tests.fusion.conftest import MS, S, face_rows

REGION = [0, 0, 1000, 800]


def column(dataset, name: str) -> np.ndarray:
    return dataset.states[:, DEFAULT_SCHEMA.feature_index(name)].astype(np.float64)


def valid(dataset, name: str) -> np.ndarray:
    return dataset.valid[:, DEFAULT_SCHEMA.feature_index(name)]


def keys(times_s, key_class="letter"):
    return [InputEvent(round(t * S), "key_down", key_class=key_class) for t in times_s]


def test_schema_has_sixteen_or_more_features_over_three_modalities() -> None:
    modalities = {spec.modality for spec in DEFAULT_SCHEMA.features}
    assert len(DEFAULT_SCHEMA.features) >= 16 and modalities == {"vision", "behaviour",
                                                                  "content"}
    assert DEFAULT_SCHEMA.actions == ("absent", "look_away", "type_query", "click",
                                      "scroll_back", "scroll_down", "read")


def test_face_present_share_counts_rows_with_a_face(make_session) -> None:
    rows = face_rows(0, 1, hz=20)
    for frame in rows[:5]:
        frame.present = False
    ds = fuse_session(make_session(face=rows, inputs=keys([0.9])))
    assert column(ds, "face_present_share")[:2].tolist() == [0.0, 1.0]


def test_head_pose_mean_and_motion(make_session) -> None:
    rows = face_rows(0, 0.25, hz=40)
    for i, frame in enumerate(rows):
        frame.yaw_deg, frame.pitch_deg = (10.0 if i % 2 else -10.0), 4.0
    ds = fuse_session(make_session(face=rows, inputs=keys([0.1])))
    assert column(ds, "head_yaw_mean_deg")[0] == pytest.approx(0.0, abs=1e-6)
    assert column(ds, "head_pitch_mean_deg")[0] == pytest.approx(4.0)
    assert column(ds, "head_motion_deg")[0] == pytest.approx(10.0)


def test_ivt_separates_fixations_from_saccades(make_session) -> None:
    rows = face_rows(0, 0.5, hz=40, gaze_calibrated=True)
    for i, frame in enumerate(rows):  # still for the first step, jumping 300 px per row after
        frame.gaze_px = (500.0 + 300 * ((i - 9) % 2) if i >= 10 else 500.0, 400.0)
    ds = fuse_session(make_session(face=rows, inputs=keys([0.1])))
    assert column(ds, "fixation_share").tolist() == [1.0, 0.0]
    assert column(ds, "saccade_rate_hz")[0] == 0.0
    assert column(ds, "saccade_rate_hz")[1] == pytest.approx(1 / 0.25)


def test_gaze_dispersion_is_in_degrees_of_visual_angle(make_session) -> None:
    rows = face_rows(0, 0.25, hz=40, gaze_calibrated=True)
    for i, frame in enumerate(rows):
        frame.gaze_px = (500.0 + (100 if i % 2 else -100), 400.0)
    ds = fuse_session(make_session(face=rows, inputs=keys([0.1])),
                      settings=FusionSettings(screen_mm_per_px=0.25))
    half_width_deg = (np.degrees(np.arctan2(600 * 0.25, 600))
                      - np.degrees(np.arctan2(400 * 0.25, 600))) / 2
    assert column(ds, "gaze_dispersion_deg")[0] == pytest.approx(half_width_deg, rel=1e-3)


def test_dwell_counts_gaze_inside_the_content_region(make_session) -> None:
    rows = face_rows(0, 0.5, hz=40, gaze_calibrated=True)
    for i, frame in enumerate(rows):
        frame.gaze_px = (100.0, 100.0) if i % 4 else (1500.0, 100.0)
    marker = Marker(0, "content_shown", {"content_id": "a", "region": REGION})
    ds = fuse_session(make_session(face=rows, markers=[marker], inputs=keys([0.1])))
    assert column(ds, "dwell_content_share")[1] == pytest.approx(0.8)  # rows 12, 16 outside


def test_blinks_are_counted_at_their_onset(make_session) -> None:
    rows = face_rows(0, 1.0, hz=40)
    blink = BLENDSHAPE_NAMES.index("eyeBlinkLeft")
    for i, frame in enumerate(rows):
        shapes = np.zeros(N_BLENDSHAPES, np.float32)
        if i in (3, 4, 5, 20):
            shapes[blink] = shapes[blink + 1] = 0.9
        frame.blendshapes = shapes
    ds = fuse_session(make_session(face=rows, inputs=keys([0.1])))
    assert column(ds, "blink_rate_hz").tolist() == [4.0, 0.0, 4.0, 0.0]
    assert column(ds, "eye_closure_share")[0] == pytest.approx(0.3)


def test_expressions_average_their_blendshapes(make_session) -> None:
    shapes = np.zeros(N_BLENDSHAPES, np.float32)
    shapes[BLENDSHAPE_NAMES.index("mouthSmileLeft")] = 0.8
    shapes[BLENDSHAPE_NAMES.index("jawOpen")] = 0.5
    ds = fuse_session(make_session(face=face_rows(0, 0.25, blendshapes=shapes),
                                   inputs=keys([0.1])))
    assert column(ds, "smile")[0] == pytest.approx(0.4)
    assert column(ds, "jaw_open")[0] == pytest.approx(0.5)


def test_key_rates_and_backspace_share(make_session) -> None:
    events = keys([0.01, 0.02, 0.03]) + keys([0.04], "backspace") + keys([0.05], "enter")
    ds = fuse_session(make_session(face=face_rows(0, 0.5), inputs=events))
    assert column(ds, "key_rate_hz")[0] == pytest.approx(5 / 0.25)
    assert column(ds, "text_key_rate_hz")[0] == pytest.approx(3 / 0.25)
    assert column(ds, "navigation_key_rate_hz")[0] == pytest.approx(1 / 0.25)
    assert column(ds, "backspace_share")[0] == pytest.approx(0.2)


def test_a_typing_burst_starts_with_its_third_quick_press(make_session) -> None:
    events = keys([0.1, 0.3, 0.6, 2.6])
    ds = fuse_session(make_session(face=face_rows(0, 3), inputs=events))
    burst = column(ds, "typing_burst")
    assert burst[:3].tolist() == [0.0, 0.0, 1.0] and burst[10] == 0.0


def test_mouse_path_speed_and_clicks(make_session) -> None:
    events = [InputEvent(10 * MS, "move", x_px=0.0, y_px=0.0),
              InputEvent(20 * MS, "move", x_px=30.0, y_px=40.0),
              InputEvent(30 * MS, "button_down", x_px=30.0, y_px=40.0),
              InputEvent(300 * MS, "move", x_px=30.0, y_px=140.0)]
    ds = fuse_session(make_session(face=face_rows(0, 0.5), inputs=events))
    assert column(ds, "mouse_path_px").tolist() == [50.0, 100.0]
    assert column(ds, "mouse_speed_px_s")[0] == pytest.approx(200.0)
    assert column(ds, "clicks").tolist() == [1.0, 0.0]


def test_thinned_moves_count_the_exact_path_they_carry(make_session) -> None:
    # The capture merged a curved path into two kept moves: 70 px and 25 px travelled,
    # although the straight lines between the kept positions are 50 px and 0 px.
    events = [InputEvent(10 * MS, "move", x_px=0.0, y_px=0.0, dx=0.0, dy=1.0),
              InputEvent(20 * MS, "move", x_px=30.0, y_px=40.0, dx=70.0, dy=12.0),
              InputEvent(30 * MS, "button_down", x_px=30.0, y_px=40.0),
              InputEvent(40 * MS, "move", x_px=30.0, y_px=40.0, dx=25.0, dy=5.0)]
    ds = fuse_session(make_session(face=face_rows(0, 0.25), inputs=events))
    assert column(ds, "mouse_path_px")[0] == 95.0


def test_scroll_up_and_down_are_separated_by_sign(make_session) -> None:
    events = [InputEvent(10 * MS, "scroll", dx=0.0, dy=-3.0),
              InputEvent(20 * MS, "scroll", dx=0.0, dy=1.0)]
    ds = fuse_session(make_session(face=face_rows(0, 0.25), inputs=events),
                      settings=FusionSettings(scroll_px_per_unit=10))
    assert column(ds, "scroll_down_px")[0] == 30.0
    assert column(ds, "scroll_up_px")[0] == 10.0


def test_idle_is_time_since_the_last_input(make_session) -> None:
    ds = fuse_session(make_session(face=face_rows(0, 1), inputs=keys([0.1])))
    assert column(ds, "idle_s").tolist() == pytest.approx([0.15, 0.4, 0.65, 0.9])


def test_content_time_revisits_and_episodes(make_session) -> None:
    markers = [Marker(0, "content_shown", {"content_id": "a", "region": REGION}),
               Marker(S, "content_shown", {"content_id": "b", "region": REGION}),
               Marker(2 * S, "content_shown", {"content_id": "a", "region": REGION})]
    ds = fuse_session(make_session(face=face_rows(0, 3), markers=markers, inputs=keys([0.1])))
    assert column(ds, "time_on_content_s")[[3, 5]].tolist() == [1.0, 0.5]
    assert column(ds, "content_revisits")[[3, 7, 9]].tolist() == [0.0, 0.0, 1.0]
    assert ds.episode[[0, 3, 4, 8, 11]].tolist() == [1, 1, 2, 3, 3]


def test_review_time_accumulates_per_content_across_visits(make_session) -> None:
    markers = [Marker(0, "content_shown", {"content_id": "a"}),
               Marker(S, "content_shown", {"content_id": "b"}),
               Marker(2 * S, "content_shown", {"content_id": "a"})]
    ds = fuse_session(make_session(face=face_rows(0, 3), markers=markers, inputs=keys([0.1])))
    review = column(ds, "review_time_s")
    assert review[3] == pytest.approx(1.0)
    assert review[7] == pytest.approx(1.0)
    assert review[9] == pytest.approx(1.5)


def test_query_depth_counts_queries_about_the_current_content(make_session) -> None:
    markers = [Marker(0, "content_shown", {"content_id": "a"}),
               Marker(100 * MS, "query_submitted", {}),
               Marker(600 * MS, "query_submitted", {"follow_up": True}),
               Marker(S, "content_shown", {"content_id": "b"})]
    ds = fuse_session(make_session(face=face_rows(0, 1.5), markers=markers,
                                   inputs=keys([0.1])))
    assert column(ds, "query_depth").tolist() == [1.0, 1.0, 2.0, 2.0, 0.0, 0.0]


def test_reengagement_adds_scroll_backs_over_the_content(make_session) -> None:
    markers = [Marker(0, "content_shown", {"content_id": "a"})]
    events = [InputEvent(100 * MS, "scroll", dx=0.0, dy=5.0)]
    ds = fuse_session(make_session(face=face_rows(0, 0.5), markers=markers, inputs=events),
                      settings=FusionSettings(scroll_px_per_unit=40, scroll_back_unit_px=400))
    assert column(ds, "reengagement").tolist() == [0.5, 0.5]


def test_content_of_the_same_topic_counts_as_a_revisit(make_session) -> None:
    markers = [Marker(0, "content_shown", {"content_id": "a", "topic": "tides"}),
               Marker(S, "content_shown", {"content_id": "b", "topic": "tides"}),
               Marker(2 * S, "content_shown", {"content_id": "c", "topic": "moons"})]
    ds = fuse_session(make_session(face=face_rows(0, 3), markers=markers, inputs=keys([0.1])))
    assert column(ds, "content_revisits")[[3, 7, 11]].tolist() == [0.0, 1.0, 0.0]


def test_engagement_follows_the_configured_weights(make_session) -> None:
    from fusion.engagement import EngagementConfig

    markers = [Marker(0, "content_shown", {"content_id": "a"}),
               Marker(100 * MS, "query_submitted", {})]
    path = make_session(face=face_rows(0, 1), markers=markers, inputs=keys([0.1]))
    only_queries = EngagementConfig.from_dict({"weights": {"review_time": 0,
                                                           "reengagement": 0,
                                                           "query_depth": 1}})
    ds = fuse_session(path, settings=FusionSettings(engagement=only_queries))
    assert column(ds, "engagement")[-1] == pytest.approx(1 - np.exp(-1 / 2))
    np.testing.assert_allclose(ds.extras["engagement"], column(ds, "engagement"))
