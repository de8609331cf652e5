"""The GUI thread answers within 50 ms while recording and while training.

A 20 ms timer on the GUI thread measures how late each tick runs; the issue's requirement
is about that measured responsiveness, so the assertion is on it. The test machine is
shared: even an idle Qt window there sees the odd stall of a few hundred milliseconds when
other processes hold both cores, so the requirement is checked on 98 % of the samples
(a window that blocked on capture, disk or training would fail nearly every sample).
"""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings

from desktop_app.app import EngageWindow
from desktop_app.screens.export_irl import ExportIrlScreen
from desktop_app.study import example_study
from tests.desktop_app.latency_probe import LatencyProbe
from tests.desktop_app.sessions_fixture import write_session

LATENCY_LIMIT_MS = 50.0
ALLOWED_LATE_SHARE = 0.02


@pytest.fixture
def window(qtbot, data_dir, tmp_path, media, face_model):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = EngageWindow(data_dir=data_dir, study=example_study(),
                          video=str(media("single_face.mp4")), face_model=str(face_model),
                          settings=settings, confirm=False)
    qtbot.addWidget(window)
    window.show()
    yield window
    if window.recorder.recording:
        with qtbot.waitSignal(window.recorder.stopped, timeout=30_000):
            window.stop_session()


def test_event_loop_answers_within_50_ms_while_recording(qtbot, window):
    consent = window.consent_screen
    for stream in ("camera", "markers"):
        consent.stream_boxes[stream].setChecked(True)
    consent.agree_box.setChecked(True)
    statuses: list[dict] = []
    window.recorder.status.connect(statuses.append)
    with qtbot.waitSignal(window.recorder.started, timeout=60_000):
        consent.start_button.click()
    window.show_tab("recording")
    qtbot.waitUntil(lambda: bool(statuses) and statuses[-1]["streams"]["face"]["written"] > 20,
                    timeout=30_000)
    probe = LatencyProbe()
    probe.start()
    qtbot.waitUntil(lambda: len(probe.lateness_ms) >= 100, timeout=30_000)
    probe.stop()
    assert statuses[-1]["streams"]["face"]["written"] > 40   # recording kept going
    assert probe.share_later_than(LATENCY_LIMIT_MS) <= ALLOWED_LATE_SHARE, (
        sorted(probe.lateness_ms)[-10:])


def test_event_loop_answers_within_50_ms_while_training(qtbot, data_dir, tmp_path, output_dir):
    path = write_session(data_dir, seconds=20.0)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    screen = ExportIrlScreen(data_dir, settings)
    qtbot.addWidget(screen)
    screen.show()
    screen.select_sessions([str(path)])
    screen.algo_box.setCurrentText("bc")
    screen.epochs_box.setValue(40)
    screen.model_edit.setText(str(tmp_path / "model"))
    probe = LatencyProbe()
    probe.start()
    with qtbot.waitSignal(screen.trained, timeout=180_000) as blocker:
        screen.train()
    probe.stop()
    assert (tmp_path / "model").is_dir() and blocker.args[0]["algo"] == "bc"
    assert len(probe.lateness_ms) > 20
    assert probe.share_later_than(LATENCY_LIMIT_MS) <= ALLOWED_LATE_SHARE, (
        sorted(probe.lateness_ms)[-10:])
    assert screen.weights_table.rowCount() > 0
    assert screen.weights_table.item(0, 2).text().startswith("[")   # bootstrap interval
    assert screen.losses and screen.progress_bar.value() == screen.progress_bar.maximum()
    screen.resize(1100, 750)
    (output_dir / "desktop_app").mkdir(parents=True, exist_ok=True)
    screen.grab().save(str(output_dir / "desktop_app" / "9_export_irl_trained.png"))
