"""``engage simulate`` and ``engage demo`` from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop_app.cli import main
from fusion.dataset import FusedDataset
from irl.truth import load_truth
from sensing.session import open_session


@pytest.fixture(autouse=True)
def _private_data_dir(data_dir):
    return data_dir


def test_simulate_writes_sessions_dataset_and_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    status = main(["simulate", "--participants", "2", "--minutes", "1", "--seed", "7",
                   "--out", str(out), "--drift"])
    assert status == 0
    sessions = sorted((out / "sessions").glob("*.sqlite"))
    assert len(sessions) == 2
    with open_session(sessions[0]) as session:
        assert session.row_count("face") == 600 and session.row_count("markers") >= 3
        assert session.consent["camera"] and not session.consent["landmarks"]
    dataset = FusedDataset.load(out / "dataset")
    truth = load_truth(out / "truth.json")
    assert len(dataset) == 120 and truth.seed == 7 and truth.has_drift
    assert np.isfinite(truth.true_reward(dataset)).all()
    assert "reward drift at 30 s" in capsys.readouterr().out


def test_simulate_refuses_to_overwrite_a_simulation(tmp_path, capsys):
    out = tmp_path / "sim"
    args = ["simulate", "--participants", "1", "--minutes", "0.5", "--no-sessions",
            "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists" in error


def test_simulate_refuses_zero_participants(tmp_path, capsys):
    status = main(["simulate", "--participants", "0", "--out", str(tmp_path / "x")])
    assert status == 2
    assert "participants must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_demo_runs_end_to_end_and_prints_the_recovery_table(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["demo", "--out", str(out), "--participants", "2", "--minutes", "1.5",
                   "--quick-report"])
    assert status == 0
    printed = capsys.readouterr().out
    for algo in ("maxent", "iq", "bc"):
        assert f"{algo} " in printed or f" {algo}" in printed
        assert (out / "models" / algo / "model.json").exists()
    assert "EPIC to truth" in printed and str((out / "report.html").resolve()) in printed
    summary = json.loads((out / "engage-demo.json").read_text())
    assert [row["algorithm"] for row in summary["recovery"]] == ["maxent", "iq", "bc"]
    assert "truth twin" in printed
    base_line = next(line for line in printed.splitlines() if "base rates" in line
                     and "EPIC" not in line)
    assert len(base_line.split()) == 4  # name (two words), NLL, accuracy; no EPIC or Pearson
    base = summary["action_base_rates"]
    assert base["action NLL"] > 0 and 0 < base["action accuracy"] <= 1
    assert 0 < summary["twin_reference"]["EPIC to truth"] < 0.3
    assert all(0.0 <= row["EPIC to truth"] <= 1.0 for row in summary["recovery"])
    assert FusedDataset.load(out / "fused").n_actions == 7


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--minutes", "0.5"]) == 2
    assert "not an Engage demo folder" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"
