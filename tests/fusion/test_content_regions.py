"""The content region follows the window: region-change notes move gaze dwell, not showings."""

from __future__ import annotations

import numpy as np

from fusion.fuse import fuse_session
from fusion.settings import FusionSettings
from sensing.records import Marker
from tests.fusion.conftest import S, face_rows


def test_a_moved_content_region_keeps_gaze_dwell_and_the_showing(make_session) -> None:
    # Gaze rests at (150, 150) throughout; the content first sits at (100, 100) and then
    # moves away to (1000, 100) at 2 s while the same item stays shown.
    face = face_rows(0.0, 4.0, gaze_px=(150.0, 150.0), gaze_calibrated=True)
    markers = [
        Marker(t_ns=0, kind="content_shown",
               payload={"content_id": "a", "region": [100, 100, 200, 200]}),
        Marker(t_ns=2 * S, kind="note",
               payload={"content_id": "a", "event": "content_region_changed",
                        "region": [1000, 100, 200, 200]}),
    ]
    dataset = fuse_session(make_session(face=face, markers=markers),
                           settings=FusionSettings(step_s=0.5))
    dwell = dataset.states[:, dataset.schema.feature_index("dwell_content_share")]
    on_content = dataset.states[:, dataset.schema.feature_index("time_on_content_s")]
    steps_before, steps_after = dataset.t_s <= 2.0, dataset.t_s > 2.5
    assert np.all(dwell[steps_before & (dataset.t_s > 0.5)] > 0.9)
    assert np.all(dwell[steps_after] < 0.1)
    assert np.all(np.diff(on_content) > 0)  # one showing throughout: time on content grows
    assert len(set(dataset.episode.tolist())) == 1
