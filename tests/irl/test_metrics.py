"""Recovery metrics: EPIC's invariances, Pearson, expected value difference, NLL, accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irl.metrics import (
    action_accuracy,
    action_nll,
    epic_distance,
    expected_value_difference,
    pearson,
    recovery_epic,
    transition_epic,
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


def _chain(seed: int = 0, steps: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random actions; a state feature that always shows the previous action g(a_t-1)."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 4, steps)
    shown = np.array([0.0, 1.0, -2.0, 0.5])  # g(a)
    mirror = np.r_[shown[0], shown[actions[:-1]]]  # f(s_t) = g(a_t-1)  [T]
    other = rng.normal(size=steps)  # [T]
    return actions, mirror, other


def test_transition_epic_is_zero_for_identical_and_rescaled_rewards():
    actions, _, other = _chain()
    reward = other[:, None] + np.array([0.0, -0.5, 0.2, 0.1])[None, :]  # r[T, A]
    index = np.arange(len(actions) - 1)
    same = transition_epic(reward, reward, actions, index, gamma=0.9)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert transition_epic(3.0 * reward + 7.0, reward, actions, index,
                           gamma=0.9) == pytest.approx(0.0, abs=1e-6)
    assert transition_epic(-reward, reward, actions, index, gamma=0.9) == pytest.approx(1.0)
    # A state-only reward r[T] is the same reward for every action.
    assert transition_epic(other, other[:, None].repeat(4, axis=1), actions, index,
                           gamma=0.9) == pytest.approx(0.0, abs=1e-6)


def test_transition_epic_ignores_trading_an_action_cost_for_the_feature_that_follows_it():
    gamma = 0.9
    actions, mirror, other = _chain()
    shown = np.array([0.0, 1.0, -2.0, 0.5])
    truth = other[:, None] + 0.8 * mirror[:, None] + np.array([0.0, -0.5, 0.2, 0.1])[None, :]
    # Behaviourally the same reward: the feature's weight moved into the cost of the action
    # it always follows (r' = r - f(s) + gamma g(a), i.e. potential shaping with Phi = f).
    traded = truth - 0.8 * mirror[:, None] + gamma * 0.8 * shown[None, :]
    index = np.arange(len(actions) - 1)
    assert transition_epic(traded, truth, actions, index, gamma=gamma) < 1e-6
    every_action = epic_distance(traded[index], truth[index], gamma=gamma,
                                 next_a=traded[index + 1], next_b=truth[index + 1])
    assert every_action > 0.1


def test_transition_epic_needs_known_actions():
    actions, _, other = _chain()
    actions[5] = -1
    with pytest.raises(ValueError, match="known action"):
        transition_epic(other, other, actions, np.arange(10), gamma=0.9)


def test_recovery_epic_pairs_steps_only_within_an_episode():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(40, 3))
    actions = rng.integers(0, 3, size=40)
    episode = np.repeat([0, 1], 20)
    learned = truth.copy()
    # A different reward on the first step of the second episode would change EPIC if the
    # pair (19, 20) across the episode end were counted as a move.
    learned[20] = rng.normal(size=3) * 5
    inside = np.r_[np.arange(19), np.arange(20, 39)]
    every, observed = recovery_epic(learned, truth, episode, actions, gamma=0.9)
    assert every == pytest.approx(epic_distance(
        learned[inside], truth[inside], gamma=0.9, next_a=learned[inside + 1],
        next_b=truth[inside + 1]))
    assert observed == pytest.approx(transition_epic(learned, truth, actions, inside,
                                                     gamma=0.9))
    assert recovery_epic(truth, truth, episode, actions, gamma=0.9) == pytest.approx(
        (0.0, 0.0), abs=1e-6)
