"""The Engage window: one place to consent, calibrate, record a study task, and then replay,
export and learn from the sessions.

The window holds one screen per tab. A participant's path runs Consent -> Calibration ->
Study (with the Recording tab showing preview and stream health); a researcher's runs
Sessions -> Replay -> Export and IRL. All capture, disk and training work happens in
:mod:`desktop_app.workers`; this module wires screens to workers and keeps the window's
memory (geometry, last folders, study file) in :class:`QSettings`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.screens.calibration import CalibrationScreen
from desktop_app.screens.consent import ConsentScreen
from desktop_app.screens.export_irl import ExportIrlScreen
from desktop_app.screens.recording import RecordingScreen
from desktop_app.screens.replay import ReplayScreen
from desktop_app.screens.sessions import SessionsScreen, delete_session_files
from desktop_app.screens.study import StudyPanel
from desktop_app.study import Study, example_study, load_study
from desktop_app.workers import RecordingController, run_in_background

log = logging.getLogger(__name__)

ORGANISATION = "Engage"
APPLICATION = "engage"
PAUSE_SHORTCUT = "Ctrl+Shift+P"
TABS = ("consent", "calibration", "recording", "study", "sessions", "replay", "export")


class EngageWindow(QMainWindow):
    """The main window; ``media`` says what stands in for the camera."""

    def __init__(self, *, data_dir: Path, study: Study, study_path: str | None = None,
                 camera: int | None = 0, video: str | None = None,
                 face_model: str | None = None, settings: QSettings | None = None,
                 confirm: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Engage")
        self.setObjectName("engage_window")
        self.data_dir = Path(data_dir)
        self.study = study
        self.study_path = study_path
        self.camera = camera
        self.video = video
        self.face_model = face_model
        self.settings = settings or QSettings(ORGANISATION, APPLICATION)
        self.confirm = confirm
        self.consent: dict[str, bool] = {}
        self.session_path = ""
        self.marker_refusals: list[str] = []

        central = QWidget()
        layout = QVBoxLayout(central)
        self.error_banner = QLabel()
        self.error_banner.setObjectName("error_banner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setStyleSheet(
            "background: #fde2e1; color: #7a0000; padding: 6px; border: 1px solid #e0a0a0;")
        self.error_banner.hide()
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.error_banner, stretch=1)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self.clear_error)
        self.dismiss_button.hide()
        banner_row.addWidget(self.dismiss_button)
        layout.addLayout(banner_row)

        self.recorder = RecordingController(self)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.consent_screen = ConsentScreen(study.consent_text)
        self.calibration_screen = CalibrationScreen()
        self.recording_screen = RecordingScreen()
        self.study_panel = StudyPanel(study)
        self.sessions_screen = SessionsScreen(self.data_dir)
        self.replay_screen = ReplayScreen(self.data_dir)
        self.export_screen = ExportIrlScreen(self.data_dir, self.settings)
        for screen, title in ((self.consent_screen, "Consent"),
                              (self.calibration_screen, "Calibration"),
                              (self.recording_screen, "Recording"),
                              (self.study_panel, "Study"),
                              (self.sessions_screen, "Sessions"),
                              (self.replay_screen, "Replay"),
                              (self.export_screen, "Export and IRL")):
            self.tabs.addTab(screen, title)
        layout.addWidget(self.tabs, stretch=1)
        self.setCentralWidget(central)

        self._wire()
        self._restore_settings()
        self.sessions_screen.refresh()

    # -- wiring -----------------------------------------------------------------------------

    def _wire(self) -> None:
        self.consent_screen.consent_given.connect(self.start_session)
        self.recorder.started.connect(self._recording_started)
        self.recorder.stopped.connect(self._recording_stopped)
        self.recorder.failed.connect(self.show_error)
        self.recorder.status.connect(self.recording_screen.show_status)
        self.recorder.status.connect(self._sync_pause)
        self.recorder.preview.connect(self.recording_screen.show_frame)
        self.recorder.face.connect(self.calibration_screen.add_live_sample)
        self.recording_screen.pause_toggled.connect(self._pause_toggled)
        self.recording_screen.stop_requested.connect(self.stop_session)
        self.calibration_screen.marker.connect(self.post_marker)
        self.calibration_screen.accepted.connect(self._calibration_accepted)
        self.calibration_screen.skipped.connect(self._calibration_skipped)
        self.calibration_screen.error.connect(self.show_error)
        self.study_panel.marker.connect(self.post_marker)
        self.study_panel.finished.connect(
            lambda: self.statusBar().showMessage("Study finished: stop the recording when ready"))
        self.sessions_screen.replay_requested.connect(self.open_replay)
        self.sessions_screen.export_requested.connect(self.open_export)
        self.sessions_screen.error.connect(self.show_error)
        self.replay_screen.error.connect(self.show_error)
        self.export_screen.error.connect(self.show_error)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.pause_shortcut = QShortcut(QKeySequence(PAUSE_SHORTCUT), self)
        self.pause_shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.pause_shortcut.activated.connect(self.recording_screen.toggle_pause)
        self.withdraw_button = QPushButton("Withdraw from the study")
        self.withdraw_button.setObjectName("withdraw")
        self.withdraw_button.clicked.connect(self.withdraw)
        self.withdraw_button.setEnabled(False)
        self.statusBar().addPermanentWidget(self.withdraw_button)
        self.rec_label = QLabel()
        self.rec_label.setObjectName("status_recording")
        self.statusBar().addPermanentWidget(self.rec_label)

    def screen_widget(self, name: str) -> QWidget:
        return self.tabs.widget(TABS.index(name))

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name))

    def _tab_changed(self, index: int) -> None:
        if TABS[index] == "sessions":
            self.sessions_screen.refresh()
        elif TABS[index] == "export":
            self.export_screen.refresh()

    # -- errors -----------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show a problem in the window, readable and dismissible, and log it."""
        log.warning("shown to the user: %s", message)
        self.error_banner.setText(message)
        self.error_banner.show()
        self.dismiss_button.show()

    def clear_error(self) -> None:
        self.error_banner.clear()
        self.error_banner.hide()
        self.dismiss_button.hide()

    # -- participant flow -------------------------------------------------------------------

    def recorder_options(self, participant: str, consent: dict[str, bool],
                         consent_text: str) -> dict[str, Any]:
        options: dict[str, Any] = {
            "data_dir": self.data_dir, "participant": participant, "consent": consent,
            "consent_text": consent_text, "keep_video": consent.get("video", False),
            "landmarks": consent.get("landmarks", False), "face_model": self.face_model,
        }
        if self.video:
            options["video"] = self.video
        else:
            options["camera"] = self.camera
        return options

    def start_session(self, participant: str, consent: dict[str, bool],
                      consent_text: str) -> None:
        """Consent was given: create the session with it and start the consented streams."""
        self.clear_error()
        self.consent = dict(consent)
        self.consent_screen.start_button.setEnabled(False)
        self.statusBar().showMessage("Starting the recording…")
        self.recorder.start(**self.recorder_options(participant, consent, consent_text))

    def _recording_started(self, facts: dict[str, Any]) -> None:
        self.session_path = facts["path"]
        self.recording_screen.screen_size = self.screen_pixels()
        self.recording_screen.set_recording(True)
        self.withdraw_button.setEnabled(True)
        self.rec_label.setText("● REC")
        self.rec_label.setStyleSheet("color: #c00000; font-weight: bold;")
        self.statusBar().showMessage(f"Recording session {facts['session_id']}")
        if self.consent.get("camera"):
            self.calibration_screen.prepare(session_clock_now=self._session_now)
            self.show_tab("calibration")
        else:
            self._begin_study()

    def _session_now(self) -> int:
        recorder = self.recorder.recorder
        return int(recorder.clock.now_ns()) if recorder is not None else 0

    def screen_pixels(self) -> tuple[int, int]:
        geometry = self.screen().geometry()
        return geometry.width(), geometry.height()

    def _calibration_accepted(self, records: list[Any]) -> None:
        self.recorder.write_calibration(records)
        self._begin_study()

    def _calibration_skipped(self) -> None:
        self._begin_study()

    def _begin_study(self) -> None:
        self.show_tab("study")
        self.study_panel.start()

    def post_marker(self, kind: str, payload: dict[str, Any]) -> None:
        """Store a marker from a screen; without markers consent it is not recorded."""
        if not self.consent.get("markers") or not self.recorder.recording:
            return
        refusal = self.recorder.post_marker(kind, payload)
        if refusal:
            self.marker_refusals.append(refusal)
            log.warning("marker %s refused: %s", kind, refusal)

    def _pause_toggled(self, paused: bool) -> None:
        self.recorder.set_paused(paused, source="gui")
        self.rec_label.setText("❚❚ PAUSED" if paused else "● REC")

    def _sync_pause(self, snapshot: dict[str, Any]) -> None:
        """Follow a pause or resume that came from elsewhere (the marker endpoint)."""
        paused = bool(snapshot.get("paused", False))
        if paused != self.recording_screen.paused and self.recorder.recording:
            self.recorder.paused = paused
            self.recording_screen.set_paused(paused)
            self.rec_label.setText("❚❚ PAUSED" if paused else "● REC")

    def stop_session(self) -> None:
        if self.recorder.recording:
            self.statusBar().showMessage("Stopping: writing the last data…")
            self.recorder.stop(status="complete")

    def _recording_stopped(self, result: dict[str, Any]) -> None:
        self.recording_screen.set_recording(False)
        self.withdraw_button.setEnabled(False)
        self.rec_label.clear()
        self.consent_screen.reset()
        self.consent_screen.start_button.setEnabled(False)
        self.statusBar().showMessage(f"Session {result['session_id']} saved ({result['status']})")
        if result["status"] == "withdrawn":
            self._offer_delete(result["path"])
        else:
            self.sessions_screen.refresh()

    def withdraw(self) -> None:
        """The participant withdraws: capture stops now; they may delete the session."""
        if not self.recorder.recording:
            return
        if self.confirm:
            answer = QMessageBox.question(
                self, "Withdraw", "Stop recording and withdraw from the study now?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.recorder.withdraw_consent()

    def _offer_delete(self, path: str) -> None:
        delete = True
        if self.confirm:
            answer = QMessageBox.question(
                self, "Delete the session?",
                "Recording has stopped. Delete everything recorded in this session now?")
            delete = answer == QMessageBox.StandardButton.Yes
        if delete:
            run_in_background(delete_session_files, path,
                              on_done=lambda _r: self._deleted(path), on_error=self.show_error)
        else:
            self.sessions_screen.refresh()

    def _deleted(self, path: str) -> None:
        self.statusBar().showMessage(f"Session {Path(path).stem} deleted")
        self.sessions_screen.refresh()

    # -- researcher flow --------------------------------------------------------------------

    def open_replay(self, path: str) -> None:
        self.show_tab("replay")
        self.replay_screen.load(path)

    def open_export(self, paths: list[str]) -> None:
        self.show_tab("export")
        self.export_screen.select_sessions(paths)

    # -- memory -----------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        tab = self.settings.value("window/tab", "consent")
        if tab in TABS and tab not in ("calibration", "recording", "study"):
            self.show_tab(str(tab))

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", TABS[self.tabs.currentIndex()])
        if self.study_path:
            self.settings.setValue("study/path", self.study_path)
        self.export_screen.save_settings()
        self.settings.sync()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if self.recorder.recording:
            self.recorder.stop(status="complete")
            # The recorder stops on the pool; wait here for it, at shutdown only.
            from PyQt6.QtCore import QThreadPool
            QThreadPool.globalInstance().waitForDone(15_000)
        self.save_settings()
        super().closeEvent(event)


def resolve_study(path: str | None, settings: QSettings) -> tuple[Study, str | None]:
    """The study to run: the given file, else the remembered one, else the example."""
    if path:
        return load_study(path), str(Path(path).expanduser().resolve())
    remembered = settings.value("study/path")
    if remembered and Path(str(remembered)).is_file():
        try:
            return load_study(str(remembered)), str(remembered)
        except Exception as error:  # noqa: BLE001 - a stale remembered file must not block
            log.warning("remembered study %s not usable: %s", remembered, error)
    return example_study(), None


def run_app(*, data_dir: Path, study_path: str | None = None, camera: int | None = 0,
            video: str | None = None, face_model: str | None = None,
            argv: list[str] | None = None) -> int:
    """Start the Qt application and the window; returns the exit status."""
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    settings = QSettings(ORGANISATION, APPLICATION)
    study, resolved = resolve_study(study_path, settings)
    window = EngageWindow(data_dir=data_dir, study=study, study_path=resolved, camera=camera,
                          video=video, face_model=face_model, settings=settings)
    window.show()
    return int(app.exec())
