"""Replay: a recorded session on one timeline, with synchronised panels.

The rows come from :func:`sensing.replay.replay` (the merged, time-ordered iterator), read
once as fast as possible on the thread pool into per-stream arrays; the timeline then plays
them at a chosen speed by moving a cursor. Fused features and the engagement score E come
from :func:`fusion.fuse.fuse_session`, and the learned reward from a loaded
:class:`irl.model_io.RewardModel`. The raw video is shown beside the panels when it was kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.screens.recording import bgr_to_qimage
from desktop_app.workers import run_in_background
from sensing.calibration import latest_mapping
from sensing.expression import expression_summaries
from sensing.gaze import face_arrays_from_frames
from sensing.recorder import kept_video_for, video_times_path_for
from sensing.records import INPUT_KINDS, FaceFrame, InputEvent, Marker
from sensing.replay import replay
from sensing.session import open_session

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SCANPATH_WINDOW_S = 2.0
HEATMAP_BINS = (64, 36)
FRAME_MS = 40
TRACE_NAMES = ("smile", "brow_raise", "brow_lower", "jaw_open")
# Marker labels sit on a few rows near the top of the input panel; a label needs about this
# share of the panel's width to stay readable.
MARKER_LABEL_ROWS = (0.92, 0.8, 0.68, 0.56)
MARKER_LABEL_WIDTH = 1 / 40


def place_marker_labels(times_s: list[float], span_s: float) -> list[int | None]:
    """Row of each marker's label (an index into MARKER_LABEL_ROWS), or None for no label.

    Why: markers often come in bursts (a query submitted, the content hidden and the next
    shown within a millisecond), and labels drawn at one height covered each other. Each
    marker, in time order, takes the first row whose last label is far enough to its left;
    when every row is taken nearby it is drawn as a tick without a label.
    """
    gap = max(span_s, 1e-9) * MARKER_LABEL_WIDTH
    last = [-np.inf] * len(MARKER_LABEL_ROWS)
    placed: list[int | None] = []
    for t in times_s:
        row = next((r for r, end in enumerate(last) if t - end >= gap), None)
        if row is not None:
            last[row] = t
        placed.append(row)
    return placed


def load_replay(path: str, model_dir: str | None = None) -> dict[str, Any]:
    """Read a session through the replay iterator and fuse it; arrays for the panels."""
    face_rows: list[FaceFrame] = []
    input_rows: list[InputEvent] = []
    marker_rows: list[Marker] = []
    with open_session(path) as session:
        summary = session.summary()
        screen = None
        calibrations = session.calibrations()
        for calibration in calibrations:
            screen = calibration.model.get("screen", screen)
        for row in replay(session, speed=None, streams=("face", "input", "markers")):
            if row.stream == "face":
                face_rows.append(row.record)
            elif row.stream == "input":
                input_rows.append(row.record)
            else:
                marker_rows.append(row.record)
    n = len(face_rows)
    blend = (np.stack([f.blendshapes for f in face_rows]) if n
             else np.zeros((0, 52), np.float32))                                   # [N, 52]
    gaze = np.array([f.gaze_px for f in face_rows], dtype=np.float64).reshape(n, 2)  # [N, 2]
    gaze_note = "recorded"
    mapping = latest_mapping(calibrations)
    if n and mapping is not None and not np.isfinite(gaze).any():
        # Live rows carry raw features; the stored calibration maps them, as offline tools do.
        gaze, _ = mapping.apply_to_face_rows(face_arrays_from_frames(face_rows))
        gaze_note = "from the stored calibration"
    data: dict[str, Any] = {
        "path": path, "summary": summary,
        "face_t_s": np.array([f.t_ns for f in face_rows], dtype=np.float64) / 1e9,  # [N]
        "gaze_px": gaze, "gaze_note": gaze_note,
        "present": np.array([f.present for f in face_rows], dtype=bool),
        "expressions": {name: np.asarray(values, dtype=np.float64) for name, values in
                        expression_summaries(blend).items() if name in TRACE_NAMES},
        "input_t_s": np.array([e.t_ns for e in input_rows], dtype=np.float64) / 1e9,
        "input_kind": np.array([INPUT_KINDS.index(e.kind) for e in input_rows], dtype=np.int64),
        "markers": [(m.t_ns / 1e9, m.kind, m.payload) for m in marker_rows],
        "screen": screen or {"width_px": 1920, "height_px": 1080},
        "video": None, "fused": None, "fused_error": "", "reward": None, "reward_error": "",
    }
    video = kept_video_for(Path(path))
    times = video_times_path_for(Path(path))
    if video is not None and times.is_file():
        data["video"] = str(video)
        data["video_t_s"] = np.fromfile(times, dtype="<i8") / 1e9                # [V]
    try:
        from fusion.fuse import fuse_session

        dataset = fuse_session(path)
        data["fused"] = {"t_s": dataset.t_s, "states": dataset.states,
                         "names": dataset.schema.feature_names,
                         "engagement": np.asarray(dataset.extras.get("engagement",
                                                                     np.full(len(dataset),
                                                                             np.nan)))}
        if model_dir:
            data.update(score_with_model(dataset, model_dir))
    except Exception as error:  # noqa: BLE001 - the raw streams still replay without fusion
        data["fused_error"] = str(error)
        log.info("replay without fused features: %s", error)
    return data


def score_with_model(dataset: Any, model_dir: str) -> dict[str, Any]:
    """The learned reward per step of ``dataset`` from the model folder."""
    from irl.model_io import RewardModel

    try:
        model = RewardModel.load(model_dir)
        return {"reward": np.asarray(model.score(dataset), dtype=np.float64),
                "reward_error": ""}
    except Exception as error:  # noqa: BLE001 - shown in the window, the rest still plays
        return {"reward": None, "reward_error": str(error)}


def read_video_frame(video: str, index: int) -> tuple[int, np.ndarray | None]:
    import cv2

    capture = cv2.VideoCapture(video)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
    finally:
        capture.release()
    return index, image if ok else None


class ReplayScreen(QWidget):
    """Timeline, play and pause, speed, and the synchronised panels."""

    error = pyqtSignal(str)
    loaded = pyqtSignal(str)

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("replay_screen")
        self.data_dir = data_dir
        self.data: dict[str, Any] | None = None
        self.model_dir: str | None = None
        self.t_s = 0.0
        self.duration_s = 0.0
        self.marker_ticks = 0  # markers drawn as ticks without a label
        self.playing = False
        self._video_busy = False
        self._video_index = -1

        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        self.open_button = QPushButton("Open session…")
        self.open_button.clicked.connect(self._choose_session)
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("replay_play")
        self.play_button.clicked.connect(self.toggle_play)
        self.speed_box = QComboBox()
        self.speed_box.setObjectName("replay_speed")
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}×", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("replay_scrubber")
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(lambda value: self.seek(value / 1000, from_slider=True))
        self.time_label = QLabel("0.0 / 0.0 s")
        self.time_label.setObjectName("replay_time")
        self.model_button = QPushButton("Load reward model…")
        self.model_button.setObjectName("replay_model")
        self.model_button.clicked.connect(self._choose_model)
        for widget in (self.open_button, self.play_button, self.speed_box):
            controls.addWidget(widget)
        controls.addWidget(self.slider, stretch=1)
        controls.addWidget(self.time_label)
        controls.addWidget(self.model_button)
        layout.addLayout(controls)
        self.info_label = QLabel("Open a session from the Sessions tab or with Open session…")
        self.info_label.setObjectName("replay_info")
        self.info_label.setWordWrap(True)
        layout.addWidget(self.info_label)

        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.gaze_plot = pg.PlotWidget(title="Gaze on the screen: heatmap and scanpath")
        self.gaze_plot.invertY(True)
        self.gaze_plot.setAspectLocked(True)
        self.heatmap = pg.ImageItem()
        self.heatmap.setColorMap(pg.colormap.get("viridis"))
        self.gaze_plot.addItem(self.heatmap)
        self.scanpath = self.gaze_plot.plot(pen=pg.mkPen((220, 40, 40), width=2))
        self.gaze_point = pg.ScatterPlotItem(size=14, brush=pg.mkBrush(255, 0, 0, 200))
        self.gaze_plot.addItem(self.gaze_point)
        self.region_item = pg.PlotDataItem(pen=pg.mkPen((40, 120, 255), width=2,
                                                        style=Qt.PenStyle.DashLine))
        self.gaze_plot.addItem(self.region_item)
        splitter.addWidget(self.gaze_plot)
        self.video_label = QLabel("No raw video was kept for this session")
        self.video_label.setObjectName("replay_video")
        self.video_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video_label.setMinimumWidth(240)
        splitter.addWidget(self.video_label)
        layout.addWidget(splitter, stretch=2)

        self.traces = pg.GraphicsLayoutWidget()
        self.traces.setObjectName("replay_traces")
        self.expression_plot = self.traces.addPlot(row=0, col=0, title="Expressions")
        self.expression_plot.addLegend(offset=(5, 5))
        self.input_plot = self.traces.addPlot(row=1, col=0, title="Input events")
        self.input_plot.getAxis("left").setTicks([list(enumerate(INPUT_KINDS))])
        self.fused_plot = self.traces.addPlot(row=2, col=0, title="Fused features (z-scored)")
        self.fused_plot.addLegend(offset=(5, 5))
        self.value_plot = self.traces.addPlot(row=3, col=0,
                                              title="Engagement E and learned reward")
        self.value_plot.addLegend(offset=(5, 5))
        self.cursors = []
        for plot in (self.expression_plot, self.input_plot, self.fused_plot, self.value_plot):
            if plot is not self.expression_plot:
                plot.setXLink(self.expression_plot)
            cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen((200, 0, 0), width=1))
            plot.addItem(cursor)
            self.cursors.append(cursor)
        layout.addWidget(self.traces, stretch=3)

        self._timer = QTimer(self, interval=FRAME_MS)
        self._timer.timeout.connect(self._advance)

    # -- loading ----------------------------------------------------------------------------

    def load(self, path: str) -> None:
        """Read a session on the pool and show it."""
        self.pause()
        self.info_label.setText(f"Loading {Path(path).stem}…")
        run_in_background(load_replay, path, self.model_dir, on_done=self._show,
                          on_error=self._failed)

    def _choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", str(self.data_dir),
                                              "Engage sessions (*.sqlite)")
        if path:
            self.load(path)

    def _choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Reward model folder")
        if folder:
            self.set_model(folder)

    def set_model(self, folder: str) -> None:
        self.model_dir = folder
        if self.data is not None:
            self.load(self.data["path"])

    def _failed(self, message: str) -> None:
        self.info_label.setText(message)
        self.error.emit(message)

    def _show(self, data: dict[str, Any]) -> None:
        self.data = data
        ends = [array[-1] for array in (data["face_t_s"], data["input_t_s"]) if len(array)]
        ends += [t for t, _, _ in data["markers"][-1:]]
        self.duration_s = float(max(ends, default=0.0))
        self.slider.blockSignals(True)
        self.slider.setRange(0, int(self.duration_s * 1000))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._draw_static()
        notes = [f"Session {data['summary']['id']} ({data['summary']['participant']}), "
                 f"{self.duration_s:.1f} s, {len(data['face_t_s'])} face rows, "
                 f"{len(data['input_t_s'])} input events, {len(data['markers'])} markers; "
                 f"gaze {data['gaze_note']}."]
        if data["fused_error"]:
            notes.append(f"No fused features: {data['fused_error']}")
        if data["reward_error"]:
            notes.append(f"No learned reward: {data['reward_error']}")
            self.error.emit(data["reward_error"])
        if data["video"] is None:
            self.video_label.setText("No raw video was kept for this session")
        self.info_label.setText(" ".join(notes))
        self.seek(0.0)
        self.loaded.emit(data["path"])

    def _draw_static(self) -> None:
        data = self.data
        assert data is not None
        width = float(data["screen"].get("width_px", 1920))
        height = float(data["screen"].get("height_px", 1080))
        gaze = data["gaze_px"]
        finite = np.all(np.isfinite(gaze), axis=1)
        counts, _, _ = np.histogram2d(gaze[finite, 0], gaze[finite, 1], bins=HEATMAP_BINS,
                                      range=[[0, width], [0, height]])          # [64, 36]
        self.heatmap.setImage(counts, autoLevels=True)
        self.heatmap.setRect(0, 0, width, height)
        self.gaze_plot.setRange(xRange=(0, width), yRange=(0, height))

        self.expression_plot.clear()
        self.expression_plot.addItem(self.cursors[0])
        colours = ((230, 120, 0), (0, 150, 60), (120, 60, 200), (0, 120, 220))
        for (name, values), colour in zip(data["expressions"].items(), colours, strict=False):
            self.expression_plot.plot(data["face_t_s"], values, pen=pg.mkPen(colour), name=name)
        self.input_plot.clear()
        self.input_plot.addItem(self.cursors[1])
        if len(data["input_t_s"]):
            self.input_plot.plot(data["input_t_s"], data["input_kind"], pen=None, symbol="o",
                                 symbolSize=4, symbolBrush=(40, 40, 40))
        self._draw_markers(data["markers"])
        self.fused_plot.clear()
        self.fused_plot.addItem(self.cursors[2])
        self.value_plot.clear()
        self.value_plot.addItem(self.cursors[3])
        fused = data["fused"]
        if fused is not None and len(fused["t_s"]):
            states = fused["states"]
            spread = states.std(axis=0)
            chosen = np.argsort(-np.nan_to_num(spread))[:4]
            for rank, column in enumerate(chosen):
                values = (states[:, column] - states[:, column].mean()) / max(spread[column], 1e-9)
                self.fused_plot.plot(fused["t_s"], values, pen=pg.mkPen(colours[rank]),
                                     name=fused["names"][column])
            self.value_plot.plot(fused["t_s"], fused["engagement"],
                                 pen=pg.mkPen((0, 0, 0), width=2), name="E")
            if data["reward"] is not None:
                self.value_plot.plot(fused["t_s"], data["reward"],
                                     pen=pg.mkPen((200, 0, 0), width=2), name="reward")
        self.expression_plot.setXRange(0, max(self.duration_s, 1.0))

    def _draw_markers(self, markers: list[tuple[float, str, Any]]) -> None:
        """Labelled lines where labels fit (:func:`place_marker_labels`), one tick series for
        the rest, so a session with thousands of markers stays one plot item, not thousands."""
        pen = pg.mkPen((100, 100, 255), style=Qt.PenStyle.DotLine)
        rows = place_marker_labels([t for t, _, _ in markers], self.duration_s)
        unlabelled = []
        for (t, kind, _payload), row in zip(markers, rows, strict=True):
            if row is None:
                unlabelled.append(t)
                continue
            self.input_plot.addItem(pg.InfiniteLine(
                pos=t, angle=90, pen=pen, label=kind,
                labelOpts={"position": MARKER_LABEL_ROWS[row], "color": (60, 60, 200)}))
        self.marker_ticks = len(unlabelled)
        if unlabelled:
            top = len(INPUT_KINDS) - 0.5
            self.input_plot.plot(unlabelled, np.full(len(unlabelled), top), pen=None,
                                 symbol="t", symbolSize=7, symbolBrush=(100, 100, 255))

    # -- playback ---------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        return float(self.speed_box.currentData())

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.data is None:
            return
        if self.t_s >= self.duration_s:
            self.seek(0.0)
        self.playing = True
        self.play_button.setText("Pause")
        self._timer.start()

    def pause(self) -> None:
        self.playing = False
        self.play_button.setText("Play")
        self._timer.stop()

    def _advance(self) -> None:
        next_t = self.t_s + FRAME_MS / 1000 * self.speed
        if next_t >= self.duration_s:
            next_t = self.duration_s
            self.pause()
        self.seek(next_t)

    def seek(self, t_s: float, *, from_slider: bool = False) -> None:
        """Move every panel to session time ``t_s``."""
        if self.data is None:
            return
        self.t_s = min(max(0.0, t_s), self.duration_s)
        if not from_slider:
            self.slider.blockSignals(True)
            self.slider.setValue(int(self.t_s * 1000))
            self.slider.blockSignals(False)
        self.time_label.setText(f"{self.t_s:.1f} / {self.duration_s:.1f} s")
        for cursor in self.cursors:
            cursor.setPos(self.t_s)
        data = self.data
        times = data["face_t_s"]
        lo = np.searchsorted(times, self.t_s - SCANPATH_WINDOW_S)
        hi = np.searchsorted(times, self.t_s, side="right")
        path = data["gaze_px"][lo:hi]
        path = path[np.all(np.isfinite(path), axis=1)]
        self.scanpath.setData(path[:, 0], path[:, 1])
        self.gaze_point.setData(path[-1:, 0], path[-1:, 1])
        self._draw_region()
        self._show_video_frame()

    def current_region(self) -> dict[str, float] | None:
        """The content region on screen at the cursor, from the last content marker."""
        region = None
        for t, kind, payload in self.data["markers"] if self.data else []:
            if t > self.t_s:
                break
            if kind == "content_hidden":
                region = None
            elif "region" in payload and kind in ("content_shown", "note"):
                region = payload["region"]
        return region

    def _draw_region(self) -> None:
        region = self.current_region()
        if not isinstance(region, dict) or not all(key in region for key in "xywh"):
            self.region_item.clear()
            return
        x, y, w, h = (float(region[key]) for key in "xywh")
        self.region_item.setData([x, x + w, x + w, x, x], [y, y, y + h, y + h, y])

    def _show_video_frame(self) -> None:
        """Ask for the frame at the cursor; one read at a time, the latest request wins."""
        data = self.data
        if data is None or data["video"] is None or self._video_busy:
            return
        index = int(np.searchsorted(data["video_t_s"], self.t_s, side="right")) - 1
        if index < 0 or index == self._video_index:
            return
        self._video_busy = True
        run_in_background(read_video_frame, data["video"], index, on_done=self._video_frame,
                          on_error=lambda _m: setattr(self, "_video_busy", False))

    def _video_frame(self, result: tuple[int, np.ndarray | None]) -> None:
        self._video_busy = False
        index, image = result
        self._video_index = index
        if image is not None:
            self.video_label.setPixmap(QPixmap.fromImage(bgr_to_qimage(image)).scaled(
                self.video_label.size(), Qt.AspectRatioMode.KeepAspectRatio))
        self._show_video_frame()   # the cursor may have moved on while this frame was read

    def gaze_samples_shown(self) -> int:
        """Points in the scanpath now drawn (for tests and the status line)."""
        x, _ = self.scanpath.getData()
        return 0 if x is None else len(x)

