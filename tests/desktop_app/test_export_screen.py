"""Export and IRL screen: chosen sessions exported to Parquet that pyarrow reads back."""

from __future__ import annotations

import pyarrow.dataset as pads
from PyQt6.QtCore import QSettings

from desktop_app.screens.export_irl import ExportIrlScreen
from tests.desktop_app.sessions_fixture import write_session


def make(qtbot, data_dir, tmp_path) -> ExportIrlScreen:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    screen = ExportIrlScreen(data_dir, settings)
    qtbot.addWidget(screen)
    return screen


def test_export_without_a_chosen_session_says_so(qtbot, data_dir, tmp_path):
    screen = make(qtbot, data_dir, tmp_path)
    with qtbot.waitSignal(screen.error) as blocker:
        screen.export()
    assert "Tick at least one session" in blocker.args[0]


def test_select_sessions_ticks_exactly_those(qtbot, data_dir, tmp_path):
    first = write_session(data_dir, participant="A", seconds=1.0)
    write_session(data_dir, participant="B", seconds=1.0)
    screen = make(qtbot, data_dir, tmp_path)
    screen.select_sessions([str(first)])
    assert screen.session_list.count() == 2
    assert screen.chosen_sessions() == [str(first)]


def test_parquet_export_is_readable_by_pyarrow(qtbot, data_dir, tmp_path):
    path = write_session(data_dir, participant="P001", seconds=8.0)
    screen = make(qtbot, data_dir, tmp_path)
    screen.select_sessions([str(path)])
    screen.format_box.setCurrentText("parquet")
    screen.folder_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(screen.exported, timeout=60_000) as blocker:
        screen.export()
    table = pads.dataset(blocker.args[0]["out"], format="parquet",
                         partitioning="hive").to_table()
    assert table.num_rows == blocker.args[0]["steps"] > 0
    assert str(tmp_path / "out") in screen.status_label.text()


def test_training_then_report_writes_one_html_file(qtbot, data_dir, tmp_path):
    path = write_session(data_dir, seconds=16.0)
    screen = make(qtbot, data_dir, tmp_path)
    screen.open_reports = False
    screen.select_sessions([str(path)])
    screen.algo_box.setCurrentText("bc")
    screen.epochs_box.setValue(5)
    screen.model_edit.setText(str(tmp_path / "model"))
    with qtbot.waitSignal(screen.trained, timeout=180_000):
        screen.train()
    with qtbot.waitSignal(screen.report_ready, timeout=180_000) as blocker:
        screen.report_button.click()
    report = blocker.args[0]
    assert report == str(tmp_path / "model" / "report.html")
    assert "<html" in open(report, encoding="utf-8").read(2000).lower()


def test_training_streams_each_epochs_loss_to_the_plot_before_it_ends(qtbot, data_dir,
                                                                     tmp_path):
    path = write_session(data_dir, seconds=16.0)
    screen = make(qtbot, data_dir, tmp_path)
    screen.select_sessions([str(path)])
    screen.algo_box.setCurrentText("bc")
    screen.epochs_box.setValue(5)
    screen.model_edit.setText(str(tmp_path / "model"))
    streamed: list[dict] = []
    show = screen._train_progress
    screen._train_progress = lambda item: (streamed.append(item), show(item))
    with qtbot.waitSignal(screen.trained, timeout=180_000) as blocker:
        screen.train()
    losses = [item for item in streamed if "loss" in item]
    curve = [point["loss"] for point in blocker.args[0]["curve"]]
    assert [item["step"] for item in losses] == [1, 2, 3, 4, 5]
    assert [item["loss"] for item in losses] == curve == screen.losses
    assert screen.loss_plot.getAxis("left").labelText == "loss"


def test_training_on_one_action_class_shows_the_libraries_reason(qtbot, data_dir, tmp_path):
    path = write_session(data_dir, seconds=1.5)   # typing only: a single action class
    screen = make(qtbot, data_dir, tmp_path)
    screen.select_sessions([str(path)])
    screen.model_edit.setText(str(tmp_path / "model"))
    with qtbot.waitSignal(screen.error, timeout=180_000) as blocker:
        screen.train()
    assert blocker.args[0].startswith("Training stopped:") and "Traceback" not in blocker.args[0]
    assert screen.train_button.isEnabled()
