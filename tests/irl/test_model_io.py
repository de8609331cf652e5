"""Model folders: load restores exactly, and a model refuses data it was not trained on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fusion.dataset import FusedDataset
from irl.model_io import ModelError, RewardModel, SchemaMismatchError
from irl.train import train

from .conftest import make_schema


@pytest.mark.parametrize("algo", ["maxent", "iq", "bc"])
def test_loaded_model_scores_exactly_like_the_trained_one(participant, tmp_path, algo):
    data = participant.dataset
    model = train(data, algo=algo, gamma=0.9, seed=0, progress=False, epochs=3)
    model.save(tmp_path / "model")
    loaded = RewardModel.load(tmp_path / "model")
    assert np.array_equal(loaded.score_actions(data), model.score_actions(data))
    assert np.array_equal(loaded.action_log_probs(data), model.action_log_probs(data))
    assert loaded.curve == model.curve
    assert loaded.settings["gamma"] == 0.9


def test_model_refuses_a_dataset_with_another_schema(participant, tmp_path):
    model = train(participant.dataset, algo="bc", gamma=0.9, seed=0, progress=False, epochs=1)
    renamed_actions = dataclasses.replace(make_schema(4, 3), actions=("a", "b", "c"))
    other = dataclasses.replace(participant.dataset, schema=renamed_actions)
    with pytest.raises(SchemaMismatchError, match="retrain"):
        model.score(other)


def test_loading_a_folder_that_is_not_a_model_says_so(tmp_path):
    with pytest.raises(ModelError, match="not a reward model"):
        RewardModel.load(tmp_path)


def test_save_leaves_no_staging_folder_behind(participant, tmp_path):
    model = train(participant.dataset, algo="bc", gamma=0.9, seed=0, progress=False, epochs=1)
    model.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.json", "weights.pt",
                                                                 "arrays.npz"}


def test_score_without_action_uses_the_policy_expectation(participant):
    data: FusedDataset = participant.dataset
    model = train(data, algo="maxent", gamma=0.9, seed=0, progress=False, epochs=3)
    blank = dataclasses.replace(data, actions=np.full(len(data), -1))
    table = model.score_actions(data)
    policy = np.exp(model.action_log_probs(data))
    assert np.allclose(model.score(blank), (table * policy).sum(axis=1))
