"""``engage sessions`` and the command's error contract: one line, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.cli import main
from sensing.records import InputEvent, Marker
from sensing.session import SessionWriter


def engage(*args: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop_app.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, input=stdin, check=False)


@pytest.fixture
def recorded(data_dir: Path) -> SessionWriter:
    with SessionWriter.create(data_dir, participant="P07",
                              consent={"keyboard": True, "markers": True}) as writer:
        writer.write_input(InputEvent(t_ns=250_000_000, kind="key_down", key_class="letter"))
        writer.write_marker(Marker(t_ns=2_000_000_000, kind="task_end"))
    return writer


def test_show_json_has_the_promised_keys(recorded: SessionWriter, data_dir: Path) -> None:
    result = engage("sessions", "show", recorded.session_id, "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["id"] == recorded.session_id
    assert facts["participant"] == "P07"
    assert facts["consent"]["keyboard"] is True and facts["consent"]["camera"] is False
    assert facts["schema_version"] == 1
    assert facts["streams"]["input"] == {"rows": 1, "first_t_s": 0.25, "last_t_s": 0.25}
    assert facts["streams"]["face"] == {"rows": 0, "first_t_s": None, "last_t_s": None}
    assert facts["started_at"].startswith("20")
    assert isinstance(facts["duration_s"], float)


def test_list_names_each_session(recorded: SessionWriter, data_dir: Path) -> None:
    result = engage("sessions", "list", data_dir=data_dir)
    assert result.returncode == 0
    assert recorded.session_id in result.stdout and "P07" in result.stdout


def test_verify_passes_a_good_file_and_fails_a_damaged_one(recorded: SessionWriter,
                                                           data_dir: Path) -> None:
    good = engage("sessions", "verify", str(recorded.path), data_dir=data_dir)
    assert good.returncode == 0 and "ok" in good.stdout
    data = recorded.path.read_bytes()
    recorded.path.write_bytes(data[: len(data) // 2])
    bad = engage("sessions", "verify", recorded.session_id, data_dir=data_dir)
    assert bad.returncode == 1
    assert len(bad.stdout.strip().splitlines()) == 1 and "truncated" in bad.stdout


def test_delete_asks_unless_yes_and_removes_side_files(recorded: SessionWriter,
                                                       data_dir: Path) -> None:
    video = recorded.path.with_suffix(".mkv")
    video.write_bytes(b"frames")
    refused = engage("sessions", "delete", recorded.session_id, data_dir=data_dir)
    assert refused.returncode == 2 and recorded.path.exists()
    deleted = engage("sessions", "delete", recorded.session_id, "--yes", data_dir=data_dir)
    assert deleted.returncode == 0
    assert not recorded.path.exists() and not video.exists()


@pytest.mark.parametrize("args", [
    ("sessions", "show", "no-such-session"),
    ("sessions", "show", "/nonexistent/file.sqlite"),
    ("sessions", "verify", "/etc/hostname"),
    ("sessions", "frobnicate"),
    ("--no-such-option",),
])
def test_user_errors_are_one_line_and_exit_2(args: tuple[str, ...], data_dir: Path) -> None:
    result = engage(*args, data_dir=data_dir)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("engage ")


def test_logs_go_to_a_rotating_file_in_the_data_folder(recorded: SessionWriter,
                                                       data_dir: Path) -> None:
    engage("-v", "sessions", "delete", recorded.session_id, "--yes", data_dir=data_dir)
    log_file = data_dir / "logs" / "engage.log"
    assert "deleted session" in log_file.read_text()
