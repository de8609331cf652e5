"""The main window: tabs, remembered settings, errors in the window, withdrawal, pause."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings

from desktop_app.app import TABS, EngageWindow, resolve_study
from desktop_app.study import example_study
from sensing.session import list_sessions, open_session


def settings_in(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, data_dir, tmp_path, media, face_model):
    windows = []

    def make(**options) -> EngageWindow:
        options.setdefault("video", str(media("single_face.mp4")))
        options.setdefault("face_model", str(face_model))
        window = EngageWindow(data_dir=data_dir, study=example_study(),
                              settings=settings_in(tmp_path), confirm=False, **options)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.recorder.recording:
            with qtbot.waitSignal(window.recorder.stopped, timeout=30_000):
                window.stop_session()


def give_consent(qtbot, window, *streams: str) -> None:
    for stream in streams:
        window.consent_screen.stream_boxes[stream].setChecked(True)
    window.consent_screen.agree_box.setChecked(True)
    with qtbot.waitSignal(window.recorder.started, timeout=60_000):
        window.consent_screen.start_button.click()


def test_every_screen_has_its_tab(make_window):
    window = make_window()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Consent", "Calibration", "Recording", "Study", "Sessions", "Replay", "Export and IRL"]
    assert len(TABS) == window.tabs.count()


def test_nothing_is_recorded_before_consent(make_window, data_dir):
    window = make_window()
    window.study_panel.start()
    assert not window.recorder.recording and list_sessions(data_dir) == []


def test_without_camera_consent_the_study_starts_and_markers_are_stored(qtbot, make_window):
    window = make_window()
    give_consent(qtbot, window, "markers")
    assert window.tabs.currentWidget() is window.study_panel
    window.study_panel.rate(5)
    path = window.session_path
    with qtbot.waitSignal(window.recorder.stopped, timeout=30_000):
        window.stop_session()
    with open_session(path) as session:
        kinds = [marker.kind for marker in session.markers()]
        assert session.consent["markers"] and not session.consent["camera"]
        assert session.row_count("face") == 0
    assert kinds == ["task_start", "content_shown", "rating"]


def test_camera_consent_leads_to_calibration(qtbot, make_window):
    window = make_window()
    give_consent(qtbot, window, "camera", "markers")
    assert window.tabs.currentWidget() is window.calibration_screen


def test_pause_is_stored_as_markers_and_shown(qtbot, make_window):
    window = make_window()
    give_consent(qtbot, window, "markers")
    window.recording_screen.toggle_pause()
    assert "PAUSED" in window.rec_label.text()
    window.recording_screen.toggle_pause()
    path = window.session_path
    with qtbot.waitSignal(window.recorder.stopped, timeout=30_000):
        window.stop_session()
    with open_session(path) as session:
        pauses = [(m.kind, m.payload.get("source")) for m in session.markers()
                  if m.kind in ("pause", "resume")]
    assert pauses == [("pause", "gui"), ("resume", "gui")]


def test_withdrawal_stops_recording_and_deletes_the_session(qtbot, make_window, data_dir):
    window = make_window()
    give_consent(qtbot, window, "markers")
    assert len(list_sessions(data_dir)) == 1
    with qtbot.waitSignal(window.recorder.stopped, timeout=30_000) as blocker:
        window.withdraw()
    assert blocker.args[0]["status"] == "withdrawn"
    qtbot.waitUntil(lambda: list_sessions(data_dir) == [], timeout=10_000)
    assert not window.recorder.recording


def test_a_missing_face_model_is_a_readable_message_in_the_window(qtbot, make_window,
                                                                  tmp_path, data_dir):
    window = make_window(face_model=str(tmp_path / "missing.task"))
    window.consent_screen.stream_boxes["camera"].setChecked(True)
    window.consent_screen.agree_box.setChecked(True)
    with qtbot.waitSignal(window.recorder.failed, timeout=30_000):
        window.consent_screen.start_button.click()
    assert window.error_banner.isVisible()
    assert "missing.task" in window.error_banner.text()
    assert "Traceback" not in window.error_banner.text()
    assert list_sessions(data_dir) == []


def test_window_state_and_folders_are_remembered(qtbot, data_dir, tmp_path):
    settings = settings_in(tmp_path)
    first = EngageWindow(data_dir=data_dir, study=example_study(), settings=settings,
                         confirm=False, study_path=str(tmp_path / "s.jsonl"))
    qtbot.addWidget(first)
    first.resize(700, 500)
    first.show_tab("sessions")
    first.export_screen.folder_edit.setText(str(tmp_path / "exports"))
    first.save_settings()
    second = EngageWindow(data_dir=data_dir, study=example_study(), settings=settings,
                          confirm=False)
    qtbot.addWidget(second)
    assert (second.size().width(), second.size().height()) == (700, 500)
    assert second.tabs.currentWidget() is second.sessions_screen
    assert second.export_screen.folder_edit.text() == str(tmp_path / "exports")
    assert settings.value("study/path") == str(tmp_path / "s.jsonl")


def test_remembered_study_file_is_used_when_none_is_given(tmp_path):
    study_file = tmp_path / "mine.jsonl"
    study_file.write_text('{"id": "only", "title": "Only", "text": "Hello"}\n')
    settings = settings_in(tmp_path)
    settings.setValue("study/path", str(study_file))
    study, path = resolve_study(None, settings)
    assert [item.id for item in study.items] == ["only"] and path == str(study_file)
