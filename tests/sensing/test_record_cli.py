"""``engage record`` and ``engage resense`` as a participant's machine runs them: real
subprocesses, real MediaPipe on the packaged video, real pynput under Xvfb driven by xdotool,
markers posted to the local endpoint, signals."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest

from desktop_app.cli import main
from sensing.recorder import video_path_for, video_times_path_for
from sensing.session import list_sessions, open_session
from tests.sensing.display import display_env, xdotool, xvfb_display  # noqa: F401
from tests.sensing.waiting import wait_until

TYPED = "zqxjv"


class RecordProcess:
    """An ``engage record`` subprocess whose stdout lines are read on a thread."""

    def __init__(self, data_dir: Path, *arguments: str, stdin: int | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(data_dir), "record",
             *arguments],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def line_starting(self, prefix: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        for line in self.seen:
            if line.startswith(prefix):
                return line
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                raise AssertionError(f"no line starting {prefix!r}; got {self.seen}; stderr "
                                     f"{self.process.stderr.read()[-2000:]}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def finish(self, timeout_s: float = 60.0) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout_s)
        stderr = self.process.stderr.read()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, stderr

    @property
    def session_path(self) -> Path:
        return Path(self.line_starting("path ").split(" ", 1)[1])

    @property
    def marker_port(self) -> int:
        return int(self.line_starting("markers ").rsplit(":", 1)[1].rstrip(")"))


def post_markers(port: int, markers: list[dict]) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/markers",
                                     data=json.dumps(markers).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # 400 when some were rejected; the body says which
        return json.loads(error.read())


def rows(path: Path, stream: str) -> int:
    with open_session(path) as session:
        return session.row_count(stream)


@pytest.fixture
def model_env(face_model, monkeypatch):
    monkeypatch.setenv("ENGAGE_FACE_MODEL", str(face_model))


@pytest.mark.display
@pytest.mark.usefixtures("display_env", "model_env")
def test_a_recording_under_xvfb_holds_input_classes_face_rows_and_markers_but_no_characters(
        data_dir, media):
    display = os.environ["DISPLAY"]
    run = RecordProcess(data_dir, "--video", str(media("single_face.mp4")), "--loop",
                        "--participant", "p7", "--consent", "camera,keyboard,mouse,scroll,markers")
    run.line_starting("recording ")
    path, port = run.session_path, run.marker_port

    xdotool(display, "type", "--delay", "10", TYPED)
    xdotool(display, "key", "Return", "BackSpace")
    xdotool(display, "mousemove", "100", "100", "mousemove", "400", "300", "click", "1")
    xdotool(display, "click", "4", "click", "5")
    answer = post_markers(port, [
        {"kind": "content_shown", "content_id": "doc-1",
         "region": {"x": 0, "y": 0, "w": 800, "h": 600}},
        {"kind": "query_submitted", "text_length": 12, "is_rephrase": False,
         "is_followup": True},
        {"kind": "rating", "value": 11, "scale": [1, 7]},
    ])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b'task_end {"task_id": "t1"}\n')
        assert connection.recv(16) == b"ok\n"
    wait_until(lambda: rows(path, "input") >= 2 * 7 + 2 + 2 + 2, what="all input rows")

    connections = psutil.Process(run.process.pid).net_connections(kind="inet")
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()

    assert code == 0, stderr
    assert answer["accepted"] == 2 and len(answer["rejected"]) == 1
    assert connections and all(c.laddr.ip == "127.0.0.1" for c in connections)
    assert all(not c.raddr or c.raddr.ip == "127.0.0.1" for c in connections)
    with open_session(path) as session:
        ok, verdict = session.verify()
        events = session.input_events()
        face = session.face()
        markers = session.markers()
        assert session.participant == "p7"
        assert session.status == "complete"
    assert ok, verdict
    kinds = list(events["kind"])
    key_downs = [c for k, c in zip(kinds, events["key_class"], strict=True) if k == "key_down"]
    assert key_downs == ["letter"] * 5 + ["enter", "backspace"]
    assert kinds.count("key_up") == 7
    assert (kinds.count("button_down"), kinds.count("button_up"), kinds.count("scroll")) == (
        1, 1, 2)
    assert sorted(events["dy"][events["kind"] == "scroll"]) == [-1.0, 1.0]
    assert kinds.count("move") >= 1
    assert [m.kind for m in markers] == ["content_shown", "query_submitted", "task_end"]
    assert markers[1].payload == {"text_length": 12, "is_rephrase": False, "is_followup": True}
    frames_line = run.line_starting("frames: ")
    read = int(frames_line.split("read ")[1].split(",")[0])
    assert len(face["t_ns"]) == read > 0
    assert face["present"].all()
    assert "markers: 3 accepted, 1 rejected" in run.line_starting("markers: ")

    for file in [*data_dir.rglob("*")]:
        if file.is_file():
            assert TYPED.encode() not in file.read_bytes(), file


def test_sigkill_leaves_a_file_that_verifies_and_holds_data_up_to_a_second_before(
        data_dir, media, model_env):
    run = RecordProcess(data_dir, "--video", str(media("single_face.mp4")), "--loop",
                        "--consent", "camera,markers")
    run.line_starting("recording ")
    path, port = run.session_path, run.marker_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        replies = connection.makefile("rb")
        for index in range(150):  # about 1.5 s of markers, each acknowledged
            connection.sendall(f'note {{"text": "m{index}"}}\n'.encode())
            assert replies.readline() == b"ok\n"
            time.sleep(0.01)  # pacing the sender, not synchronising
        killed_monotonic_ns = time.monotonic_ns()
        run.process.send_signal(signal.SIGKILL)
        run.process.wait(timeout=30)

    with open_session(path) as session:
        ok, verdict = session.verify()
        killed_ns = killed_monotonic_ns - session.clock_anchor.monotonic_ns
        last_marker = session.markers()[-1].t_ns
        last_face = int(session.face()["t_ns"][-1])
        status = session.status
    assert ok, verdict
    assert status == "recording"
    assert last_marker >= killed_ns - 1_000_000_000
    assert last_face >= killed_ns - 1_000_000_000


def test_sigterm_stops_cleanly_with_a_complete_session(data_dir):
    run = RecordProcess(data_dir, "--consent", "markers")
    run.line_starting("recording ")
    path = run.session_path
    run.process.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 0, stderr
    assert run.line_starting("stopped (SIGTERM)")
    with open_session(path) as session:
        assert session.status == "complete"
        assert session.verify()[0]


def test_without_consent_flags_it_asks_and_records_nothing_until_answered(data_dir):
    run = RecordProcess(data_dir, stdin=subprocess.PIPE)
    run.line_starting("Engage records only what you agree to")
    assert list_sessions(data_dir) == []
    run.process.stdin.write("n\nn\nn\nn\nn\n")
    run.process.stdin.close()
    code, stderr = run.finish()
    assert code == 0, stderr
    assert any("no stream consented" in line for line in run.seen)
    assert list_sessions(data_dir) == []


def test_unanswered_consent_is_an_error_and_no_session(data_dir):
    run = RecordProcess(data_dir, stdin=subprocess.DEVNULL)
    code, stderr = run.finish()
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith("engage: error: no answer")
    assert list_sessions(data_dir) == []


@pytest.mark.parametrize(("arguments", "message"), [
    (["--fast", "--consent", "camera"], "--fast reads a --video"),
    (["--consent", "camera,teeth"], "unknown consent stream"),
    (["--video", "/no/such.mp4", "--consent", "camera"], "no such video file"),
    (["--duration", "-3", "--consent", "markers"], "--duration must be positive"),
])
def test_bad_arguments_give_one_line_and_leave_no_session(data_dir, capsys, arguments,
                                                          message):
    assert main(["--data-dir", str(data_dir), "record", *arguments]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert list_sessions(data_dir) == []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resense_writes_a_new_session_from_the_kept_video_at_the_original_times(
        data_dir, media, model_env):
    run = RecordProcess(data_dir, "--video", str(media("single_face.mp4")), "--fast",
                        "--keep-video", "--consent", "camera,markers")
    code, stderr = run.finish(timeout_s=120)
    assert code == 0, stderr
    original = run.session_path
    assert video_path_for(original).is_file()
    before = sha256(original)

    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(data_dir), "resense",
         original.stem], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert sha256(original) == before
    with open_session(original) as first, open_session(report["path"]) as second:
        assert second.meta["resensed_from"]["session_id"] == first.id
        assert second.clock_anchor == first.clock_anchor
        assert list(second.face()["t_ns"]) == list(first.face()["t_ns"])
        assert second.row_count("face") == report["face_rows"] == 72
        assert second.verify()[0]


def test_a_kept_video_survives_sigkill_and_resenses_up_to_its_last_frames(
        data_dir, media, model_env):
    run = RecordProcess(data_dir, "--video", str(media("single_face.mp4")), "--loop",
                        "--keep-video", "--consent", "camera")
    run.line_starting("recording ")
    original = run.session_path
    times = video_times_path_for(original)
    # The times file is flushed every 30 frames: wait for 90 (three flushes) on disk.
    wait_until(lambda: times.is_file() and times.stat().st_size >= 90 * 8, timeout_s=60)
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(timeout=30)

    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(data_dir), "resense",
         original.stem], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["face_rows"] >= 30
    assert report["face_rows"] <= report["frames_recorded"]
    with open_session(report["path"]) as second:
        stamps = np.fromfile(times, dtype="<i8")
        assert list(second.face()["t_ns"]) == list(stamps[: report["face_rows"]])


def test_resense_of_a_session_without_video_says_how_to_get_one(data_dir, capsys):
    run = RecordProcess(data_dir, "--consent", "markers", "--duration", "0.2")
    code, _ = run.finish()
    assert code == 0
    assert main(["--data-dir", str(data_dir), "resense", run.session_path.stem]) == 2
    assert "--keep-video" in capsys.readouterr().err
