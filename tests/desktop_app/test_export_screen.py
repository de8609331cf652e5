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
