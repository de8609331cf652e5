"""MaxEnt (maximum causal entropy) IRL recovers the rewards that generated soft-optimal data."""

from __future__ import annotations

import numpy as np
import torch

from irl.maxent import fit_on_steps, mce_irl
from irl.metrics import epic_distance, pearson
from irl.rewards import LinearReward
from irl.simulate import SimulationConfig, simulate
from irl.soft_bellman import discounted_flow, soft_value_iteration
from irl.tabular import random_mdp, sample_demonstrations
from irl.train import train


def test_recovers_linear_state_reward_on_a_known_tabular_mdp():
    mdp = random_mdp(32, 3, 4, seed=1)
    true_weights = torch.tensor([1.0, -0.5, 0.3, 0.8], dtype=torch.float64)
    expert = soft_value_iteration(mdp.features @ true_weights, mdp.transitions, horizon=15)
    demos = sample_demonstrations(mdp, expert.policy, n_episodes=400, horizon=15, seed=2)
    head = LinearReward(4, 3, action_terms="none")
    mce_irl(mdp, demos, head=head, horizon=15, lr=0.1, iterations=200)
    assert pearson(head.weight.detach().numpy(), true_weights.numpy()) > 0.95


def test_reward_from_a_fused_dataset_is_closer_to_the_truth_than_cloning(participant):
    data = participant.dataset
    maxent = train(data, algo="maxent", gamma=0.9, seed=0, progress=False)
    cloned = train(data, algo="bc", gamma=0.9, seed=0, progress=False, epochs=20)
    true_table = participant.true_reward[participant.state_of_step]
    maxent_epic = epic_distance(maxent.score_actions(data), true_table, gamma=0.9)
    assert maxent_epic < 0.2
    assert maxent_epic < epic_distance(cloned.score_actions(data), true_table, gamma=0.9)


def test_demonstration_nll_falls_during_training(participant):
    model = train(participant.dataset, algo="maxent", gamma=0.9, seed=0, progress=False,
                  epochs=40)
    assert model.curve[-1]["nll"] < model.curve[0]["nll"] - 0.01


def test_same_seed_gives_identical_weights(participant):
    first = train(participant.dataset, algo="maxent", gamma=0.9, seed=3, progress=False,
                  epochs=20)
    second = train(participant.dataset, algo="maxent", gamma=0.9, seed=3, progress=False,
                   epochs=20)
    assert np.array_equal(first.networks["reward"].weight.detach().numpy(),
                          second.networks["reward"].weight.detach().numpy())


def test_lbfgs_and_adam_reach_the_same_linear_reward():
    mdp = random_mdp(24, 3, 3, seed=6)
    true_weights = torch.tensor([0.8, -0.6, 0.4], dtype=torch.float64)
    expert = soft_value_iteration(mdp.features @ true_weights, mdp.transitions, horizon=10)
    demos = sample_demonstrations(mdp, expert.policy, n_episodes=200, horizon=10, seed=3)
    heads = {name: LinearReward(3, 3, action_terms="none") for name in ("lbfgs", "adam")}
    fits = {name: mce_irl(mdp, demos, head=head, horizon=10, lr=0.05, iterations=3000,
                          tol=1e-5, optimiser=name) for name, head in heads.items()}
    assert fits["lbfgs"].curve[-1]["gap"] < 1e-5 and fits["adam"].curve[-1]["gap"] < 1e-5
    assert len(fits["lbfgs"].curve) < len(fits["adam"].curve) / 5
    assert torch.allclose(heads["lbfgs"].weight, heads["adam"].weight, atol=1e-3)


def test_likelihood_gradient_is_the_discounted_flow_of_the_action_residual():
    mdp = random_mdp(10, 3, 2, seed=4)
    counts = torch.from_numpy(np.random.default_rng(0).integers(0, 6, (10, 3)).astype(float))
    reward = torch.from_numpy(np.random.default_rng(1).normal(size=(10, 3)) * 0.5)

    def log_likelihood(r: torch.Tensor) -> float:
        values = soft_value_iteration(r, mdp.transitions, gamma=0.9, tol=1e-13)
        return float((counts * values.log_policy).sum())

    values = soft_value_iteration(reward, mdp.transitions, gamma=0.9, tol=1e-13)
    flow = discounted_flow(counts - counts.sum(dim=1, keepdim=True) * values.policy,
                           values.policy, mdp.transitions, gamma=0.9)
    step = 1e-6
    numeric = torch.zeros_like(reward)
    for s in range(10):
        for a in range(3):
            bump = torch.zeros_like(reward)
            bump[s, a] = step
            numeric[s, a] = (log_likelihood(reward + bump)
                             - log_likelihood(reward - bump)) / (2 * step)
    assert torch.allclose(flow, numeric, atol=1e-5)


def test_moves_across_an_item_end_are_counted_within_a_session():
    # Two far-apart places; action 1 ends the item and always moves to the other place.
    places = np.array([[0.0, 0.0], [10.0, 10.0]])
    which = np.tile([0, 0, 1, 1], 25)
    x = places[which] + 0.01 * np.random.default_rng(0).normal(size=(100, 2))
    actions = np.tile([0, 1], 50)
    actions[-1] = -1
    episode = np.repeat(np.arange(50), 2)
    fit = fit_on_steps(x, actions, episode, n_actions=2, head=LinearReward(2, 2),
                       gamma=0.9, n_clusters=2, iterations=5, session=np.zeros(100, int))
    assert fit.mdp is not None and fit.labels is not None
    first, second = fit.labels[0], fit.labels[2]
    assert float(fit.mdp.transitions[first, 1, second]) > 0.9
    assert float(fit.mdp.transitions[second, 1, first]) > 0.9


def test_without_sessions_episodes_stay_independent_rollouts():
    places = np.array([[0.0, 0.0], [10.0, 10.0]])
    which = np.tile([0, 0, 1, 1], 25)
    x = places[which] + 0.01 * np.random.default_rng(0).normal(size=(100, 2))
    actions = np.tile([0, 1], 50)
    episode = np.repeat(np.arange(50), 2)
    fit = fit_on_steps(x, actions, episode, n_actions=2, head=LinearReward(2, 2),
                       gamma=0.9, n_clusters=2, iterations=5)
    assert fit.mdp is not None and fit.labels is not None
    assert float(fit.mdp.transitions[fit.labels[0], 1, fit.labels[2]]) < 0.6


def test_simulated_participants_reward_beats_cloning_and_nll_falls():
    simulation = simulate(SimulationConfig(participants=2, minutes=6, seed=0))
    data = simulation.dataset
    truth = simulation.truth.reward_table(data)
    maxent = train(data, algo="maxent", gamma=0.95, seed=0, progress=False)
    cloned = train(data, algo="bc", gamma=0.95, seed=0, progress=False)
    has_next = np.flatnonzero(np.r_[data.episode[1:] == data.episode[:-1], False])

    def epic(learned: np.ndarray) -> float:
        return epic_distance(learned[has_next], truth[has_next], gamma=0.95,
                             next_a=learned[has_next + 1], next_b=truth[has_next + 1])

    assert maxent.curve[-1]["nll"] < maxent.curve[0]["nll"] - 0.1
    assert epic(maxent.score_actions(data)) < epic(cloned.score_actions(data)) - 0.1
