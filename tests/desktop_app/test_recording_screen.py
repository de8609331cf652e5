"""Recording screen: indicator, pause, elapsed time and the stream-health figures."""

from __future__ import annotations

import numpy as np

from desktop_app.screens.recording import RecordingScreen, health_figures
from sensing.records import FaceFrame

SNAPSHOT = {
    "streams": {"face": {"received": 100, "written": 98, "dropped": 2, "rate_hz": 29.5},
                "input": {"received": 40, "written": 40, "dropped": 0, "rate_hz": 12.0},
                "markers": {"received": 5, "written": 5, "dropped": 0, "rate_hz": 0.0}},
    "queue_depth": 3,
    "frames": {"source": {"frames_skipped": 4}, "pipeline": {"skipped": 1}, "problem": None},
    "input": {"unavailable": None},
}


def test_health_adds_every_kind_of_dropped_frame():
    figures = health_figures(SNAPSHOT)
    assert figures == {"fps": "29.5", "frames_dropped": "7", "events_per_s": "12.0",
                       "queue_depth": "3", "markers": "5"}


def test_missing_figures_show_a_dash_not_zero():
    assert set(health_figures({}).values()) == {"–"}


def test_indicator_says_recording_then_paused(qtbot):
    screen = RecordingScreen()
    qtbot.addWidget(screen)
    assert screen.indicator.text() == "Not recording" and not screen.pause_button.isEnabled()
    screen.set_recording(True)
    assert "RECORDING" in screen.indicator.text()
    with qtbot.waitSignal(screen.pause_toggled) as blocker:
        screen.pause_button.click()
    assert blocker.args == [True] and "PAUSED" in screen.indicator.text()


def test_elapsed_time_counts_up_while_recording(qtbot):
    screen = RecordingScreen()
    qtbot.addWidget(screen)
    screen.set_recording(True)
    qtbot.waitUntil(lambda: screen.elapsed_label.text() == "00:01", timeout=5_000)


def test_overlay_is_off_by_default_and_preview_shows_frames(qtbot):
    screen = RecordingScreen()
    qtbot.addWidget(screen)
    screen.show()
    assert not screen.overlay_box.isChecked()
    image = np.zeros((90, 160, 3), np.uint8)
    screen.show_frame(image, FaceFrame(t_ns=1, present=False))
    assert not screen.preview.pixmap().isNull()
    assert screen.face_label.text() == "no face in view"


def test_stream_problems_are_shown_in_words(qtbot):
    screen = RecordingScreen()
    qtbot.addWidget(screen)
    screen.show_status({**SNAPSHOT, "input": {"unavailable": "no X display"}})
    assert screen.problem_label.text() == "no X display"
