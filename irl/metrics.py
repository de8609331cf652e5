"""How well a learned reward matches a true one, and how well a policy predicts actions.

- EPIC (Gleave, Dennis, Legg, Russell and Leike 2021, "Quantifying differences in reward
  functions"): canonicalise both rewards so that potential shaping cancels, then
  D = sqrt((1 - rho) / 2) with rho the Pearson correlation over a coverage distribution of
  transitions. D is 0 for rewards that induce the same optimal policies in every dynamics
  (equal up to shaping and positive scale) and at most 1.
- Pearson correlation of rewards, expected value difference on tabular problems (Levine,
  Popovic and Koltun 2011), held-out action negative log-likelihood and accuracy.

Rewards here are arrays r[N, A] (one row per coverage state, one column per action) or r[N]
for state-only rewards. For R(s, a) that does not depend on s', EPIC's canonical form is

    C(R)(s, a, s') = R(s, a) + gamma E_A R(s', A) - E_A R(s, A) - gamma E_{S, A} R(S, A)

with A drawn from the coverage action distribution and S from the coverage states.

Public API::

    pearson(x, y, *, weights=None) -> float
    canonicalise(reward[N, A], next_reward[N, A], *, gamma, action_probs=None) -> [N, A]
    epic_distance(reward_a, reward_b, *, gamma, next_a=None, next_b=None,
                  action_probs=None, seed=0) -> float
    transition_epic(reward_a[T, A], reward_b[T, A], actions[T], index[M], *, gamma) -> float
    recovery_epic(learned[T, A], truth[T, A], episode[T], actions[T], *, gamma)
        -> (every action, observed transitions)
    expected_value_difference(true_reward, learned_reward, transitions, initial, *,
                              gamma=None, horizon=None) -> float
    action_nll(log_probs[N, A], actions[N]) -> float;  action_accuracy(...) -> float
    TrueReward (protocol): reward(dataset) -> r[T, A] or r[T]
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from fusion.dataset import FusedDataset
from irl.soft_bellman import policy_return, soft_value_iteration


@runtime_checkable
class TrueReward(Protocol):
    """Something that knows the true reward of every step of a dataset (a simulator's truth).

    ``reward(dataset)`` returns r[T, A] (every action at every step) or r[T] (state-only).
    """

    def reward(self, dataset: FusedDataset) -> np.ndarray: ...


def pearson(x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """Weighted Pearson correlation of two equally shaped arrays (flattened); 0 if constant."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"pearson needs equal sizes, got {a.shape} and {b.shape}")
    w = np.ones_like(a) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    w = w / w.sum()
    a_centred, b_centred = a - (w * a).sum(), b - (w * b).sum()
    covariance = (w * a_centred * b_centred).sum()
    scale = np.sqrt((w * a_centred**2).sum() * (w * b_centred**2).sum())
    return float(covariance / scale) if scale > 1e-300 else 0.0


def _as_matrix(reward: np.ndarray) -> np.ndarray:
    values = np.asarray(reward, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


def canonicalise(reward: np.ndarray, next_reward: np.ndarray, *, gamma: float,
                 action_probs: np.ndarray | None = None) -> np.ndarray:
    """EPIC canonical reward C(R)(s_i, a, s'_i) for coverage pairs (s_i, s'_i): [N, A].

    ``reward`` is R(s_i, .)[N, A] and ``next_reward`` R(s'_i, .)[N, A]; the expectation over
    S uses the coverage states themselves and over A the ``action_probs`` (uniform if None).
    """
    r_now, r_next = _as_matrix(reward), _as_matrix(next_reward)
    n_actions = r_now.shape[1]
    probs = (np.full(n_actions, 1.0 / n_actions) if action_probs is None
             else np.asarray(action_probs, np.float64) / np.sum(action_probs))
    mean_now = r_now @ probs  # E_A R(s_i, A) [N]
    mean_next = r_next @ probs  # E_A R(s'_i, A) [N]
    overall = mean_now.mean()  # E_{S, A} R(S, A)
    return r_now + gamma * mean_next[:, None] - mean_now[:, None] - gamma * overall


def epic_distance(reward_a: np.ndarray, reward_b: np.ndarray, *, gamma: float,
                  next_a: np.ndarray | None = None, next_b: np.ndarray | None = None,
                  action_probs: np.ndarray | None = None, seed: int = 0) -> float:
    """EPIC pseudometric between two rewards evaluated on the same coverage states.

    ``reward_a`` and ``reward_b`` are r[N, A] (or r[N]). ``next_a``/``next_b`` are the
    rewards at each sample's next state; when omitted, next states are drawn independently
    from the coverage states (a seeded permutation), EPIC's product coverage distribution.
    The result lies in [0, 1]; 0 means equivalent up to potential shaping and scale.
    """
    r_a, r_b = _as_matrix(reward_a), _as_matrix(reward_b)
    if r_a.shape[0] != r_b.shape[0]:
        raise ValueError("both rewards must be evaluated on the same coverage states")
    if r_a.shape[1] != r_b.shape[1]:
        n_actions = max(r_a.shape[1], r_b.shape[1])
        r_a = np.broadcast_to(r_a, (r_a.shape[0], n_actions))
        r_b = np.broadcast_to(r_b, (r_b.shape[0], n_actions))
    if next_a is None or next_b is None:
        order = np.random.default_rng(seed).permutation(r_a.shape[0])
        next_a, next_b = r_a[order], r_b[order]
    canonical_a = canonicalise(r_a, np.broadcast_to(_as_matrix(next_a), r_a.shape),
                               gamma=gamma, action_probs=action_probs)
    canonical_b = canonicalise(r_b, np.broadcast_to(_as_matrix(next_b), r_b.shape),
                               gamma=gamma, action_probs=action_probs)
    weights = None
    if action_probs is not None:
        weights = np.broadcast_to(np.asarray(action_probs, np.float64), canonical_a.shape)
    rho = pearson(canonical_a, canonical_b, weights=weights)
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0)))


def transition_epic(reward_a: np.ndarray, reward_b: np.ndarray, actions: np.ndarray,
                    index: np.ndarray, *, gamma: float) -> float:
    """EPIC with the observed transitions (s_t, a_t, s_t+1), t in ``index``, as coverage.

    ``reward_a``/``reward_b`` are r[T, A] over a dataset's steps, ``actions`` a[T] and
    ``index`` the steps whose next step t+1 follows them. This is EPIC's definition with the
    coverage distribution D taken to be the data's own transitions (Gleave et al. 2021 leave
    D to the user); the canonicalisation draws states from the coverage states and actions from
    the observed action frequencies. Unlike :func:`epic_distance` over every action at each
    observed (s, s') pair, it never scores a transition the dynamics cannot produce, so two
    rewards that differ only by trading an action's cost against a feature that always
    follows that action (which behaviour cannot tell apart) score close to 0 here but not there
    (cf. Wulfe et al. 2022 on dynamics-aware reward distances).
    """
    r_a, r_b = _as_matrix(reward_a), _as_matrix(reward_b)
    n_actions = max(r_a.shape[1], r_b.shape[1], int(np.max(actions, initial=0)) + 1)
    r_a = np.broadcast_to(r_a, (r_a.shape[0], n_actions))  # a state-only r[T] counts for all
    r_b = np.broadcast_to(r_b, (r_b.shape[0], n_actions))
    steps = np.asarray(index, dtype=np.int64)
    taken = np.asarray(actions)[steps]
    if steps.size == 0 or np.any(taken < 0):
        raise ValueError("transition_epic needs steps with a known action and a next step")
    probs = np.bincount(taken, minlength=r_a.shape[1]).astype(np.float64)
    rows = np.arange(steps.size)
    canonical_a = canonicalise(r_a[steps], r_a[steps + 1], gamma=gamma,
                               action_probs=probs)[rows, taken]
    canonical_b = canonicalise(r_b[steps], r_b[steps + 1], gamma=gamma,
                               action_probs=probs)[rows, taken]
    rho = pearson(canonical_a, canonical_b)
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0)))


def recovery_epic(learned: np.ndarray, truth: np.ndarray, episode: np.ndarray,
                  actions: np.ndarray, *, gamma: float) -> tuple[float, float]:
    """EPIC of a reward to the truth over a dataset's steps, the two ways Engage prints it.

    ``learned`` and ``truth`` are r[T, A] over the steps; ``episode`` e[T] and ``actions``
    a[T]. First, every action at each observed pair (s_t, s_t+1) within an episode
    (:func:`epic_distance` with those next states); second, the observed transitions
    (s_t, a_t, s_t+1) alone (:func:`transition_epic`), NaN when no step has a known action.
    """
    episode = np.asarray(episode)
    has_next = np.flatnonzero(np.r_[episode[1:] == episode[:-1], False])
    if has_next.size == 0:
        raise ValueError("recovery_epic needs at least one step with a next step")
    every = epic_distance(learned[has_next], truth[has_next], gamma=gamma,
                          next_a=learned[has_next + 1], next_b=truth[has_next + 1])
    known = has_next[np.asarray(actions)[has_next] >= 0]
    observed = (transition_epic(learned, truth, actions, known, gamma=gamma)
                if known.size else float("nan"))
    return every, observed


def expected_value_difference(true_reward: torch.Tensor, learned_reward: torch.Tensor,
                              transitions: torch.Tensor, initial: torch.Tensor, *,
                              gamma: float | None = None, horizon: int | None = None) -> float:
    """True return of the soft-optimal policy for the truth minus that for the learned reward.

    Both policies are the MaxEnt (soft-optimal) ones and are evaluated on the true reward
    without the entropy bonus; 0 means the learned reward leads to equally good behaviour.
    """
    expert = soft_value_iteration(true_reward, transitions, gamma=gamma, horizon=horizon)
    learned = soft_value_iteration(learned_reward.to(transitions.dtype), transitions,
                                   gamma=gamma, horizon=horizon)
    expert_return = policy_return(expert.policy, true_reward, transitions, initial,
                                  gamma=gamma, horizon=horizon)
    learned_return = policy_return(learned.policy, true_reward, transitions, initial,
                                   gamma=gamma, horizon=horizon)
    return expert_return - learned_return


def action_nll(log_probs: np.ndarray, actions: np.ndarray) -> float:
    """Mean negative log-likelihood of the taken actions (steps with action -1 skipped)."""
    known = np.asarray(actions) >= 0
    if not known.any():
        return float("nan")
    picked = np.asarray(log_probs)[np.flatnonzero(known), np.asarray(actions)[known]]
    return float(-picked.mean())


def action_accuracy(log_probs: np.ndarray, actions: np.ndarray) -> float:
    """Share of steps where the most likely action is the one taken (action -1 skipped)."""
    known = np.asarray(actions) >= 0
    if not known.any():
        return float("nan")
    predicted = np.asarray(log_probs)[known].argmax(axis=1)
    return float((predicted == np.asarray(actions)[known]).mean())
