"""Recovery metrics: EPIC's invariances, Pearson, expected value difference, NLL, accuracy."""

from __future__ import annotations

import numpy as np
import torch

from irl.metrics import (
    action_accuracy,
    action_nll,
    epic_distance,
    expected_value_difference,
    pearson,
)
from irl.tabular import random_mdp


def _reward(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(200, 4))


def test_epic_is_zero_for_identical_rewards():
    reward = _reward(0)
    assert epic_distance(reward, reward, gamma=0.9) < 1e-7


def test_epic_ignores_positive_scale_and_constant_offset():
    reward = _reward(1)
    assert epic_distance(reward, 3.0 * reward + 7.0, gamma=0.9) < 1e-7


def test_epic_is_one_for_a_negated_reward():
    reward = _reward(2)
    assert abs(epic_distance(reward, -reward, gamma=0.9) - 1.0) < 1e-7


def test_epic_of_unrelated_rewards_is_near_the_square_root_of_a_half():
    assert abs(epic_distance(_reward(3), _reward(4), gamma=0.9) - np.sqrt(0.5)) < 0.05


def test_epic_uses_the_given_next_state_rewards():
    reward, other = _reward(5), _reward(6)
    assert epic_distance(reward, reward, gamma=0.9, next_a=reward, next_b=other) > 0.05


def test_pearson_matches_numpy_and_respects_weights():
    x, y = _reward(7)[:, 0], _reward(8)[:, 0] + _reward(7)[:, 0]
    assert abs(pearson(x, y) - np.corrcoef(x, y)[0, 1]) < 1e-12
    weights = np.r_[np.ones(100), np.zeros(100)]
    assert abs(pearson(x, y, weights=weights) - np.corrcoef(x[:100], y[:100])[0, 1]) < 1e-12


def test_expected_value_difference_is_zero_for_the_truth_and_positive_for_its_opposite():
    mdp = random_mdp(16, 3, 2, seed=0)
    truth = mdp.features[:, 0] * 2.0
    same = expected_value_difference(truth, truth, mdp.transitions, mdp.initial, gamma=0.9)
    opposite = expected_value_difference(truth, -truth, mdp.transitions, mdp.initial,
                                         gamma=0.9)
    assert abs(same) < 1e-9
    assert opposite > 0.5


def test_action_nll_and_accuracy_skip_steps_without_action():
    log_probs = np.log(np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]]))
    actions = np.array([0, 0, -1])
    assert abs(action_nll(log_probs, actions) - (-(np.log(0.7) + np.log(0.2)) / 2)) < 1e-12
    assert action_accuracy(log_probs, actions) == 0.5


def test_expected_value_difference_accepts_state_action_rewards():
    mdp = random_mdp(8, 2, 1, seed=3)
    truth = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert expected_value_difference(truth, truth, mdp.transitions, mdp.initial,
                                     horizon=10) == 0.0
