"""Causality: a state uses only data before its step's end; an action is the next step's."""

from __future__ import annotations

import numpy as np

from fusion.dataset import NO_ACTION
from fusion.fuse import fuse_session
from fusion.schema import action_index
from sensing.records import InputEvent, Marker
from tests.fusion.conftest import MS, S, face_rows


def _session(make_session, *, future_changed: bool):
    rng = np.random.default_rng(7)
    face = face_rows(0, 4, hz=30, gaze_calibrated=True)
    for frame in face:
        frame.yaw_deg = float(rng.normal(0, 5))
        frame.gaze_px = (float(rng.normal(600, 50)), 400.0)
    events = [InputEvent(int(t), "key_down", key_class="letter")
              for t in rng.integers(0, 4 * S, 40)]
    markers = [Marker(0, "content_shown", {"content_id": "a", "region": [0, 0, 900, 900]}),
               Marker(2_500 * MS, "content_shown", {"content_id": "b"})]
    if future_changed:  # everything from 2 s on is different
        for frame in face:
            if frame.t_ns >= 2 * S:
                frame.yaw_deg += 30.0
                frame.present = bool(rng.random() < 0.5)
                frame.gaze_px = (1500.0, 100.0)
        events = [e for e in events if e.t_ns < 2 * S] + [
            InputEvent(2 * S + 5 * MS * i, "scroll", dx=0.0, dy=-1.0) for i in range(50)]
        markers = markers[:1] + [Marker(2 * S + 10 * MS, "query_submitted", {}),
                                 Marker(3 * S, "content_shown", {"content_id": "a"})]
    events.sort(key=lambda e: e.t_ns)
    return make_session(face=face, inputs=events, markers=markers)


def test_changing_data_after_a_step_never_changes_its_state(make_session) -> None:
    original = fuse_session(_session(make_session, future_changed=False))
    perturbed = fuse_session(_session(make_session, future_changed=True))
    before = original.t_s <= 2.0  # steps ending at or before 2 s saw no changed row
    np.testing.assert_array_equal(original.states[before], perturbed.states[before])
    np.testing.assert_array_equal(original.valid[before], perturbed.valid[before])
    assert not np.array_equal(original.states[~before], perturbed.states[~before])


def test_an_action_is_what_happened_in_the_following_step(make_session) -> None:
    original = fuse_session(_session(make_session, future_changed=False))
    perturbed = fuse_session(_session(make_session, future_changed=True))
    step = int(np.flatnonzero(np.isclose(original.t_s, 2.0))[0])  # ends at 2 s
    np.testing.assert_array_equal(original.actions[:step], perturbed.actions[:step])
    assert perturbed.actions[step] == action_index("type_query")  # query at 2.01 s
    assert perturbed.actions[-1] == NO_ACTION
