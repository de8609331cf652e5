"""Behaviour cloning: the imitation baseline, and its log-policy reward proxy."""

from __future__ import annotations

import numpy as np

from irl.metrics import action_accuracy
from irl.train import train


def test_bc_predicts_actions_better_than_the_majority_class(participant):
    data = participant.dataset
    model = train(data, algo="bc", gamma=0.9, seed=0, progress=False, epochs=40)
    majority = np.bincount(data.actions[data.actions >= 0]).max() / (data.actions >= 0).sum()
    assert action_accuracy(model.action_log_probs(data), data.actions) > majority + 0.05


def test_bc_reward_is_the_log_probability_of_the_action(participant):
    data = participant.dataset
    model = train(data, algo="bc", gamma=0.9, seed=0, progress=False, epochs=2)
    assert np.allclose(model.score_actions(data), model.action_log_probs(data))
    assert np.all(model.score_actions(data) <= 0)
