"""Lab Streaming Layer (opt-in extra): markers from an LSL string stream reach the intake,
stamped on arrival with the sender's time kept; bad ones are counted as rejected."""

from __future__ import annotations

import pytest

from sensing.clock import SessionClock
from sensing.markers import MarkerIntake
from tests.sensing.waiting import wait_until

pylsl = pytest.importorskip("pylsl")


def test_markers_pushed_to_an_lsl_stream_are_validated_and_stamped():
    from sensing.lsl import LslMarkerInlet

    clock = SessionClock()
    stored: list[tuple[str, dict]] = []
    intake = MarkerIntake(lambda kind, payload: stored.append((kind, payload)) or True)
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo("engage-test-markers", "Markers", 1, 0,
                                                 "string", "engage-test"))
    inlet = LslMarkerInlet("engage-test-markers", intake, clock=clock).start()
    try:
        wait_until(lambda: inlet.connected, what="the LSL inlet to connect")
        wait_until(lambda: outlet.have_consumers(), what="the outlet to see its consumer")
        outlet.push_sample(['rating {"value": 3}'])
        outlet.push_sample(["bogus"])
        wait_until(lambda: intake.stats()["received"] >= 2, what="two LSL markers")
    finally:
        inlet.close()
    assert [kind for kind, _ in stored] == ["rating"]
    assert stored[0][1]["value"] == 3
    assert 0 <= stored[0][1]["lsl_t_ns"] <= clock.now_ns()
    assert intake.stats()["rejected"] == 1


def test_the_feature_outlet_publishes_each_face_as_one_labelled_sample():
    from sensing.lsl import FEATURE_CHANNELS, LslFeatureOutlet
    from sensing.records import FaceFrame

    clock = SessionClock()
    outlet = LslFeatureOutlet("lsl-test", clock=clock)
    (info,) = pylsl.resolve_byprop("source_id", "engage-lsl-test", 1, 10.0)
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=10.0)
    wait_until(lambda: outlet._outlet.have_consumers(), what="the inlet to subscribe")
    outlet.push_face(FaceFrame(t_ns=clock.now_ns(), present=True, confidence=0.9,
                               yaw_deg=12.5))
    sample, _ = inlet.pull_sample(timeout=10.0)
    inlet.close_stream()
    outlet.close()
    assert info.channel_count() == len(FEATURE_CHANNELS) == 60
    assert sample[:3] == [1.0, pytest.approx(0.9), pytest.approx(12.5)]
