"""MaxEnt (maximum causal entropy) IRL recovers the rewards that generated soft-optimal data."""

from __future__ import annotations

import numpy as np
import torch

from irl.maxent import mce_irl
from irl.metrics import epic_distance, pearson
from irl.rewards import LinearReward
from irl.soft_bellman import soft_value_iteration
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
