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


def _train(folder, out, algo: str, *, processes: int) -> RewardModel:
    launcher = ([shutil.which("torchrun"), "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([*launcher, "-m", "irl.train", str(folder), "--algo", algo,
                    "--epochs", "4", "--batch-size", "64", "--no-progress", "--out", str(out)],
                   check=True, env=env, capture_output=True, timeout=300)
    return RewardModel.load(out)


@pytest.mark.parametrize("algo", ["iq", "maxent"])
def test_two_processes_match_one(dataset_folder, tmp_path, algo):
    from fusion.dataset import FusedDataset

    data = FusedDataset.load(dataset_folder)
    single = _train(dataset_folder, tmp_path / "single", algo, processes=1)
    double = _train(dataset_folder, tmp_path / "double", algo, processes=2)
    assert double.settings["world_size"] == 2 and single.settings["world_size"] == 1
    assert np.allclose(double.score_actions(data), single.score_actions(data), atol=1e-4)
