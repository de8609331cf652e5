"""Maximum causal entropy IRL (Ziebart, Bagnell and Dey 2010; Ziebart 2010, thesis ch. 6-9).

The participant is modelled as soft-optimal for an unknown reward r_theta: their policy is
pi(a|s) = exp(Q(s, a) - V(s)) from soft value iteration (:mod:`irl.soft_bellman`). The
causal log-likelihood of the demonstrations has the gradient

    d/dtheta log L = sum_{s,a} (D_demo[s, a] - D_theta[s, a]) d r_theta(s, a) / d theta,

the gap between the demonstrated and the modelled (discounted) state-action visitation
(Ziebart 2010, eq. 9.4; for linear rewards, feature expectation matching). Each iteration
runs one backward pass (soft value iteration) and one forward pass (visitation), both
vectorised, then steps the reward head on the surrogate sum (D_theta - D_demo) * r_theta,
whose gradient is exactly the negative of the one above. This works for linear and MLP
heads alike.

On fused data the states are continuous, so :func:`fit_on_steps` first builds a finite
abstraction (:mod:`irl.tabular`): k-means clusters of standardised states and a smoothed
empirical transition model; the reward head is a function of features, evaluated on the
cluster centroids during fitting and on each step's own features when scoring.

Public API::

    mce_irl(mdp, demos, *, head, gamma=None, horizon=None, lr=0.1, iterations=300,
            tol=1e-4, l2=0.0, progress=False) -> MaxEntFit
    fit_on_steps(x[T, F], actions[T], episode[T], *, n_actions, head, gamma, n_clusters,
                 smoothing=1.0, seed=0, ...) -> MaxEntFit (with .centroids and .mdp)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from irl import distributed
from irl.soft_bellman import SoftValues, soft_value_iteration, state_action_occupancy
from irl.tabular import Demonstrations, TabularMDP, empirical_mdp, kmeans

log = logging.getLogger(__name__)


@dataclass
class MaxEntFit:
    """A fitted reward head with the soft-optimal values under it and the training curve."""

    head: nn.Module
    values: SoftValues
    curve: list[dict[str, float]]
    mdp: TabularMDP | None = None
    centroids: np.ndarray | None = None  # [k, F] standardised features of each cluster
    labels: np.ndarray | None = None  # [T] cluster of each step (this process's shard)
    extras: dict[str, float] = field(default_factory=dict)


def _demo_action_counts(demos: Demonstrations, n_states: int, n_actions: int,
                        time_indexed: int | None) -> tuple[torch.Tensor, float]:
    """Demonstrated (s, a) counts, C[s, a] or C[t, s, a], and their total (all processes)."""
    mask = demos.counted()
    states, actions = demos.states[mask], demos.actions[mask]
    if time_indexed is None:
        flat = states * n_actions + actions
        size = n_states * n_actions
    else:
        steps = np.broadcast_to(np.arange(demos.states.shape[1]), demos.states.shape)[mask]
        steps = np.minimum(steps, time_indexed - 1)
        flat = (steps * n_states + states) * n_actions + actions
        size = time_indexed * n_states * n_actions
    counts = torch.from_numpy(np.bincount(flat, minlength=size).astype(np.float64))
    counts = distributed.all_reduce_sum(counts)
    shape = (n_states, n_actions) if time_indexed is None else (time_indexed, n_states,
                                                                 n_actions)
    return counts.reshape(shape), float(counts.sum())


def mce_irl(
    mdp: TabularMDP,
    demos: Demonstrations,
    *,
    head: nn.Module,
    gamma: float | None = None,
    horizon: int | None = None,
    lr: float = 0.1,
    iterations: int = 300,
    tol: float = 1e-4,
    l2: float = 0.0,
    features: torch.Tensor | None = None,
    progress: bool = False,
) -> MaxEntFit:
    """Fit ``head`` (features[S, F] -> r[S, A]) by MCE IRL on a known tabular MDP.

    Discounted (``gamma`` in [0, 1), stationary policy) or finite horizon (``horizon``,
    time-dependent policy, optionally discounted by ``gamma``). Stops when the largest
    per-feature visitation gap (relative to the demonstrated mass) falls below ``tol`` or
    after ``iterations``. The curve records the mean demonstrated-action NLL and the gap.
    """
    if horizon is None and (gamma is None or not 0.0 <= gamma < 1.0):
        raise ValueError(f"mce_irl needs gamma in [0, 1) or a horizon, got gamma={gamma}")
    discount = 1.0 if gamma is None else float(gamma)
    inputs = (mdp.features if features is None else features).to(torch.float32)  # [S, F]
    state_features = mdp.features.to(torch.float64)  # phi[s, f] for the stopping rule
    demo_occupancy = demos.occupancy(mdp.n_states, mdp.n_actions, gamma=discount)  # [S, A]
    weights = demos.step_weights(discount)  # w[t]
    if horizon is not None:
        weights = torch.cat([weights, torch.zeros(max(0, horizon - weights.shape[0]),
                                                  dtype=weights.dtype)])[:horizon]
    if distributed.is_distributed():
        # The share of running episodes must be the global one, not this shard's.
        weights = _global_step_weights(demos, discount, horizon)
    action_counts, n_counted = _demo_action_counts(demos, mdp.n_states, mdp.n_actions,
                                                   horizon)  # C[s, a] or C[t, s, a]
    demo_mass = float(demo_occupancy.sum())
    demo_feature = state_features.T @ demo_occupancy.sum(dim=1)  # [F]

    optimiser = torch.optim.Adam(head.parameters(), lr=lr)
    curve: list[dict[str, float]] = []
    values: SoftValues | None = None
    bar = tqdm(range(iterations), desc="maxent", disable=not progress, leave=False)
    for iteration in bar:
        rewards = head(inputs)  # r[S, A]
        values = soft_value_iteration(rewards.detach().to(torch.float64), mdp.transitions,
                                      gamma=gamma, horizon=horizon)
        model_occupancy = state_action_occupancy(values.policy, mdp.transitions, mdp.initial,
                                                 step_weights=weights)  # D_theta[s, a]
        model_occupancy = model_occupancy * (demo_mass / float(model_occupancy.sum()))
        gap_per_feature = state_features.T @ model_occupancy.sum(dim=1) - demo_feature
        gap = float(gap_per_feature.abs().max()) / max(demo_mass, 1e-12)
        nll = -float((action_counts * values.log_policy).sum()) / max(n_counted, 1.0)
        curve.append({"iteration": float(iteration), "nll": nll, "gap": gap})
        bar.set_postfix(nll=f"{curve[-1]['nll']:.4f}", gap=f"{gap:.1e}")
        if gap < tol:
            break
        surrogate = ((model_occupancy - demo_occupancy).to(rewards.dtype) * rewards).sum()
        if l2 > 0:
            surrogate = surrogate + l2 * sum((p**2).sum() for p in head.parameters())
        optimiser.zero_grad()
        surrogate.backward()
        optimiser.step()
    assert values is not None
    return MaxEntFit(head=head, values=values, curve=curve)


def _global_step_weights(demos: Demonstrations, gamma: float,
                         horizon: int | None) -> torch.Tensor:
    """w[t] over all processes' demonstrations (episodes are sharded, steps are not)."""
    counted = demos.counted().sum(axis=0).astype(np.float64)  # [L_local]
    longest = horizon if horizon is not None else int(
        distributed.all_reduce_max(torch.tensor(float(counted.shape[0]))))
    local = torch.zeros(longest, dtype=torch.float64)
    local[: min(longest, counted.shape[0])] = torch.from_numpy(counted[:longest])
    running = distributed.all_reduce_sum(local)
    episodes = float(distributed.all_reduce_sum(torch.tensor(float(demos.n_episodes))))
    return gamma ** torch.arange(longest, dtype=torch.float64) * running / episodes


def steps_to_demonstrations(labels: np.ndarray, actions: np.ndarray,
                            episode: np.ndarray) -> Demonstrations:
    """Pack labelled steps into padded trajectories, one row per episode."""
    if len(episode) == 0:
        return Demonstrations(np.zeros((0, 0)), np.zeros((0, 0)))
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    lengths = np.diff(np.r_[starts, len(episode)])
    rows = np.repeat(np.arange(len(starts)), lengths)
    columns = np.arange(len(episode)) - np.repeat(starts, lengths)
    states = np.full((len(starts), int(lengths.max())), -1, dtype=np.int64)
    acts = np.full_like(states, -1)
    states[rows, columns] = labels
    acts[rows, columns] = actions
    return Demonstrations(states, acts)


def fit_on_steps(
    x: np.ndarray,
    actions: np.ndarray,
    episode: np.ndarray,
    *,
    n_actions: int,
    head: nn.Module,
    gamma: float,
    n_clusters: int,
    smoothing: float = 1.0,
    seed: int = 0,
    lr: float = 0.05,
    iterations: int = 300,
    tol: float = 1e-4,
    l2: float = 1e-4,
    progress: bool = False,
) -> MaxEntFit:
    """MCE IRL on fused steps: cluster, build the empirical MDP, fit the head on centroids.

    ``x`` is x[T, F] standardised states of this process's episodes, ``actions`` a[T]
    (-1 where none), ``episode`` e[T]. The discounted formulation matches how the
    simulated participants act (Boltzmann in a discounted soft Q).
    """
    centroids, labels = kmeans(x, n_clusters, seed=seed)  # [k, F], [T]
    n_states = centroids.shape[0]
    transitions, initial = empirical_mdp(labels, actions, episode, n_states=n_states,
                                         n_actions=n_actions, smoothing=smoothing)
    mdp = TabularMDP(transitions, initial, torch.from_numpy(centroids))
    demos = steps_to_demonstrations(labels, actions, episode)
    fit = mce_irl(mdp, demos, head=head, gamma=gamma, lr=lr, iterations=iterations, tol=tol,
                  l2=l2, progress=progress)
    fit.mdp, fit.centroids, fit.labels = mdp, centroids, labels
    return fit
