"""Recording: camera preview, stream health, a clear indicator, pause, and elapsed time.

The preview and the health figures come from :class:`desktop_app.workers.RecordingController`
signals; this screen only paints them. The landmark and gaze overlay is off by default, so a
participant is not watching their own face mesh unless a researcher turns it on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PyQt6.QtCore import QElapsedTimer, QPointF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

HEALTH_FIELDS = ("fps", "frames_dropped", "events_per_s", "queue_depth", "markers")
HEALTH_LABELS = {"fps": "Camera frames/s", "frames_dropped": "Frames dropped",
                 "events_per_s": "Input events/s", "queue_depth": "Queue depth",
                 "markers": "Markers stored"}


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A deep-copied QImage of a BGR uint8 [H, W, 3] array."""
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def health_figures(snapshot: dict[str, Any]) -> dict[str, str]:
    """The figures shown in the health panel, from :meth:`sensing.recorder.Recorder.status`.

    Frames dropped adds every frame that was not analysed: skipped by the source (the reader
    fell a period behind), skipped by the face pipeline (MediaPipe behind) and refused by
    the store. Missing figures show as a dash rather than a made-up zero.
    """
    streams = snapshot.get("streams", {})
    frames = snapshot.get("frames", {})

    def number(value: Any, digits: int = 1) -> str:
        if value is None:
            return "–"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    face = streams.get("face", {})
    dropped = None
    if frames or face:
        dropped = (int(frames.get("source", {}).get("frames_skipped", 0))
                   + int(frames.get("pipeline", {}).get("skipped", 0))
                   + int(face.get("dropped", 0)))
    return {
        "fps": number(face.get("rate_hz")),
        "frames_dropped": number(dropped),
        "events_per_s": number(streams.get("input", {}).get("rate_hz")),
        "queue_depth": number(snapshot.get("queue_depth")),
        "markers": number(streams.get("markers", {}).get("written")),
    }


class RecordingScreen(QWidget):
    """Shows what is being recorded and lets the participant pause or stop."""

    pause_toggled = pyqtSignal(bool)
    stop_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recording_screen")
        self.recording = False
        self.paused = False
        self.last_face: Any = None
        self.screen_size: tuple[int, int] = (1920, 1080)
        self._elapsed = QElapsedTimer()

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.indicator = QLabel()
        self.indicator.setObjectName("recording_indicator")
        top.addWidget(self.indicator)
        self.elapsed_label = QLabel("00:00")
        self.elapsed_label.setObjectName("recording_elapsed")
        top.addWidget(self.elapsed_label)
        top.addStretch(1)
        self.overlay_box = QCheckBox("Show face landmarks and gaze")
        self.overlay_box.setObjectName("recording_overlay")
        top.addWidget(self.overlay_box)
        self.pause_button = QPushButton("Pause (Ctrl+Shift+P)")
        self.pause_button.setObjectName("recording_pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        top.addWidget(self.pause_button)
        self.stop_button = QPushButton("Stop recording")
        self.stop_button.setObjectName("recording_stop")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        top.addWidget(self.stop_button)
        layout.addLayout(top)

        body = QHBoxLayout()
        self.preview = QLabel("No camera image yet")
        self.preview.setObjectName("recording_preview")
        self.preview.setMinimumSize(320, 240)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #202020; color: #cccccc;")
        body.addWidget(self.preview, stretch=3)
        health_box = QGroupBox("Stream health")
        form = QFormLayout(health_box)
        self.health_labels: dict[str, QLabel] = {}
        for field in HEALTH_FIELDS:
            label = QLabel("–")
            label.setObjectName(f"health_{field}")
            self.health_labels[field] = label
            form.addRow(HEALTH_LABELS[field], label)
        self.face_label = QLabel("–")
        self.face_label.setObjectName("health_face")
        form.addRow("Face", self.face_label)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setObjectName("health_problems")
        form.addRow(self.problem_label)
        body.addWidget(health_box, stretch=1)
        layout.addLayout(body, stretch=1)

        self._clock_timer = QTimer(self, interval=250)
        self._clock_timer.timeout.connect(self._tick)
        self.set_recording(False)

    # -- state ------------------------------------------------------------------------------

    def set_recording(self, recording: bool) -> None:
        self.recording = recording
        if recording:
            self._elapsed.start()
            self._clock_timer.start()
            self.paused = False
        else:
            self._clock_timer.stop()
        self.pause_button.setEnabled(recording)
        self.stop_button.setEnabled(recording)
        self._paint_indicator()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_button.setText("Resume (Ctrl+Shift+P)" if paused else "Pause (Ctrl+Shift+P)")
        self._paint_indicator()

    def toggle_pause(self) -> None:
        if not self.recording:
            return
        self.set_paused(not self.paused)
        self.pause_toggled.emit(self.paused)

    def _paint_indicator(self) -> None:
        if not self.recording:
            text, style = "Not recording", "color: #606060;"
        elif self.paused:
            text, style = "❚❚ PAUSED: nothing is recorded", (
                "color: white; background: #b07000; padding: 4px; font-weight: bold;")
        else:
            text, style = "● RECORDING", (
                "color: white; background: #c00000; padding: 4px; font-weight: bold;")
        self.indicator.setText(text)
        self.indicator.setStyleSheet(style)

    def elapsed_s(self) -> float:
        return self._elapsed.elapsed() / 1000 if self._elapsed.isValid() else 0.0

    def _tick(self) -> None:
        seconds = int(self.elapsed_s())
        self.elapsed_label.setText(f"{seconds // 60:02d}:{seconds % 60:02d}")

    # -- data -------------------------------------------------------------------------------

    def show_status(self, snapshot: dict[str, Any]) -> None:
        for field, text in health_figures(snapshot).items():
            self.health_labels[field].setText(text)
        problems = [snapshot.get("frames", {}).get("problem"),
                    snapshot.get("input", {}).get("unavailable")]
        self.problem_label.setText("\n".join(str(p) for p in problems if p))

    def show_frame(self, image: np.ndarray, face: Any) -> None:
        self.last_face = face
        if face is not None:
            self.face_label.setText(
                "found" if getattr(face, "present", False) else "no face in view")
        if not self.isVisible():
            return
        pixmap = QPixmap.fromImage(bgr_to_qimage(image))
        if self.overlay_box.isChecked() and face is not None:
            self._draw_overlay(pixmap, face)
        self.preview.setPixmap(pixmap.scaled(
            self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation))

    def _draw_overlay(self, pixmap: QPixmap, face: Any) -> None:
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor(0, 255, 120), 1))
        landmarks = getattr(face, "landmarks", None)
        if landmarks is not None:
            for x, y, _z in np.asarray(landmarks)[::3]:
                painter.drawPoint(QPointF(float(x) * pixmap.width(), float(y) * pixmap.height()))
        gaze = getattr(face, "gaze_px", (math.nan, math.nan))
        if all(math.isfinite(v) for v in gaze):
            width, height = self.screen_size
            point = QPointF(gaze[0] / width * pixmap.width(), gaze[1] / height * pixmap.height())
            painter.setPen(QPen(QColor(255, 60, 60), 3))
            painter.drawEllipse(point, 8, 8)
        painter.end()
