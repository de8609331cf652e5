"""Action precedence and validity masks: no face, uncalibrated gaze, paused, no consent."""

from __future__ import annotations

import numpy as np

from fusion.dataset import NO_ACTION
from fusion.fuse import fuse_session
from fusion.schema import DEFAULT_SCHEMA, action_index
from fusion.settings import FusionSettings
from sensing.records import InputEvent, Marker
from tests.fusion.conftest import MS, S, face_rows


def feature_valid(dataset, name: str) -> np.ndarray:
    return dataset.valid[:, DEFAULT_SCHEMA.feature_index(name)]


def test_typing_outranks_scrolling_and_clicking_in_the_same_step(make_session) -> None:
    events = [InputEvent(300 * MS, "scroll", dx=0.0, dy=-1.0),
              InputEvent(310 * MS, "button_down", x_px=1.0, y_px=1.0),
              InputEvent(320 * MS, "key_down", key_class="letter"),
              InputEvent(800 * MS, "scroll", dx=0.0, dy=2.0),
              InputEvent(810 * MS, "button_down", x_px=1.0, y_px=1.0)]
    ds = fuse_session(make_session(face=face_rows(0, 1.5), inputs=events))
    assert ds.actions[0] == action_index("type_query")
    assert ds.actions[2] == action_index("click")
    assert ds.actions[1] == action_index("read")


def test_scroll_direction_decides_back_or_down(make_session) -> None:
    events = [InputEvent(300 * MS, "scroll", dx=0.0, dy=2.0),
              InputEvent(550 * MS, "scroll", dx=0.0, dy=-2.0)]
    ds = fuse_session(make_session(face=face_rows(0, 1), inputs=events))
    assert ds.actions[:2].tolist() == [action_index("scroll_back"), action_index("scroll_down")]


def test_no_face_is_absent_and_off_screen_is_look_away(make_session) -> None:
    face = face_rows(0, 0.25) + face_rows(0.25, 0.5, present=False) + face_rows(
        0.5, 0.75, on_screen=False) + face_rows(0.75, 1.0)
    ds = fuse_session(make_session(face=face, inputs=[InputEvent(10 * MS, "move", x_px=0.0,
                                                                 y_px=0.0)]))
    assert ds.actions.tolist() == [action_index("absent"), action_index("look_away"),
                                   action_index("read"), NO_ACTION]


def test_pause_marks_every_feature_invalid_and_removes_actions(make_session) -> None:
    markers = [Marker(500 * MS, "pause"), Marker(S, "resume")]
    ds = fuse_session(make_session(face=face_rows(0, 1.5), markers=markers,
                                   inputs=[InputEvent(10 * MS, "key_down", key_class="tab")]))
    assert ds.extras["mask_paused"].tolist() == [False, False, True, True, False, False]
    assert not ds.valid[2:4, :DEFAULT_SCHEMA.feature_index("jaw_open") + 1].any()
    assert not ds.valid[2:4, DEFAULT_SCHEMA.feature_index("key_rate_hz")].any()
    # Before the pause, inside it, and its last step (whose successor is not paused): the
    # state of a paused step is all fill, so no action is paired with it.
    assert ds.actions[1:4].tolist() == [NO_ACTION] * 3 and ds.actions[4] != NO_ACTION


def test_gaze_features_are_invalid_without_calibration(make_session) -> None:
    ds = fuse_session(make_session(face=face_rows(0, 0.5),
                                   inputs=[InputEvent(10 * MS, "move", x_px=0.0, y_px=0.0)]))
    assert not feature_valid(ds, "fixation_share").any()
    assert feature_valid(ds, "head_yaw_mean_deg").all()
    assert ds.extras["mask_gaze_uncalibrated"].all()


def test_camera_not_consented_leaves_vision_invalid(make_session) -> None:
    consent = {"keyboard": True, "mouse": True, "scroll": True, "markers": True}
    ds = fuse_session(make_session(
        consent=consent, inputs=[InputEvent(10 * MS, "key_down", key_class="letter"),
                                 InputEvent(900 * MS, "move", x_px=0.0, y_px=0.0)],
        markers=[Marker(0, "content_shown", {"content_id": "a"})]))
    vision = DEFAULT_SCHEMA.modality_of() == "vision"
    assert not ds.valid[:, vision].any()
    assert ds.valid[:, ~vision].all()
    assert ds.extras["mask_not_consented"].all()


def test_a_face_gap_longer_than_the_limit_is_not_bridged(make_session) -> None:
    face = face_rows(0, 0.5, yaw_deg=5.0) + face_rows(3.0, 3.5, yaw_deg=5.0)
    ds = fuse_session(make_session(face=face, inputs=[InputEvent(10 * MS, "move", x_px=0.0,
                                                                 y_px=0.0)]),
                      settings=FusionSettings(max_gap_s=1.0))
    yaw_valid = feature_valid(ds, "head_yaw_mean_deg")
    assert yaw_valid[[0, 1, 2, 4]].all()  # held up to 1 s after the last row at ~0.47 s
    assert not yaw_valid[[5, 8, 11]].any()
    assert yaw_valid[12:].all()
    assert ds.states[8, DEFAULT_SCHEMA.feature_index("head_yaw_mean_deg")] == 0.0
    assert ds.extras["mask_no_face"][8]


def test_a_recorded_gap_invalidates_its_stream_only(make_session) -> None:
    events = [InputEvent(int(t), "key_down", key_class="letter") for t in range(0, S, 50 * MS)]
    ds = fuse_session(make_session(face=face_rows(0, 1), inputs=events,
                                   gaps=[("keyboard", 500 * MS, 750 * MS)]))
    assert feature_valid(ds, "key_rate_hz").tolist() == [True, True, False, True]
    assert feature_valid(ds, "face_present_share").all()
