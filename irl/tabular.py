"""Finite abstractions for MaxEnt IRL: tabular MDPs, demonstrations, and state clustering.

MCE IRL needs a transition model it can back up through. For a given tabular problem
(benchmarks, tests) that model is exact. For fused participant data the continuous
standardised states are clustered (k-means with k-means++ seeding, Arthur and Vassilvitskii
2007) and the transition model is the empirical count of cluster-to-cluster moves per
action, smoothed towards the cluster's action-marginal next-state distribution (an additive
Dirichlet prior), so actions never seen in a cluster behave like the cluster's average.

Public API::

    TabularMDP(transitions P[s, a, s'], initial p0[s], features phi[s, f])
    random_mdp(n_states, n_actions, n_features, *, seed, branching=...) -> TabularMDP
    Demonstrations(states[N, L], actions[N, L])  # -1 pads after an episode ends
    sample_demonstrations(mdp, policy, *, n_episodes, horizon, seed) -> Demonstrations
    kmeans(x[T, F], k, *, seed, iterations) -> (centroids[k, F], labels[T])
    empirical_mdp(labels, actions, episode, *, n_states, n_actions, smoothing) -> P, p0
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from irl import distributed

log = logging.getLogger(__name__)


@dataclass
class TabularMDP:
    """A finite MDP: P[s, a, s'], p0[s], state features phi[s, f] (float64 tensors)."""

    transitions: torch.Tensor
    initial: torch.Tensor
    features: torch.Tensor

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[1])


def random_mdp(n_states: int, n_actions: int, n_features: int, *, seed: int,
               branching: int = 5) -> TabularMDP:
    """A random sparse MDP: each (s, a) reaches ``branching`` random states, Dirichlet(1)."""
    rng = np.random.default_rng(seed)
    transitions = np.zeros((n_states, n_actions, n_states))  # P[s, a, s']
    targets = rng.integers(0, n_states, size=(n_states, n_actions, branching))
    probabilities = rng.dirichlet(np.ones(branching), size=(n_states, n_actions))
    s_index, a_index = np.meshgrid(np.arange(n_states), np.arange(n_actions), indexing="ij")
    for k in range(branching):
        np.add.at(transitions, (s_index, a_index, targets[:, :, k]), probabilities[:, :, k])
    initial = rng.dirichlet(np.ones(n_states))  # p0[s]
    features = rng.normal(size=(n_states, n_features))  # phi[s, f]
    return TabularMDP(torch.from_numpy(transitions), torch.from_numpy(initial),
                      torch.from_numpy(features))


@dataclass
class Demonstrations:
    """Trajectories on a tabular MDP: states[N, L] and actions[N, L] int64, -1 after the end.

    A step whose action is -1 while its state is set (the participant's last step, or a
    step without an action) counts for the state but not in the state-action occupancy.
    """

    states: np.ndarray
    actions: np.ndarray

    def __post_init__(self) -> None:
        self.states = np.asarray(self.states, dtype=np.int64)
        self.actions = np.asarray(self.actions, dtype=np.int64)

    @property
    def n_episodes(self) -> int:
        return int(self.states.shape[0])

    def counted(self) -> np.ndarray:
        """Mask[N, L] of steps with both a state and an action."""
        return (self.states >= 0) & (self.actions >= 0)

    def step_weights(self, gamma: float) -> torch.Tensor:
        """w[t] = gamma^t times the share of episodes with a counted step at t."""
        share = self.counted().mean(axis=0)  # [L]
        return torch.from_numpy(gamma ** np.arange(share.shape[0]) * share)

    def occupancy(self, n_states: int, n_actions: int, *, gamma: float) -> torch.Tensor:
        """Empirical D[s, a] = (1/N) sum_n sum_t gamma^t 1[s_t = s, a_t = a]."""
        mask = self.counted()
        steps = np.broadcast_to(np.arange(self.states.shape[1]), self.states.shape)
        flat = self.states[mask] * n_actions + self.actions[mask]
        weights = gamma ** steps[mask].astype(np.float64)
        occupancy = np.bincount(flat, weights=weights, minlength=n_states * n_actions)
        occupancy = distributed.all_reduce_sum(torch.from_numpy(occupancy))
        episodes = distributed.all_reduce_sum(torch.tensor(float(self.n_episodes)))
        return (occupancy / episodes).reshape(n_states, n_actions)


def sample_demonstrations(mdp: TabularMDP, policy: torch.Tensor, *, n_episodes: int,
                          horizon: int, seed: int) -> Demonstrations:
    """Roll out pi[s, a] or pi[t, s, a] from p0 for ``horizon`` steps, all episodes at once."""
    rng = np.random.default_rng(seed)
    transitions = mdp.transitions.numpy()
    policy_np = policy.detach().numpy()
    states = np.empty((n_episodes, horizon), dtype=np.int64)
    actions = np.empty((n_episodes, horizon), dtype=np.int64)
    current = rng.choice(mdp.n_states, size=n_episodes, p=mdp.initial.numpy())  # s_t[N]
    for t in range(horizon):
        step_policy = policy_np[t] if policy_np.ndim == 3 else policy_np
        cumulative = step_policy[current].cumsum(axis=1)  # [N, A]
        chosen = (rng.random((n_episodes, 1)) > cumulative).sum(axis=1)
        chosen = np.minimum(chosen, mdp.n_actions - 1)
        states[:, t], actions[:, t] = current, chosen
        next_cumulative = transitions[current, chosen].cumsum(axis=1)  # [N, S]
        current = np.minimum((rng.random((n_episodes, 1)) > next_cumulative).sum(axis=1),
                             mdp.n_states - 1)
    return Demonstrations(states, actions)


def kmeans(x: np.ndarray, k: int, *, seed: int, iterations: int = 30
           ) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: centroids[k, F] float64 and labels[T] int64.

    Under ``torchrun`` each process passes its own shard of rows; the seeding uses the rows
    gathered from all processes and each Lloyd step sums centroid statistics across them,
    so the result equals the single-process one up to float rounding.
    """
    rng = np.random.default_rng(seed)
    data = torch.from_numpy(x.astype(np.float64))  # [T, F]
    everything = distributed.all_gather_rows(data)  # [T_all, F], equal on every process
    k = min(k, everything.shape[0])
    chosen = [int(rng.integers(everything.shape[0]))]
    nearest = ((everything - everything[chosen[0]]) ** 2).sum(dim=1)  # [T_all]
    for _ in range(1, k):
        probabilities = (nearest / nearest.sum()).numpy() if nearest.sum() > 0 else None
        index = int(rng.choice(everything.shape[0], p=probabilities))
        chosen.append(index)
        nearest = torch.minimum(nearest, ((everything - everything[index]) ** 2).sum(dim=1))
    centroids = everything[chosen].clone()  # [k, F]
    labels = torch.zeros(data.shape[0], dtype=torch.int64)
    for _ in range(iterations):
        labels = torch.cdist(data, centroids).argmin(dim=1)  # [T]
        sums = torch.zeros_like(centroids).index_add_(0, labels, data)  # [k, F]
        counts = torch.bincount(labels, minlength=k).to(data.dtype)  # [k]
        sums, counts = distributed.all_reduce_sum(sums), distributed.all_reduce_sum(counts)
        updated = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None],
                              centroids)
        if torch.allclose(updated, centroids, atol=1e-9):
            break
        centroids = updated
    labels = torch.cdist(data, centroids).argmin(dim=1)
    return centroids.numpy(), labels.numpy()


def empirical_mdp(labels: np.ndarray, actions: np.ndarray, episode: np.ndarray, *,
                  n_states: int, n_actions: int, smoothing: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Smoothed empirical P[s, a, s'] and p0[s] from labelled steps of episodes.

    A move s -> s' under a counts when both steps belong to one episode and the action is
    known. P[s, a, .] = (N[s, a, .] + smoothing * M[s, .]) / (N[s, a] + smoothing), where
    M[s, .] is the action-marginal next-state distribution of s, itself smoothed towards
    uniform with weight 0.1 so that every row is a proper distribution.
    """
    same_episode = episode[1:] == episode[:-1]
    known = same_episode & (actions[:-1] >= 0)
    source, action, target = labels[:-1][known], actions[:-1][known], labels[1:][known]
    flat = (source * n_actions + action) * n_states + target
    counts = np.bincount(flat, minlength=n_states * n_actions * n_states).astype(np.float64)
    counts = distributed.all_reduce_sum(torch.from_numpy(counts))
    counts = counts.reshape(n_states, n_actions, n_states)  # N[s, a, s']
    marginal = counts.sum(dim=1) + 0.1 / n_states  # [S, S']
    marginal = marginal / marginal.sum(dim=1, keepdim=True)
    transitions = (counts + smoothing * marginal[:, None, :]) / (
        counts.sum(dim=2, keepdim=True) + smoothing)  # P[s, a, s']

    starts = np.r_[True, episode[1:] != episode[:-1]] if len(episode) else np.zeros(0, bool)
    first_counts = np.bincount(labels[starts], minlength=n_states).astype(np.float64)
    first_counts = distributed.all_reduce_sum(torch.from_numpy(first_counts))
    initial = first_counts / first_counts.sum()  # p0[s]
    return transitions, initial
