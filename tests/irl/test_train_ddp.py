"""`torchrun --nproc_per_node 2 -m irl.train` (gloo, CPU) reproduces single-process training."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from irl.model_io import RewardModel

from .conftest import make_participant

pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None, reason="needs torchrun")


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp") / "dataset"
    make_participant(n_episodes=24, horizon=15).dataset.save(folder)
    return folder


def _run(folder, out, algo: str, *, processes: int) -> subprocess.CompletedProcess:
    launcher = ([shutil.which("torchrun"), "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([*launcher, "-m", "irl.train", str(folder), "--algo", algo,
                           "--epochs", "4", "--batch-size", "64", "--no-progress",
                           "--out", str(out)],
                          check=True, env=env, capture_output=True, text=True, timeout=300)


def _train(folder, out, algo: str, *, processes: int) -> RewardModel:
    _run(folder, out, algo, processes=processes)
    return RewardModel.load(out)


@pytest.mark.parametrize("algo", ["iq", "maxent"])
def test_two_processes_match_one(dataset_folder, tmp_path, algo):
    from fusion.dataset import FusedDataset

    data = FusedDataset.load(dataset_folder)
    single = _train(dataset_folder, tmp_path / "single", algo, processes=1)
    double = _train(dataset_folder, tmp_path / "double", algo, processes=2)
    assert double.settings["world_size"] == 2 and single.settings["world_size"] == 1
    assert np.allclose(double.score_actions(data), single.score_actions(data), atol=1e-4)


@pytest.fixture(scope="module")
def multi_item_folder(tmp_path_factory):
    """Sessions of 7, 6 and 7 items: an even split by items would cut the middle session."""
    from fusion.dataset import FusedDataset

    toy = make_participant(n_episodes=20, horizon=15).dataset
    session = np.searchsorted([7, 13], toy.episode, side="right").astype(np.int32)
    folder = tmp_path_factory.mktemp("ddp-items") / "dataset"
    FusedDataset(t_s=toy.t_s, states=toy.states, valid=toy.valid, actions=toy.actions,
                 episode=toy.episode, session=session, schema=toy.schema,
                 session_ids=toy.session_ids[:3], participants=toy.participants[:3]).save(folder)
    return folder


def test_two_processes_match_one_when_sessions_hold_several_items(multi_item_folder, tmp_path):
    from fusion.dataset import FusedDataset

    data = FusedDataset.load(multi_item_folder)
    single = _train(multi_item_folder, tmp_path / "single", "maxent", processes=1)
    double = _train(multi_item_folder, tmp_path / "double", "maxent", processes=2)
    assert np.allclose(double.score_actions(data), single.score_actions(data), atol=1e-4)


@pytest.fixture(scope="module")
def one_session_folder(tmp_path_factory):
    """Six items of one session: one process owns all of it, the other owns nothing."""
    from fusion.dataset import FusedDataset

    toy = make_participant(n_episodes=6, horizon=15).dataset
    folder = tmp_path_factory.mktemp("ddp-one") / "dataset"
    FusedDataset(t_s=toy.t_s, states=toy.states, valid=toy.valid, actions=toy.actions,
                 episode=toy.episode, session=np.zeros(len(toy), dtype=np.int32),
                 schema=toy.schema, session_ids=toy.session_ids[:1],
                 participants=toy.participants[:1]).save(folder)
    return folder


def test_maxent_with_more_processes_than_sessions_matches_one_process(one_session_folder,
                                                                      tmp_path):
    from fusion.dataset import FusedDataset

    data = FusedDataset.load(one_session_folder)
    single = _train(one_session_folder, tmp_path / "single", "maxent", processes=1)
    run = _run(one_session_folder, tmp_path / "double", "maxent", processes=2)
    double = RewardModel.load(tmp_path / "double")
    assert "process 1 of 2 owns no session (sessions: 1)" in run.stderr
    assert double.settings["world_size"] == 2 and len(double.curve) == len(single.curve)
    assert np.allclose(double.score_actions(data), single.score_actions(data), atol=1e-4)
