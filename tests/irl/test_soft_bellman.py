"""Soft value iteration: the soft Bellman equations hold, and vectorised equals looped."""

from __future__ import annotations

import math

import torch

from irl.soft_bellman import policy_return, soft_value_iteration, state_action_occupancy
from irl.tabular import random_mdp


def _mdp():
    return random_mdp(12, 3, 2, seed=4, branching=3)


def test_discounted_values_are_a_fixed_point_of_the_soft_bellman_operator():
    mdp = _mdp()
    reward = torch.randn(12, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values = soft_value_iteration(reward, mdp.transitions, gamma=0.9, tol=1e-10)
    backed_up = reward + 0.9 * torch.einsum("sat,t->sa", mdp.transitions, values.V)
    assert values.converged
    assert torch.allclose(values.Q, backed_up, atol=1e-8)
    assert torch.allclose(values.V, torch.logsumexp(backed_up, dim=1), atol=1e-8)


def test_policy_rows_are_distributions_proportional_to_exp_q():
    mdp = _mdp()
    values = soft_value_iteration(mdp.features[:, 0], mdp.transitions, gamma=0.5)
    assert torch.allclose(values.policy.sum(dim=1), torch.ones(12, dtype=torch.float64))
    assert torch.allclose(values.policy, torch.softmax(values.Q, dim=1))


def test_finite_horizon_matches_a_loop_over_states_and_actions():
    mdp = _mdp()
    reward = mdp.features[:, :1].expand(-1, 3) + torch.tensor([0.0, -0.3, 0.2],
                                                               dtype=torch.float64)
    horizon, gamma = 4, 0.8
    values = soft_value_iteration(reward, mdp.transitions, horizon=horizon, gamma=gamma)
    expected_next = [0.0] * 12
    for t in reversed(range(horizon)):
        q = [[float(reward[s, a]) + gamma * sum(float(mdp.transitions[s, a, n]) * expected_next[n]
                                                for n in range(12))
              for a in range(3)] for s in range(12)]
        expected_next = [math.log(sum(math.exp(v) for v in row)) for row in q]
        assert torch.allclose(values.Q[t], torch.tensor(q, dtype=torch.float64), atol=1e-10)
    assert values.V.shape == (horizon + 1, 12)
    assert torch.all(values.V[horizon] == 0)


def test_one_step_horizon_policy_is_softmax_of_reward():
    mdp = _mdp()
    reward = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64).expand(12, -1)
    values = soft_value_iteration(reward, mdp.transitions, horizon=1)
    assert torch.allclose(values.policy[0, 0], torch.softmax(reward[0], dim=0))


def test_occupancy_mass_equals_the_sum_of_step_weights():
    mdp = _mdp()
    values = soft_value_iteration(mdp.features[:, 1], mdp.transitions, gamma=0.9)
    weights = 0.9 ** torch.arange(7, dtype=torch.float64)
    occupancy = state_action_occupancy(values.policy, mdp.transitions, mdp.initial,
                                       step_weights=weights)
    assert occupancy.shape == (12, 3)
    assert abs(float(occupancy.sum()) - float(weights.sum())) < 1e-10


def test_long_horizon_return_approaches_discounted_return():
    mdp = _mdp()
    reward = mdp.features[:, 0]
    values = soft_value_iteration(reward, mdp.transitions, gamma=0.7)
    exact = policy_return(values.policy, reward, mdp.transitions, mdp.initial, gamma=0.7)
    truncated = policy_return(values.policy, reward, mdp.transitions, mdp.initial, gamma=0.7,
                              horizon=80)
    assert abs(exact - truncated) < 1e-6


def test_successor_lists_give_the_same_values_and_occupancy_as_the_dense_tensor():
    from irl.soft_bellman import SparseTransitions

    mdp = random_mdp(20, 3, 2, seed=5, branching=3)
    sparse = SparseTransitions.from_dense(mdp.transitions)
    reward = mdp.features[:, 0]
    dense_values = soft_value_iteration(reward, mdp.transitions, horizon=6)
    sparse_values = soft_value_iteration(reward, sparse, horizon=6)
    weights = torch.ones(6, dtype=torch.float64)
    assert sparse.next_state.shape[2] <= 3
    assert torch.allclose(sparse_values.Q, dense_values.Q, atol=1e-12)
    assert torch.allclose(
        state_action_occupancy(sparse_values.policy, sparse, mdp.initial, step_weights=weights),
        state_action_occupancy(dense_values.policy, mdp.transitions, mdp.initial,
                               step_weights=weights), atol=1e-12)
