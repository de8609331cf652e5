"""`engage irl ...`: train, score and eval work end to end; bad input is one line and exit 2."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from desktop_app.cli import main
from irl.truth import Truth

from .conftest import make_participant


@pytest.fixture(scope="module")
def simulation(tmp_path_factory, participant):
    folder = tmp_path_factory.mktemp("sim")
    participant.dataset.save(folder / "dataset")
    n_features = participant.dataset.n_features
    Truth(feature_names=participant.dataset.schema.feature_names,
          action_names=participant.dataset.schema.actions,
          weights=participant.true_weights[None, :], feature_mean=np.zeros(n_features),
          feature_scale=np.ones(n_features),
          action_bonus=participant.true_reward[0] - participant.true_reward[0, 0]
          ).save(folder / "truth.json")
    return folder


@pytest.fixture(scope="module")
def trained(simulation, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "maxent"
    assert main(["--data-dir", str(simulation), "irl", "train", str(simulation / "dataset"),
                 "--algo", "maxent", "--seed", "0", "--no-progress", "--out", str(out)]) == 0
    return out


def _run(capsys, simulation, *argv: str) -> tuple[int, str, str]:
    status = main(["--data-dir", str(simulation), *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_eval_json_reports_recovery_and_prediction(capsys, simulation, trained):
    status, out, _ = _run(capsys, simulation, "irl", "eval", str(trained), "--truth",
                          str(simulation / "truth.json"), "--json")
    result = json.loads(out)
    assert status == 0
    assert {"epic", "epic_transitions", "pearson", "nll", "accuracy"} <= set(result)
    assert 0.0 <= result["epic_transitions"] <= 1.0
    assert result["epic"] < 0.25 and result["pearson"] > 0.8


def test_eval_table_lists_the_metrics(capsys, simulation, trained):
    status, out, _ = _run(capsys, simulation, "irl", "eval", str(trained), "--truth",
                          str(simulation / "truth.json"))
    assert status == 0
    assert "EPIC distance" in out and "action accuracy" in out


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> str:
    """Other sessions of the same participant, never seen in training."""
    folder = tmp_path_factory.mktemp("held_out") / "dataset"
    make_participant(n_episodes=20, demo_seed=99, session_prefix="held-out").dataset.save(folder)
    return str(folder)


def test_eval_without_truth_checks_predictions_on_held_out_data(capsys, simulation, trained,
                                                                held_out):
    status, out, _ = _run(capsys, simulation, "irl", "eval", str(trained), "--dataset",
                          held_out, "--json")
    result = json.loads(out)
    assert status == 0
    assert result["held_out"] and result["labelled_steps"] == 20 * 20
    assert result["epic"] is None and result["pearson"] is None
    assert result["nll"] < result["nll_base_rates"]  # it learned something about states
    status, out, _ = _run(capsys, simulation, "irl", "eval", str(trained), "--dataset",
                          held_out)
    assert status == 0
    assert "base rates' NLL" in out and "EPIC" not in out and "no truth given" in out


def test_eval_needs_a_truth_or_a_dataset(capsys, simulation, trained):
    status, _, err = _run(capsys, simulation, "irl", "eval", str(trained))
    _one_line_error(status, err)
    assert "--truth" in err and "--dataset" in err


def test_eval_of_a_dataset_without_action_labels_is_refused(capsys, simulation, trained,
                                                            tmp_path):
    folder = _bad_dataset(tmp_path, simulation, lambda d: dataclasses.replace(
        d, actions=np.full(len(d), -1, dtype=np.int64)))
    status, _, err = _run(capsys, simulation, "irl", "eval", str(trained), "--dataset",
                          folder)
    _one_line_error(status, err)
    assert "action label" in err


def test_score_prints_one_reward_per_step(capsys, simulation, trained):
    status, out, _ = _run(capsys, simulation, "irl", "score", str(trained),
                          str(simulation / "dataset"))
    lines = out.strip().splitlines()
    assert status == 0
    assert lines[0] == "step,episode,t_s,action,reward"
    assert len(lines) == 1 + 1200


def _bad_dataset(tmp_path, simulation, change) -> str:
    from fusion.dataset import FusedDataset

    data = change(FusedDataset.load(simulation / "dataset"))
    folder = tmp_path / "bad"
    data.save(folder)
    return str(folder)


def _one_line_error(status: int, err: str) -> None:
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_gamma_outside_the_unit_interval_is_refused(capsys, simulation, tmp_path):
    status, _, err = _run(capsys, simulation, "irl", "train", str(simulation / "dataset"),
                          "--algo", "iq", "--gamma", "1.5", "--out", str(tmp_path / "m"))
    _one_line_error(status, err)
    assert "gamma" in err and not (tmp_path / "m").exists()


def test_single_action_class_is_refused(capsys, simulation, tmp_path):
    folder = _bad_dataset(tmp_path, simulation, lambda d: dataclasses.replace(
        d, actions=np.zeros(len(d), dtype=np.int64)))
    status, _, err = _run(capsys, simulation, "irl", "train", folder, "--algo", "maxent",
                          "--out", str(tmp_path / "m"))
    _one_line_error(status, err)
    assert "single action" in err


def test_nan_where_the_mask_says_valid_is_refused(capsys, simulation, tmp_path):
    def poison(data):
        states = data.states.copy()
        states[5, 1] = np.nan
        return dataclasses.replace(data, states=states)

    status, _, err = _run(capsys, simulation, "irl", "train",
                          _bad_dataset(tmp_path, simulation, poison), "--algo", "bc",
                          "--out", str(tmp_path / "m"))
    _one_line_error(status, err)
    assert "NaN" in err


def test_empty_dataset_is_refused(capsys, simulation, tmp_path):
    folder = _bad_dataset(tmp_path, simulation, lambda d: d.select(np.zeros(len(d), bool)))
    status, _, err = _run(capsys, simulation, "irl", "train", folder, "--algo", "iq",
                          "--out", str(tmp_path / "m"))
    _one_line_error(status, err)
    assert "empty" in err


def test_dataset_of_another_schema_is_refused_when_scoring(capsys, simulation, trained,
                                                           tmp_path):
    other = make_participant(n_features=5, n_episodes=3, horizon=5).dataset
    other.save(tmp_path / "other")
    status, _, err = _run(capsys, simulation, "irl", "score", str(trained),
                          str(tmp_path / "other"))
    _one_line_error(status, err)
    assert "schema" in err


def test_registering_the_irl_command_does_not_import_torch():
    import subprocess
    import sys

    code = ("import argparse, sys\n"
            "from desktop_app.commands import irl\n"
            "irl.register(argparse.ArgumentParser().add_subparsers())\n"
            "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_training_into_a_log_file_writes_no_progress_bar(simulation, tmp_path):
    """A batch job's log is not a terminal: the bar would fill it with carriage returns."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(simulation), "irl", "train",
         str(simulation / "dataset"), "--algo", "bc", "--out", str(tmp_path / "bc")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "it/s" not in result.stderr
    assert "trained bc" in result.stdout
