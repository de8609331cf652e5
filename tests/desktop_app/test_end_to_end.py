"""End to end under Xvfb: consent, calibration, a recorded study task, replay and export."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from sensing.session import open_session
from tests.desktop_app.e2e_driver import TYPED_TEXT

pytestmark = pytest.mark.display

SCREENSHOTS = ("1_consent", "2_calibration_targets", "3_calibration_result", "4_study",
               "5_recording", "6_sessions", "7_replay", "8_export")


@pytest.fixture(scope="module")
def xvfb_display():
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten",
         "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def study_run(xvfb_display, tmp_path_factory, media, face_model, output_dir):
    work = tmp_path_factory.mktemp("e2e")
    shots = output_dir / "desktop_app"
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
           "ENGAGE_DATA_DIR": str(work / "data")}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.desktop_app.e2e_driver", "--out", str(work), "--shots",
         str(shots), "--data-dir", str(work / "data"), "--video",
         str(media("single_face.mp4")), "--model", str(face_model)],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        timeout=600, check=False)
    result_file = work / "result.json"
    assert result_file.exists(), completed.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert "failure" not in result, result.get("failure", "") + completed.stderr[-2000:]
    return result


def test_every_screen_has_a_screenshot(study_run):
    for name in SCREENSHOTS:
        assert Path(study_run["screenshots"][name]).stat().st_size > 5_000, name


def test_no_error_was_shown_in_the_window(study_run):
    assert study_run["errors"] == []


def test_calibration_reports_accuracy_from_the_injected_samples(study_run):
    assert study_run["calibration"]["n_points"] == 4
    assert study_run["calibration"]["mean_px"] < 30


def test_session_holds_typed_keys_as_classes_scrolls_and_the_query_marker(study_run):
    with open_session(study_run["session"]) as session:
        events = session.input_events()
        markers = session.markers()
        calibrations = session.calibrations()
        face_rows = session.row_count("face")
        consent = session.consent
    key_downs = events["kind"] == "key_down"
    assert key_downs.sum() >= len(TYPED_TEXT) + 1
    assert set(events["key_class"][key_downs]) <= {"letter", "space", "enter"}
    assert (events["kind"] == "scroll").sum() >= 9
    queries = [m.payload for m in markers if m.kind == "query_submitted"]
    assert queries and queries[0]["text_length"] == len(TYPED_TEXT)
    assert queries[0]["content_id"] == "tides" and set(queries[0]["region"]) == set("xywh")
    assert [c.kind for c in calibrations] == ["fit", "validation"]
    assert face_rows > 30
    assert consent["camera"] and not consent["video"]


def test_no_typed_character_is_stored_anywhere_in_the_file(study_run):
    data = Path(study_run["session"]).read_bytes()
    assert TYPED_TEXT.encode() not in data and b"two tides" not in data


def test_replay_covers_the_recording_with_gaze_from_the_stored_calibration(study_run):
    assert study_run["replay"]["duration_s"] > 3
    assert "gaze from the stored calibration" in study_run["replay"]["info"]


def test_export_wrote_parquet_that_pyarrow_reads(study_run):
    export = study_run["export"]
    table = pads.dataset(export["out"], format="parquet", partitioning="hive").to_table()
    assert table.num_rows == export["steps"] > 0
    assert study_run["export_ticked"] == [study_run["session"]]
