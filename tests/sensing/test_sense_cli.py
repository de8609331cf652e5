"""``engage sense``: one JSON object per frame on stdout, the summary on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from desktop_app.cli import main
from sensing.records import BLENDSHAPE_NAMES

FRAME_KEYS = {"t_s", "face_count", "face", "blendshapes", "head", "eyes", "expression"}


@pytest.fixture
def run(data_dir, capsys):
    """Run ``engage`` in this process; returns (exit status, stdout, stderr)."""
    def invoke(*args: str) -> tuple[int, str, str]:
        status = main(["--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return invoke


def test_a_video_gives_one_json_object_per_frame_and_a_summary_on_stderr(face_model, media,
                                                                          data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(data_dir), "sense",
         str(media("single_face.mp4")), "--json", "--model", str(face_model)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 72
    assert all(FRAME_KEYS <= set(obj) and obj["face"] for obj in objects)
    assert list(objects[0]["blendshapes"]) == list(BLENDSHAPE_NAMES)
    assert set(objects[0]["head"]) >= {"yaw_deg", "pitch_deg", "roll_deg"}
    assert [obj["t_s"] for obj in objects] == sorted(obj["t_s"] for obj in objects)
    assert objects[30]["t_s"] == pytest.approx(1.0, abs=0.001)
    assert "landmarks" not in objects[0]
    assert "frames processed: 72, with a face: 72" in result.stderr


def test_an_image_is_one_frame_at_time_zero(run, face_model, media):
    status, out, _ = run("sense", str(media("single_face.jpg")), "--json",
                         "--model", str(face_model))
    lines = out.splitlines()
    assert status == 0 and len(lines) == 1
    frame = json.loads(lines[0])
    assert frame["t_s"] == 0 and frame["face"] is True and frame["face_count"] == 1
    assert 0.0 <= frame["expression"]["smile"] <= 1.0
    assert set(frame["eyes"]) == {"left", "right", "distance_mm"}


def test_landmarks_are_printed_only_when_asked(run, face_model, media):
    _, out, _ = run("sense", str(media("single_face.jpg")), "--json", "--landmarks",
                    "--model", str(face_model))
    landmarks = json.loads(out)["landmarks"]
    assert len(landmarks) == 478 and len(landmarks[0]) == 3


def test_a_video_without_a_face_prints_frames_without_one(run, face_model, media):
    status, out, err = run("sense", str(media("no_face.mp4")), "--json",
                           "--model", str(face_model))
    objects = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(objects) > 90
    assert not any(obj["face"] for obj in objects)
    assert "with a face: 0" in err


def test_a_file_that_is_not_media_is_one_line_and_exit_2(run, face_model, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    status, out, err = run("sense", str(notes), "--model", str(face_model))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "notes.txt" in err


def test_a_missing_file_is_one_line_and_exit_2(run, face_model, tmp_path):
    status, out, err = run("sense", str(tmp_path / "absent.mp4"), "--model", str(face_model))
    assert status == 2 and out == "" and "no such file" in err and err.count("\n") == 1
