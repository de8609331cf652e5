"""Calibration screen: targets on the window's screen, injected samples, accuracy, accept."""

from __future__ import annotations

from PyQt6.QtCore import QTimer

from desktop_app.screens.calibration import CalibrationScreen
from tests.desktop_app.synthetic_faces import SyntheticEyes


def run_calibration(qtbot, *, present: bool = True) -> tuple[CalibrationScreen, QTimer]:
    screen = CalibrationScreen(dwell_ms=120)
    screen.live_samples = False
    qtbot.addWidget(screen)
    screen.show()
    clock = {"t_ns": 0}
    screen.prepare(session_clock_now=lambda: clock["t_ns"])
    size = screen.screen().geometry()
    eyes = SyntheticEyes(size.width(), size.height())

    def feed() -> None:
        clock["t_ns"] += 10_000_000   # 10 ms of session time per sample
        screen.inject(eyes.face(clock["t_ns"], screen.current_target(), present=present))

    # Samples advance session time in 10 ms steps; with a 120 ms dwell the library's 300 ms
    # settling would discard everything, so session time runs 4x faster than the dwell.
    timer = QTimer(interval=3)
    timer.timeout.connect(lambda: [feed() for _ in range(4)])
    timer.start()
    screen.start()
    return screen, timer


def test_targets_cover_the_screen_the_window_is_on(qtbot):
    screen, timer = run_calibration(qtbot)
    timer.stop()
    size = screen.screen().geometry()
    assert len(screen.targets) == 13 and screen.n_fit == 9
    assert screen.targets[:, 0].min() > 0 and screen.targets[:, 0].max() < size.width()
    assert screen.overlay.geometry() == size
    screen.cancel()


def test_synthetic_samples_give_accuracy_within_a_few_pixels(qtbot):
    screen, timer = run_calibration(qtbot)
    blocker = qtbot.waitSignal(screen.result_ready, timeout=20_000)
    blocker.wait()  # the injected samples arrive on the event loop's timer
    timer.stop()
    report = blocker.args[0]
    assert report["n_points"] == 4
    assert report["mean_px"] < 15 and report["mean_deg"] < 0.5
    assert "px" in screen.result_label.text() and "°" in screen.result_label.text()
    assert screen.accept_button.isVisible() and screen.redo_button.isVisible()


def test_accept_hands_over_a_fit_and_a_validation_record(qtbot):
    screen, timer = run_calibration(qtbot)
    qtbot.waitSignal(screen.result_ready, timeout=20_000).wait()
    timer.stop()
    with qtbot.waitSignal(screen.accepted) as blocker:
        screen.accept_button.click()
    assert [record.kind for record in blocker.args[0]] == ["fit", "validation"]


def test_no_face_shows_feedback_and_holds_the_target(qtbot):
    screen, timer = run_calibration(qtbot, present=False)
    qtbot.waitUntil(lambda: "No face found" in screen.no_face_warning(), timeout=5_000)
    assert screen.index == 0
    timer.stop()
    screen.cancel()
    assert not screen.overlay.isVisible()
