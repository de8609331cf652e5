"""Calibration: full-screen targets on the window's screen, accuracy at the end, accept or redo.

The screen draws targets and times them; :mod:`sensing.calibration` does everything else
(which samples to keep, the fit, the validation report). Nine targets are fitted and four
validation targets, never used in the fit, measure the accuracy in pixels and degrees.

Samples are FaceFrames, the sensing boundary: live ones arrive from the recorder through
:meth:`CalibrationScreen.add_live_sample`, and tests inject synthetic ones through
:meth:`CalibrationScreen.inject`. While no face has been seen for a moment the current target
waits and the participant is told why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPainter, QPen
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.workers import run_in_background
from sensing.calibration import (
    SampleCollector,
    calibration_targets,
    fit_calibration,
    fit_record,
    validation_record,
    validation_report,
    validation_targets,
)
from sensing.gaze import ScreenGeometry

log = logging.getLogger(__name__)

DEFAULT_DWELL_MS = 1500
NO_FACE_AFTER_S = 1.0
# Used when the platform reports no physical size (virtual displays): a 96 dpi screen.
FALLBACK_MM_PER_PX = 25.4 / 96


def screen_geometry_of(widget: QWidget) -> ScreenGeometry:
    """Pixel and millimetre size of the screen a widget is on."""
    screen = widget.screen()
    size = screen.geometry()
    physical = screen.physicalSize()
    width_mm, height_mm = physical.width(), physical.height()
    if not (width_mm > 10 and height_mm > 10):
        width_mm = size.width() * FALLBACK_MM_PER_PX
        height_mm = size.height() * FALLBACK_MM_PER_PX
    return ScreenGeometry(size.width(), size.height(), float(width_mm), float(height_mm))


def fit_and_validate(fit_samples: Any, check_samples: Any,
                     screen: ScreenGeometry) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fit on the calibration targets' samples and measure on the validation targets'."""
    mapping, fit_report = fit_calibration(fit_samples, screen)
    return mapping, fit_report, validation_report(mapping, check_samples)


class TargetOverlay(QWidget):
    """The full-screen canvas with the current target and a line of guidance."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.setObjectName("calibration_overlay")
        self.target: tuple[float, float] | None = None
        self.message = ""
        self.warning = ""
        self.setCursor(Qt.CursorShape.BlankCursor)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(128, 128, 128))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.target is not None:
            centre = QPointF(*self.target)
            painter.setPen(QPen(QColor(255, 255, 255), 3))
            painter.setBrush(QColor(200, 30, 30))
            painter.drawEllipse(centre, 18, 18)
            painter.setBrush(QColor(255, 255, 255))
            painter.drawEllipse(centre, 4, 4)
        font = QFont()
        font.setPointSize(16)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        band = QRectF(0, 20, self.width(), 40)
        painter.drawText(band, Qt.AlignmentFlag.AlignCenter, self.message)
        if self.warning:
            painter.setPen(QColor(255, 230, 0))
            painter.drawText(QRectF(0, 60, self.width(), 40), Qt.AlignmentFlag.AlignCenter,
                             self.warning)
        painter.end()


class CalibrationScreen(QWidget):
    """Runs the target sequence, fits, reports accuracy, and lets the participant decide."""

    accepted = pyqtSignal(list)   # [CalibrationRecord fit, CalibrationRecord validation]
    skipped = pyqtSignal()
    marker = pyqtSignal(str, dict)
    error = pyqtSignal(str)
    result_ready = pyqtSignal(dict)
    target_shown = pyqtSignal(int, float, float)  # index, x_px, y_px (screen pixels)

    def __init__(self, parent: QWidget | None = None, *, dwell_ms: int = DEFAULT_DWELL_MS,
                 n_points: int = 9, n_validation: int = 4) -> None:
        super().__init__(parent)
        self.setObjectName("calibration_screen")
        self.dwell_ms = dwell_ms
        self.n_points = n_points
        self.n_validation = n_validation
        self.live_samples = True
        self.session_now: Callable[[], int] = lambda: time.monotonic_ns()
        self.targets = np.zeros((0, 2))
        self.n_fit = 0
        self.index = -1
        self.running = False
        self.records: list[Any] = []
        self.report: dict[str, Any] = {}
        self.geometry_used: ScreenGeometry | None = None
        self._fit_collector = SampleCollector()
        self._check_collector = SampleCollector()
        self._last_face_s = 0.0
        self._faces_on_target = 0
        self.overlay = TargetOverlay()

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>Gaze calibration</h2>"))
        intro = QLabel(
            "Dots will appear one at a time across the whole screen. Look at each dot until it "
            "moves; keep your head still and your face in view of the camera. It takes about "
            "half a minute. At the end you will see how accurate it was and can accept it or "
            "try again.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.result_label = QLabel()
        self.result_label.setObjectName("calibration_result")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start calibration")
        self.start_button.setObjectName("calibration_start")
        self.start_button.clicked.connect(self.start)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("calibration_accept")
        self.accept_button.clicked.connect(self.accept)
        self.redo_button = QPushButton("Redo")
        self.redo_button.setObjectName("calibration_redo")
        self.redo_button.clicked.connect(self.start)
        self.skip_button = QPushButton("Continue without calibration")
        self.skip_button.setObjectName("calibration_skip")
        self.skip_button.clicked.connect(self._skip)
        for button in (self.start_button, self.accept_button, self.redo_button,
                       self.skip_button):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)

        self._dwell_timer = QTimer(self, singleShot=True)
        self._dwell_timer.timeout.connect(self._dwell_over)
        self._watchdog = QTimer(self, interval=200)
        self._watchdog.timeout.connect(self._check_face)
        self._set_buttons(idle=True)

    # -- set-up -----------------------------------------------------------------------------

    def prepare(self, *, session_clock_now: Callable[[], int]) -> None:
        """Use the session clock for target times (samples carry session time)."""
        self.session_now = session_clock_now
        self.result_label.setText("Press Start when you are ready.")
        self._set_buttons(idle=True)

    def _set_buttons(self, *, idle: bool, result: bool = False) -> None:
        self.start_button.setVisible(idle and not result)
        self.accept_button.setVisible(result)
        self.redo_button.setVisible(result)
        self.skip_button.setVisible(idle)

    # -- samples ----------------------------------------------------------------------------

    def add_live_sample(self, face: Any) -> None:
        """A FaceFrame from the recorder (ignored while samples are injected)."""
        if self.live_samples:
            self.inject(face)

    def inject(self, face: Any) -> None:
        """Offer one FaceFrame to the collector of the current target."""
        if not self.running:
            return
        if getattr(face, "present", False):
            self._last_face_s = time.monotonic()
            self._faces_on_target += 1
        collector = self._fit_collector if self.index < self.n_fit else self._check_collector
        collector.add(face)

    def current_target(self) -> tuple[float, float] | None:
        if self.running and 0 <= self.index < len(self.targets):
            x, y = self.targets[self.index]
            return float(x), float(y)
        return None

    # -- sequence ---------------------------------------------------------------------------

    def start(self) -> None:
        """Show the targets full screen on the screen this window is on."""
        screen = self.window().screen()
        geometry = screen.geometry()
        self.geometry_used = screen_geometry_of(self.window())
        width, height = geometry.width(), geometry.height()
        fit = calibration_targets(width, height, n_points=self.n_points)        # [9, 2]
        check = validation_targets(width, height, n_points=self.n_validation)   # [4, 2]
        self.targets = np.vstack([fit, check])
        self.n_fit = len(fit)
        self._fit_collector = SampleCollector()
        self._check_collector = SampleCollector()
        self.records = []
        self.report = {}
        self.index = -1
        self.running = True
        self._last_face_s = time.monotonic()
        self.result_label.setText("Calibrating…")
        self._set_buttons(idle=False)
        self.overlay.setScreen(screen)
        self.overlay.setGeometry(geometry)
        self.overlay.message = "Look at the red dot until it moves."
        self.overlay.warning = ""
        self.overlay.showFullScreen()
        self.marker.emit("calibration_start", {"n_points": self.n_points,
                                               "n_validation": self.n_validation})
        self._watchdog.start()
        self._next_target()

    def _dwell_over(self) -> None:
        """Move on, unless no face was seen while this target was up: then it waits."""
        if self._faces_on_target == 0:
            self._dwell_timer.start(self.dwell_ms)
            return
        self._next_target()

    def _next_target(self) -> None:
        collector = self._fit_collector if self.index < self.n_fit else self._check_collector
        if self.index >= 0:
            collector.end_point()
        self.index += 1
        if self.index >= len(self.targets):
            self._finish_sequence()
            return
        x, y = self.targets[self.index]
        collector = self._fit_collector if self.index < self.n_fit else self._check_collector
        collector.start_point((x, y), self.session_now())
        self.overlay.target = (float(x), float(y))
        if self.index == self.n_fit:
            self.overlay.message = "Now a few more dots to check the accuracy."
        self.overlay.update()
        self._faces_on_target = 0
        self.target_shown.emit(self.index, float(x), float(y))
        self._dwell_timer.start(self.dwell_ms)

    def _check_face(self) -> None:
        """Hold the current target while no face is seen, and say so on the screen."""
        if not self.running:
            return
        missing = time.monotonic() - self._last_face_s > NO_FACE_AFTER_S
        warning = ("No face found: sit in front of the camera with your face lit and visible."
                   if missing else "")
        if warning != self.overlay.warning:
            self.overlay.warning = warning
            self.overlay.update()

    def no_face_warning(self) -> str:
        return self.overlay.warning

    def _finish_sequence(self) -> None:
        self.running = False
        self._watchdog.stop()
        self._dwell_timer.stop()
        self.overlay.target = None
        self.overlay.message = "Computing the accuracy…"
        self.overlay.warning = ""
        self.overlay.update()
        run_in_background(fit_and_validate, self._fit_collector.samples,
                          self._check_collector.samples, self.geometry_used,
                          on_done=self._fitted, on_error=self._fit_failed)

    def _fitted(self, result: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
        mapping, fit_report, check_report = result
        self.overlay.hide()
        now = self.session_now()
        fit_report = {**fit_report, "rejected": dict(self._fit_collector.counts)}
        check_report = {**check_report, "rejected": dict(self._check_collector.counts)}
        self.records = [fit_record(mapping, fit_report, now),
                        validation_record(mapping, check_report, now)]
        self.report = check_report
        self.result_label.setText(
            f"Accuracy on {check_report['n_points']} check points: mean "
            f"{check_report['mean_px']:.0f} px ({check_report['mean_deg']:.2f}°), median "
            f"{check_report['median_px']:.0f} px ({check_report['median_deg']:.2f}°) at "
            f"{check_report['distance_mm']:.0f} mm. Accept it, or redo the calibration.")
        self._set_buttons(idle=True, result=True)
        self.result_ready.emit(check_report)

    def _fit_failed(self, message: str) -> None:
        self.overlay.hide()
        self.result_label.setText(f"The calibration did not work: {message}")
        self._set_buttons(idle=True)
        self.start_button.setText("Try again")
        self.error.emit(message)

    def accept(self) -> None:
        if not self.records:
            return
        self.marker.emit("calibration_end", {
            "accepted": True, "mean_px": round(self.report["mean_px"], 2),
            "mean_deg": round(self.report["mean_deg"], 3)})
        self._set_buttons(idle=True)
        self.result_label.setText(self.result_label.text().split(" Accept")[0]
                                  + " Accepted.")
        self.accepted.emit(self.records)

    def _skip(self) -> None:
        self._dwell_timer.stop()
        self._watchdog.stop()
        self.running = False
        self.overlay.hide()
        self.marker.emit("calibration_end", {"accepted": False})
        self.skipped.emit()

    def cancel(self) -> None:
        self._skip()
