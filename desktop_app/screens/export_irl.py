"""Export and IRL: choose sessions, export a dataset, train a reward model, read its weights.

Export fuses the chosen sessions (:func:`fusion.fuse.fuse_sessions`) and writes the format
chosen (:func:`fusion.export.export`) on the thread pool. Training runs
:func:`irl.train.train` in a separate process (:class:`desktop_app.workers.ProcessTask`), so
the window stays responsive; its progress and loss arrive as signals and feed the progress
bar and a live pyqtgraph loss plot. The weights table shows per-feature weights on
standardised features with their 95 % episode-bootstrap intervals
(:func:`irl.explain.feature_weights`), and the HTML report is written by
:func:`irl.report.write_report` in a worker process and opened in the browser.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSettings, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.workers import ProcessTask, run_in_background
from sensing.errors import EngageError
from sensing.session import list_sessions

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv", "npz", "minari")
ALGOS = ("maxent", "iq", "bc")


def fuse_and_export(paths: list[str], out: str, fmt: str) -> dict[str, Any]:
    """Fuse the sessions and export them; the failures are reported, never dropped."""
    from fusion.export import export
    from fusion.fuse import describe_failures, fuse_sessions

    dataset, failures = fuse_sessions(paths, processes=1, progress=False)
    if dataset is None:
        raise EngageError("no session could be fused: "
                          + describe_failures(failures, name=lambda s: Path(s).stem))
    written = export(dataset, out, format=fmt)
    return {"out": str(written), "steps": len(dataset),
            "failures": [(f.source, f.message) for f in failures]}


def train_job(paths: list[str], out: str, algo: str, gamma: float, seed: int,
              epochs: int, *, progress: Any) -> dict[str, Any]:
    """Child-process body: fuse, train, save the model; weights and curve for the window."""
    import torch

    torch.set_num_threads(1)
    from fusion.fuse import describe_failures, fuse_sessions
    from irl.train import train

    progress({"phase": "fusing"})
    dataset, failures = fuse_sessions(paths, processes=1, progress=False)
    if dataset is None:
        raise EngageError("no session could be fused: "
                          + describe_failures(failures, name=lambda s: Path(s).stem))
    progress({"phase": "training"})
    model = train(dataset, algo=algo, gamma=gamma, seed=seed, epochs=epochs, progress=False,
                  on_progress=progress)
    folder = model.save(out)
    from irl.explain import feature_weights

    progress({"phase": "explaining"})
    described = feature_weights(model, dataset, seed=seed)
    weights = {"features": list(described.names), "weights": described.weights.tolist(),
               "r_squared": described.r_squared}
    intervals = {"low": described.low.tolist(), "high": described.high.tolist()}
    return {"model": str(folder), "algo": algo, "weights": weights, "intervals": intervals,
            "curve": list(model.curve), "failures": [(f.source, f.message) for f in failures]}


def write_report(model_dir: str, paths: list[str], out: str, *, progress: Any) -> str:
    """Child-process body: the HTML report of a model on the chosen sessions' data."""
    import torch

    torch.set_num_threads(1)
    from fusion.fuse import describe_failures, fuse_sessions
    from irl.model_io import RewardModel
    from irl.report import write_report as write_html

    progress({"phase": "writing the report"})
    model = RewardModel.load(model_dir)
    dataset, failures = fuse_sessions(paths, processes=1, progress=False)
    if dataset is None:
        raise EngageError("no session could be fused for the report: "
                          + describe_failures(failures, name=lambda s: Path(s).stem))
    return str(write_html(model, dataset, out))


class ExportIrlScreen(QWidget):
    """Choose sessions; export them or train on them; see and open the results."""

    error = pyqtSignal(str)
    exported = pyqtSignal(dict)
    trained = pyqtSignal(dict)
    report_ready = pyqtSignal(str)

    def __init__(self, data_dir: Path, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("export_screen")
        self.data_dir = data_dir
        self.settings = settings
        self.task: ProcessTask | None = None
        self.model_dir = ""
        self.report_path = ""
        self.open_reports = True
        self.report_task: ProcessTask | None = None
        self.losses: list[float] = []
        layout = QHBoxLayout(self)

        left = QVBoxLayout()
        left.addWidget(QLabel("Sessions"))
        self.session_list = QListWidget()
        self.session_list.setObjectName("export_sessions")
        left.addWidget(self.session_list, stretch=1)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        left.addWidget(refresh)
        layout.addLayout(left, stretch=1)

        right = QVBoxLayout()
        export_box = QGroupBox("Export a dataset")
        form = QFormLayout(export_box)
        self.format_box = QComboBox()
        self.format_box.setObjectName("export_format")
        self.format_box.addItems(FORMATS)
        form.addRow("Format", self.format_box)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(self._remembered("export/folder", str(Path.home())))
        self.folder_edit.setObjectName("export_folder")
        folder_row.addWidget(self.folder_edit, stretch=1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(self.folder_edit))
        folder_row.addWidget(browse)
        form.addRow("Folder", folder_row)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("export_run")
        self.export_button.clicked.connect(self.export)
        form.addRow(self.export_button)
        right.addWidget(export_box)

        train_box = QGroupBox("Learn the reward (inverse RL)")
        train_form = QFormLayout(train_box)
        self.algo_box = QComboBox()
        self.algo_box.setObjectName("train_algo")
        self.algo_box.addItems(ALGOS)
        train_form.addRow("Algorithm", self.algo_box)
        self.gamma_box = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=0.999, singleStep=0.05,
                                        value=0.9)
        train_form.addRow("Discount γ", self.gamma_box)
        self.seed_box = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        train_form.addRow("Seed", self.seed_box)
        self.epochs_box = QSpinBox(minimum=1, maximum=100_000, value=60)
        self.epochs_box.setObjectName("train_epochs")
        train_form.addRow("Epochs / iterations", self.epochs_box)
        model_row = QHBoxLayout()
        self.model_edit = QLineEdit(self._remembered("train/folder",
                                                     str(Path.home() / "engage-model")))
        self.model_edit.setObjectName("train_folder")
        model_row.addWidget(self.model_edit, stretch=1)
        model_browse = QPushButton("Browse…")
        model_browse.clicked.connect(lambda: self._browse(self.model_edit))
        model_row.addWidget(model_browse)
        train_form.addRow("Model folder", model_row)
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("train_run")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.report_button = QPushButton("Open HTML report")
        self.report_button.setObjectName("train_report")
        self.report_button.clicked.connect(self.open_report)
        self.report_button.setEnabled(False)
        for button in (self.train_button, self.cancel_button, self.report_button):
            buttons.addWidget(button)
        train_form.addRow(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("train_progress")
        train_form.addRow(self.progress_bar)
        right.addWidget(train_box)

        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.loss_plot.setObjectName("train_loss")
        self.loss_plot.setLabel("bottom", "epoch / iteration")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen((0, 90, 200), width=2))
        right.addWidget(self.loss_plot, stretch=1)
        self.weights_table = QTableWidget(0, 3)
        self.weights_table.setObjectName("train_weights")
        self.weights_table.setHorizontalHeaderLabels(["Feature", "Weight", "95 % interval"])
        self.weights_table.horizontalHeader().setStretchLastSection(True)
        right.addWidget(self.weights_table, stretch=1)
        self.status_label = QLabel()
        self.status_label.setObjectName("export_status")
        self.status_label.setWordWrap(True)
        right.addWidget(self.status_label)
        layout.addLayout(right, stretch=2)

    # -- settings ---------------------------------------------------------------------------

    def _remembered(self, key: str, default: str) -> str:
        if self.settings is None:
            return default
        return str(self.settings.value(key, default))

    def save_settings(self) -> None:
        if self.settings is not None:
            self.settings.setValue("export/folder", self.folder_edit.text())
            self.settings.setValue("train/folder", self.model_edit.text())

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    # -- sessions ---------------------------------------------------------------------------

    def refresh(self) -> None:
        run_in_background(list_sessions, self.data_dir,
                          on_done=lambda paths: self._show_sessions(
                              paths, set(self.chosen_sessions())),
                          on_error=self._failed)

    def _show_sessions(self, paths: list[Path], checked: set[str]) -> None:
        self.session_list.clear()
        for path in paths:
            item = QListWidgetItem(path.stem)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if str(path) in checked
                               else Qt.CheckState.Unchecked)
            self.session_list.addItem(item)

    def select_sessions(self, paths: list[str]) -> None:
        """Tick exactly ``paths`` (listing them first if needed)."""
        wanted = {str(Path(p)) for p in paths}
        self._show_sessions(list_sessions(self.data_dir), wanted)

    def chosen_sessions(self) -> list[str]:
        return [self.session_list.item(row).data(Qt.ItemDataRole.UserRole)
                for row in range(self.session_list.count())
                if self.session_list.item(row).checkState() == Qt.CheckState.Checked]

    # -- export -----------------------------------------------------------------------------

    def export(self) -> None:
        paths = self.chosen_sessions()
        if not paths:
            self._failed("Tick at least one session to export.")
            return
        fmt = self.format_box.currentText()
        out = str(Path(self.folder_edit.text()).expanduser())
        self.export_button.setEnabled(False)
        self.status_label.setText(f"Exporting {len(paths)} session(s) as {fmt}…")
        run_in_background(fuse_and_export, paths, out, fmt, on_done=self._exported,
                          on_error=self._export_failed)

    def _exported(self, result: dict[str, Any]) -> None:
        self.export_button.setEnabled(True)
        text = f"Exported {result['steps']} steps to {result['out']}"
        if result["failures"]:
            text += "; skipped: " + "; ".join(f"{Path(s).stem} ({m})"
                                             for s, m in result["failures"])
        self.status_label.setText(text)
        self.save_settings()
        self.exported.emit(result)

    def _export_failed(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self._failed(message)

    # -- training ---------------------------------------------------------------------------

    def train(self) -> None:
        paths = self.chosen_sessions()
        if not paths:
            self._failed("Tick at least one session to train on.")
            return
        if self.task is not None and self.task.running:
            return
        self.losses = []
        self.loss_curve.setData([], [])
        self.progress_bar.setRange(0, 0)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.report_button.setEnabled(False)
        self.status_label.setText("Starting the training process…")
        self.task = ProcessTask(train_job, paths, str(Path(self.model_edit.text()).expanduser()),
                                self.algo_box.currentText(), self.gamma_box.value(),
                                self.seed_box.value(), self.epochs_box.value(), parent=self)
        self.task.progress.connect(self._train_progress)
        self.task.finished.connect(self._trained)
        self.task.failed.connect(self._train_failed)
        self.task.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _train_progress(self, item: dict[str, Any]) -> None:
        if "phase" in item:
            self.status_label.setText(f"{item['phase'].capitalize()}…")
            return
        total = int(item.get("total") or 0)
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(int(item.get("step", 0)), total))
        if "loss" in item:
            self.losses.append(float(item["loss"]))
            self.loss_curve.setData(np.arange(1, len(self.losses) + 1), np.array(self.losses))
            self.loss_plot.setLabel("left", item.get("metric", "loss"))

    def _trained(self, result: dict[str, Any]) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.model_dir = result["model"]
        if not self.losses and result["curve"]:
            key = next((k for k in ("loss", "nll") if k in result["curve"][0]), None)
            if key:
                self.losses = [float(point[key]) for point in result["curve"]]
                self.loss_curve.setData(np.arange(1, len(self.losses) + 1),
                                        np.array(self.losses))
        self._show_weights(result["weights"], result.get("intervals"))
        self.report_button.setEnabled(True)
        self.status_label.setText(f"Trained {result['algo']}; model saved in {result['model']}")
        self.save_settings()
        self.trained.emit(result)

    def _show_weights(self, weights: dict[str, Any], intervals: Any) -> None:
        names = list(weights.get("features", []))
        values = list(weights.get("weights", []))
        order = sorted(range(len(values)), key=lambda k: -abs(values[k]))
        self.weights_table.setRowCount(len(order))
        for row, column in enumerate(order):
            interval = "–"
            if intervals is not None:
                low, high = intervals["low"][column], intervals["high"][column]
                interval = f"[{low:+.3f}, {high:+.3f}]"
            for index, text in enumerate((names[column], f"{values[column]:+.3f}", interval)):
                self.weights_table.setItem(row, index, QTableWidgetItem(text))
        self.weights_table.resizeColumnsToContents()

    def _train_failed(self, message: str) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self._failed(f"Training stopped: {message}")

    def open_report(self) -> None:
        if not self.model_dir:
            return
        out = str(Path(self.model_dir) / "report.html")
        self.status_label.setText("Writing the report…")
        self.report_button.setEnabled(False)
        self.report_task = ProcessTask(write_report, self.model_dir, self.chosen_sessions(),
                                       out, parent=self)
        self.report_task.finished.connect(self._report_written)
        self.report_task.failed.connect(self._report_failed)
        self.report_task.start()

    def _report_failed(self, message: str) -> None:
        self.report_button.setEnabled(True)
        self._failed(f"The report could not be written: {message}")

    def _report_written(self, path: str) -> None:
        self.report_button.setEnabled(True)
        self.report_path = path
        self.status_label.setText(f"Report written to {path}")
        self.report_ready.emit(path)
        if self.open_reports:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def _failed(self, message: str) -> None:
        self.status_label.setText(message)
        self.error.emit(message)
