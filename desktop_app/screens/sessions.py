"""Sessions: the recorded sessions in the data folder, their facts, verify, delete, export.

The facts shown are the ``engage sessions show`` object (:meth:`sensing.session.Session.summary`);
all reading happens on the thread pool, so a large or damaged file never freezes the window.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.commands.sessions import side_files
from desktop_app.workers import run_in_background
from sensing.errors import SessionError
from sensing.session import list_sessions, open_session

log = logging.getLogger(__name__)

COLUMNS = ("Session", "Participant", "Started", "Duration", "Status")


def read_overview(data_dir: Path) -> list[dict[str, Any]]:
    """One row per session file: id, participant, start, duration, status, or the error."""
    rows = []
    for path in list_sessions(data_dir):
        try:
            with open_session(path) as session:
                rows.append({"path": str(path), "id": session.id,
                             "participant": session.participant,
                             "started_at": session.meta.get("started_at", ""),
                             "duration_s": session.duration_s, "status": session.status})
        except SessionError as error:
            rows.append({"path": str(path), "id": path.stem, "participant": "",
                         "started_at": "", "duration_s": None, "status": f"unreadable: {error}"})
    return rows


def read_summary(path: str) -> dict[str, Any]:
    with open_session(path) as session:
        return session.summary()


def verify_session(path: str) -> tuple[bool, str]:
    with open_session(path) as session:
        return session.verify()


def delete_session_files(path: str) -> list[str]:
    """Remove a session file and its side files, as ``engage sessions delete`` does."""
    file = Path(path)
    open_session(file).close()  # refuse to delete anything that is not a session
    removed = []
    for target in side_files(file):
        target.unlink(missing_ok=True)
        removed.append(str(target))
    log.info("deleted session %s (%d files)", file.stem, len(removed))
    return removed


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as aligned lines a researcher can read at a glance."""
    lines = []
    for key in ("id", "participant", "status", "started_at", "ended_at", "duration_s",
                "schema_version", "app_version", "path", "gaps"):
        value = summary.get(key)
        if key == "duration_s" and value is not None:
            value = f"{value:.1f} s"
        lines.append(f"{key:<15} {value}")
    consent = summary.get("consent", {})
    lines.append("consent         " + ", ".join(
        f"{stream} {'yes' if granted else 'no'}" for stream, granted in consent.items()))
    lines.append("streams")
    for stream, facts in summary.get("streams", {}).items():
        span = ("" if facts.get("first_t_s") is None else
                f"  {facts['first_t_s']:.2f}-{facts['last_t_s']:.2f} s")
        lines.append(f"  {stream:<13} {facts.get('rows', 0):>8} rows{span}")
    for key in ("host", "camera"):
        if summary.get(key):
            lines.append(f"{key:<15} {json.dumps(summary[key], sort_keys=True)}")
    return "\n".join(lines)


class SessionsScreen(QWidget):
    """List of sessions with details, verify, delete, and hand-offs to replay and export."""

    replay_requested = pyqtSignal(str)
    export_requested = pyqtSignal(list)
    error = pyqtSignal(str)
    refreshed = pyqtSignal(int)
    verified = pyqtSignal(bool, str)
    deleted = pyqtSignal(str)

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessions_screen")
        self.data_dir = data_dir
        self.rows: list[dict[str, Any]] = []
        self.confirm_delete = True

        layout = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setObjectName("sessions_verify")
        self.verify_button.clicked.connect(self.verify_selected)
        self.replay_button = QPushButton("Open in replay")
        self.replay_button.setObjectName("sessions_replay")
        self.replay_button.clicked.connect(self._replay_selected)
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("sessions_export")
        self.export_button.clicked.connect(self._export_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("sessions_delete")
        self.delete_button.clicked.connect(self.delete_selected)
        for button in (self.refresh_button, self.verify_button, self.replay_button,
                       self.export_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("sessions_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        splitter.addWidget(self.table)
        self.details = QPlainTextEdit()
        self.details.setObjectName("sessions_details")
        self.details.setReadOnly(True)
        font = self.details.font()
        font.setFamily("monospace")
        self.details.setFont(font)
        splitter.addWidget(self.details)
        layout.addWidget(splitter, stretch=1)
        self.status_label = QLabel()
        self.status_label.setObjectName("sessions_status")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self._selection_changed()

    def selected_paths(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.rows[row]["path"] for row in rows if row < len(self.rows)]

    def refresh(self) -> None:
        self.status_label.setText("Reading sessions…")
        run_in_background(read_overview, self.data_dir, on_done=self._show_rows,
                          on_error=self._failed)

    def select_path(self, path: str) -> None:
        for row, facts in enumerate(self.rows):
            if Path(facts["path"]) == Path(path):
                self.table.selectRow(row)
                return

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        selected = self.selected_paths()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for row, facts in enumerate(rows):
            duration = facts["duration_s"]
            values = (facts["id"], facts["participant"], facts["started_at"][:19],
                      "" if duration is None else f"{duration:.1f} s", facts["status"])
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        self.status_label.setText(f"{len(rows)} session(s) in {self.data_dir}")
        for path in selected:
            self.select_path(path)
        self.refreshed.emit(len(rows))

    def _selection_changed(self) -> None:
        paths = self.selected_paths()
        for button in (self.verify_button, self.delete_button, self.export_button):
            button.setEnabled(bool(paths))
        self.replay_button.setEnabled(len(paths) == 1)
        if len(paths) == 1:
            run_in_background(read_summary, paths[0], on_done=self._show_summary,
                              on_error=self._failed)
        else:
            self.details.setPlainText("" if not paths else f"{len(paths)} sessions selected")

    def _show_summary(self, summary: dict[str, Any]) -> None:
        paths = self.selected_paths()
        if len(paths) == 1 and Path(summary["path"]) == Path(paths[0]).resolve():
            self.details.setPlainText(format_summary(summary))

    def verify_selected(self) -> None:
        for path in self.selected_paths():
            run_in_background(verify_session, path,
                              on_done=lambda result, p=path: self._verified(p, result),
                              on_error=self._failed)

    def _verified(self, path: str, result: tuple[bool, str]) -> None:
        ok, message = result
        self.status_label.setText(f"{Path(path).stem}: {'OK' if ok else 'FAILED'} {message}")
        self.verified.emit(ok, message)

    def delete_selected(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        if self.confirm_delete:
            answer = QMessageBox.question(
                self, "Delete sessions",
                f"Delete {len(paths)} session(s) for good? This cannot be undone.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        for path in paths:
            run_in_background(delete_session_files, path,
                              on_done=lambda _removed, p=path: self._deleted(p),
                              on_error=self._failed)

    def _deleted(self, path: str) -> None:
        self.status_label.setText(f"Deleted {Path(path).stem}")
        self.deleted.emit(path)
        self.refresh()

    def _replay_selected(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            self.replay_requested.emit(paths[0])

    def _export_selected(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.export_requested.emit(paths)

    def _failed(self, message: str) -> None:
        self.status_label.setText(message)
        self.error.emit(message)
