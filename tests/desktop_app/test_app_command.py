"""``engage app``: a bad study file is one clear line and exit status 2, before any window."""

from __future__ import annotations

from desktop_app.cli import main


def test_missing_study_file_is_one_line_and_exit_2(capsys, data_dir, tmp_path):
    status = main(["app", "--study", str(tmp_path / "none.jsonl")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "does not exist" in err


def test_malformed_study_file_names_the_line(capsys, data_dir, tmp_path):
    study = tmp_path / "bad.jsonl"
    study.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    assert main(["app", "--study", str(study)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_help_lists_the_camera_and_video_options(capsys):
    try:
        main(["app", "--help"])
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out
    assert "--video PATH" in out and "--camera N" in out and "--study FILE" in out
