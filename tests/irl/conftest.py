"""Fixtures for the IRL tests: a tiny soft-optimal participant on a known tabular MDP.

The participant lives on a random MDP with a linear reward over state features and acts by
the soft-optimal policy (Boltzmann in soft Q); the fused dataset shows each state's
features plus a little noise, so tests know the true reward of every step and action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from fusion.dataset import DatasetSchema, FeatureSpec, FusedDataset
from irl.soft_bellman import soft_value_iteration
from irl.tabular import TabularMDP, random_mdp, sample_demonstrations

GAMMA = 0.9


@dataclass
class KnownParticipant:
    mdp: TabularMDP
    true_weights: np.ndarray  # [F]
    true_reward: np.ndarray  # r[S, A]
    dataset: FusedDataset
    state_of_step: np.ndarray  # [T]


def make_schema(n_features: int, n_actions: int, *, name: str = "toy") -> DatasetSchema:
    modalities = ("vision", "behaviour", "content")
    features = tuple(FeatureSpec(f"f{i}", "z", modalities[i % 3], f"toy feature {i}")
                     for i in range(n_features))
    return DatasetSchema(name=name, version="1", features=features,
                         actions=tuple(f"act{a}" for a in range(n_actions)))


def make_participant(*, n_states: int = 16, n_actions: int = 3, n_features: int = 4,
                     n_episodes: int = 60, horizon: int = 20, seed: int = 0,
                     noise: float = 0.05, demo_seed: int | None = None,
                     session_prefix: str = "toy-session") -> KnownParticipant:
    """A participant of a random MDP (from ``seed``) with its demonstrations; ``demo_seed``
    draws other demonstrations of the same participant (held-out sessions)."""
    mdp = random_mdp(n_states, n_actions, n_features, seed=seed, branching=3)
    rng = np.random.default_rng(seed + 1)
    weights = rng.normal(size=n_features)
    action_cost = np.linspace(0.0, -0.5, n_actions)
    reward = mdp.features.numpy() @ weights
    reward_sa = reward[:, None] + action_cost[None, :]  # r[S, A]
    values = soft_value_iteration(torch.from_numpy(reward_sa), mdp.transitions, gamma=GAMMA)
    demo_seed = seed + 2 if demo_seed is None else demo_seed
    demos = sample_demonstrations(mdp, values.policy, n_episodes=n_episodes, horizon=horizon,
                                  seed=demo_seed)
    states_flat = demos.states.reshape(-1)
    features = mdp.features.numpy()[states_flat]
    features = features + noise * rng.normal(size=features.shape)
    dataset = FusedDataset(
        t_s=np.tile(np.arange(horizon, dtype=np.float64), n_episodes),
        states=features.astype(np.float32), valid=np.ones(features.shape, dtype=bool),
        actions=demos.actions.reshape(-1), episode=np.repeat(np.arange(n_episodes), horizon),
        # Each rollout is an independent session (as each starts afresh from p0).
        session=np.repeat(np.arange(n_episodes, dtype=np.int32), horizon),
        schema=make_schema(n_features, n_actions),
        session_ids=tuple(f"{session_prefix}-{k:03d}" for k in range(n_episodes)),
        participants=("p1",) * n_episodes, extras={"reward_true": reward_sa[states_flat,
                                                               demos.actions.reshape(-1)]},
    )
    return KnownParticipant(mdp, weights, reward_sa, dataset, states_flat)


@pytest.fixture(scope="session")
def participant() -> KnownParticipant:
    torch.set_num_threads(1)
    return make_participant()
