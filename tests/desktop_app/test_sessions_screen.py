"""Sessions screen: list, details, verify and delete real session files."""

from __future__ import annotations

from desktop_app.screens.sessions import SessionsScreen
from tests.desktop_app.sessions_fixture import write_session


def loaded_screen(qtbot, data_dir) -> SessionsScreen:
    screen = SessionsScreen(data_dir)
    screen.confirm_delete = False
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.refreshed, timeout=10_000):
        screen.refresh()
    return screen


def test_lists_every_session_with_participant_and_duration(qtbot, data_dir):
    write_session(data_dir, participant="P007", seconds=2.0)
    write_session(data_dir, participant="P008", seconds=3.0)
    screen = loaded_screen(qtbot, data_dir)
    assert screen.table.rowCount() == 2
    participants = {screen.table.item(row, 1).text() for row in range(2)}
    assert participants == {"P007", "P008"}
    assert screen.table.item(0, 4).text() == "complete"


def test_details_show_the_sessions_show_facts(qtbot, data_dir):
    write_session(data_dir, participant="P009", seconds=2.0)
    screen = loaded_screen(qtbot, data_dir)
    screen.table.selectRow(0)
    qtbot.waitUntil(lambda: "P009" in screen.details.toPlainText(), timeout=10_000)
    text = screen.details.toPlainText()
    assert "face                60 rows" in text
    assert "keyboard yes" in text and "video no" in text


def test_verify_reports_ok_for_a_closed_session(qtbot, data_dir):
    write_session(data_dir, seconds=1.0)
    screen = loaded_screen(qtbot, data_dir)
    screen.table.selectRow(0)
    with qtbot.waitSignal(screen.verified, timeout=10_000) as blocker:
        screen.verify_selected()
    ok, message = blocker.args
    assert ok and message.startswith("ok (complete)")


def test_verify_of_a_damaged_file_shows_a_readable_error(qtbot, data_dir):
    path = write_session(data_dir, seconds=1.0)
    screen = loaded_screen(qtbot, data_dir)
    screen.table.selectRow(0)
    qtbot.waitUntil(lambda: "streams" in screen.details.toPlainText(), timeout=10_000)
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    with qtbot.waitSignal(screen.error, timeout=10_000) as blocker:
        screen.verify_selected()
    assert "Traceback" not in blocker.args[0] and blocker.args[0]
    assert screen.status_label.text() == blocker.args[0]


def test_delete_removes_the_file_and_the_row(qtbot, data_dir):
    keep = write_session(data_dir, participant="KEEP", seconds=1.0)
    gone = write_session(data_dir, participant="GONE", seconds=1.0)
    screen = loaded_screen(qtbot, data_dir)
    screen.select_path(str(gone))
    with qtbot.waitSignal(screen.refreshed, timeout=10_000):
        screen.delete_selected()
    assert not gone.exists() and keep.exists()
    assert screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "KEEP"


def test_replay_and_export_hand_off_the_selected_paths(qtbot, data_dir):
    path = write_session(data_dir, seconds=1.0)
    screen = loaded_screen(qtbot, data_dir)
    screen.table.selectRow(0)
    with qtbot.waitSignal(screen.replay_requested) as replay:
        screen.replay_button.click()
    with qtbot.waitSignal(screen.export_requested) as export:
        screen.export_button.click()
    assert replay.args == [str(path)] and export.args == [[str(path)]]
