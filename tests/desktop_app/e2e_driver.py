"""Drives the real Engage window through a whole study under an X display (Xvfb).

Run by ``test_end_to_end.py`` in its own process, because that test needs the xcb platform
while the other tests share one offscreen QApplication. Steps: accept consent, calibrate
with synthetic samples injected at the sensing boundary, record from a video standing in for
the camera while xdotool types and scrolls in the study panel, stop, replay, export Parquet;
a screenshot of each screen is saved, and the facts the test checks go to ``result.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QEventLoop, QPoint, QSettings
from PyQt6.QtWidgets import QApplication

from desktop_app.app import EngageWindow
from desktop_app.study import example_study
from tests.desktop_app.synthetic_faces import SyntheticEyes

TYPED_TEXT = "why two tides"


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.out = Path(args.out)
        self.shots = Path(args.shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        settings = QSettings(str(self.out / "settings.ini"), QSettings.Format.IniFormat)
        self.window = EngageWindow(data_dir=Path(args.data_dir), study=example_study(),
                                   video=args.video, face_model=args.model, settings=settings,
                                   confirm=False)
        self.window.calibration_screen.dwell_ms = 700
        self.errors: list[str] = []
        self.window.error_banner.setObjectName("error_banner")
        self.window.recorder.failed.connect(self.errors.append)
        self.result: dict[str, Any] = {"screenshots": {}}

    # -- helpers ----------------------------------------------------------------------------

    def wait(self, condition: Any, timeout_s: float, what: str) -> None:
        end = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}; errors: {self.errors}")
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def shot(self, name: str, widget: Any = None) -> None:
        self.pump(0.3)
        path = self.shots / f"{name}.png"
        (widget or self.window).grab().save(str(path))
        self.result["screenshots"][name] = str(path)

    def xdotool(self, *commands: list[str]) -> None:
        """Run xdotool commands one after another while the event loop keeps running."""
        for command in commands:
            process = subprocess.Popen(["xdotool", *command])
            self.wait(lambda p=process: p.poll() is not None, 30, f"xdotool {command}")
            self.pump(0.15)

    def centre_of(self, widget: Any) -> QPoint:
        return widget.mapToGlobal(widget.rect().center())

    # -- the study --------------------------------------------------------------------------

    def run(self) -> None:
        window = self.window
        window.show()
        window.resize(1180, 760)
        window.move(40, 20)
        self.wait(lambda: window.isVisible(), 10, "the window")

        consent = window.consent_screen
        for stream in ("camera", "keyboard", "mouse", "scroll", "markers"):
            consent.stream_boxes[stream].setChecked(True)
        consent.participant_edit.setText("E2E01")
        consent.agree_box.setChecked(True)
        self.shot("1_consent")
        consent.start_button.click()
        self.wait(lambda: window.recorder.recording or self.errors, 90, "recording to start")
        if self.errors:
            raise RuntimeError(self.errors[0])

        calibration = window.calibration_screen
        calibration.live_samples = False
        geometry = calibration.screen().geometry()
        eyes = SyntheticEyes(geometry.width(), geometry.height())
        from PyQt6.QtCore import QTimer

        injector = QTimer(interval=16)
        injector.timeout.connect(lambda: calibration.inject(
            eyes.face(window._session_now(), calibration.current_target())))
        injector.start()
        reports: list[dict[str, Any]] = []
        calibration.result_ready.connect(reports.append)
        calibration.start_button.click()
        self.wait(lambda: calibration.index >= 4, 60, "calibration targets")
        self.shot("2_calibration_targets", calibration.overlay)
        self.wait(lambda: bool(reports) or self.errors, 90, "the calibration result")
        injector.stop()
        self.shot("3_calibration_result")
        self.result["calibration"] = {k: reports[0][k] for k in ("mean_px", "mean_deg",
                                                                 "median_px", "n_points")}
        calibration.accept_button.click()
        self.wait(lambda: window.tabs.currentWidget() is window.study_panel, 10, "study tab")

        panel = window.study_panel
        self.pump(0.5)
        query = self.centre_of(panel.query_edit)
        content = self.centre_of(panel.content_view)
        self.xdotool(["mousemove", str(query.x()), str(query.y())], ["click", "1"],
                     ["type", "--delay", "40", TYPED_TEXT], ["key", "Return"],
                     ["mousemove", str(content.x()), str(content.y())],
                     ["click", "--repeat", "6", "--delay", "60", "5"],
                     ["click", "--repeat", "3", "--delay", "60", "4"])
        self.pump(1.0)
        self.shot("4_study")
        panel.rate(4)
        panel.next_item()
        self.pump(0.5)

        window.show_tab("recording")
        self.wait(lambda: window.recording_screen.preview.pixmap() is not None
                  and not window.recording_screen.preview.pixmap().isNull(), 20, "a preview")
        self.pump(1.2)
        self.shot("5_recording")
        session_path = window.session_path
        stopped: list[dict[str, Any]] = []
        window.recorder.stopped.connect(stopped.append)
        window.stop_session()
        self.wait(lambda: bool(stopped), 60, "the recording to stop")
        self.result["session"] = session_path

        window.show_tab("sessions")
        sessions = window.sessions_screen
        self.wait(lambda: sessions.table.rowCount() >= 1, 20, "the sessions list")
        sessions.select_path(session_path)
        self.wait(lambda: "streams" in sessions.details.toPlainText(), 20, "session details")
        self.shot("6_sessions")

        replay = window.replay_screen
        loaded: list[str] = []
        replay.loaded.connect(loaded.append)
        window.open_replay(session_path)
        self.wait(lambda: bool(loaded) or self.errors, 120, "the replay")
        replay.seek(replay.duration_s * 0.6)
        self.result["replay"] = {"duration_s": replay.duration_s,
                                 "info": replay.info_label.text()}
        self.shot("7_replay")

        export = window.export_screen
        exported: list[dict[str, Any]] = []
        export.exported.connect(exported.append)
        export.error.connect(self.errors.append)
        window.open_export([session_path])
        export.format_box.setCurrentText("parquet")
        export.folder_edit.setText(str(self.out / "export"))
        export.export_button.click()
        self.wait(lambda: bool(exported) or self.errors, 120, "the export")
        self.result["export"] = exported[0] if exported else None
        self.pump(0.5)
        self.result["export_ticked"] = export.chosen_sessions()
        self.shot("8_export")
        self.result["errors"] = self.errors + ([window.error_banner.text()]
                                               if window.error_banner.isVisible() else [])
        window.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--out", "--shots", "--data-dir", "--video", "--model"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    driver = Driver(args)
    try:
        driver.run()
        status = 0
    except Exception:  # noqa: BLE001 - the test reads the failure from result.json
        driver.result["failure"] = traceback.format_exc()
        status = 1
    (Path(args.out) / "result.json").write_text(json.dumps(driver.result, indent=2,
                                                           default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
