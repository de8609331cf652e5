"""Reward heads over standardised fused features, and the normaliser that feeds them.

A head maps standardised states x[N, F] to rewards r[N, A] (one column per action), so that
every algorithm and metric can treat rewards as functions of state and action. Two kinds:

- ``linear``: r(s, a) = w . x(s) + b[a] (``action_terms="bias"``), plus W[a] . x(s) with
  ``action_terms="full"``, or w . x(s) alone with ``action_terms="none"``. On standardised
  features the weights are comparable across features, which is what explanations report.
- ``mlp``: a small two-layer network, state-only (one output broadcast) or one output per
  action.

Standardisation uses the mean and standard deviation of valid values only; a missing value
(mask False) becomes 0 after standardisation, i.e. the feature's mean, so an absent face
neither rewards nor punishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

ACTION_TERMS = ("none", "bias", "full")
HEAD_KINDS = ("linear", "mlp")


@dataclass
class Normaliser:
    """Per-feature standardisation fitted on valid values: x = (s - mean) / std, 0 if invalid."""

    mean: np.ndarray  # [F] float64
    std: np.ndarray  # [F] float64, at least 1e-6

    @classmethod
    def fit(cls, states: np.ndarray, valid: np.ndarray) -> Normaliser:
        values = np.where(valid, states.astype(np.float64), 0.0)  # [T, F]
        counts = np.maximum(valid.sum(axis=0), 1)  # [F]
        mean = values.sum(axis=0) / counts
        centred = np.where(valid, states.astype(np.float64) - mean, 0.0)
        std = np.sqrt((centred**2).sum(axis=0) / counts)
        return cls(mean=mean, std=np.maximum(std, 1e-6))

    def transform(self, states: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Standardised states x[T, F] float32, 0 where a value is missing."""
        standard = (states.astype(np.float64) - self.mean) / self.std
        return np.where(valid, standard, 0.0).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normaliser:
        return cls(mean=np.asarray(data["mean"], dtype=np.float64),
                   std=np.asarray(data["std"], dtype=np.float64))


class LinearReward(nn.Module):
    """r(s, a) = w . x + b[a] (+ W[a] . x): the interpretable head."""

    def __init__(self, n_features: int, n_actions: int, *, action_terms: str = "bias") -> None:
        super().__init__()
        if action_terms not in ACTION_TERMS:
            raise ValueError(f"action_terms must be one of {ACTION_TERMS}, got {action_terms!r}")
        self.n_actions = n_actions
        self.action_terms = action_terms
        self.weight = nn.Parameter(torch.zeros(n_features))  # w[F]
        self.action_bias = nn.Parameter(torch.zeros(n_actions),
                                        requires_grad=action_terms != "none")  # b[A]
        self.action_weight = nn.Parameter(torch.zeros(n_actions, n_features),
                                          requires_grad=action_terms == "full")  # W[A, F]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rewards = (x @ self.weight)[:, None] + self.action_bias[None, :]  # r[N, A]
        if self.action_terms == "full":
            rewards = rewards + x @ self.action_weight.T
        return rewards


class MLPReward(nn.Module):
    """A small two-layer network: r[N, A], state-only when ``action_terms == "none"``."""

    def __init__(self, n_features: int, n_actions: int, *, hidden: int = 32,
                 action_terms: str = "full") -> None:
        super().__init__()
        if action_terms not in ACTION_TERMS:
            raise ValueError(f"action_terms must be one of {ACTION_TERMS}, got {action_terms!r}")
        self.n_actions = n_actions
        self.action_terms = action_terms
        outputs = 1 if action_terms == "none" else n_actions
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(),
                                 nn.Linear(hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rewards = self.net(x)  # [N, 1] or [N, A]
        return rewards.expand(-1, self.n_actions) if rewards.shape[1] == 1 else rewards


def build_reward_head(kind: str, n_features: int, n_actions: int, *,
                      action_terms: str = "bias", hidden: int = 32) -> nn.Module:
    """Create a head by name; the same arguments rebuild it when a model is loaded."""
    if kind == "linear":
        return LinearReward(n_features, n_actions, action_terms=action_terms)
    if kind == "mlp":
        return MLPReward(n_features, n_actions, hidden=hidden, action_terms=action_terms)
    raise ValueError(f"reward head must be one of {HEAD_KINDS}, got {kind!r}")


def fit_linear_readout(x: np.ndarray, rewards: np.ndarray, *, ridge: float = 1e-3
                       ) -> dict[str, Any]:
    """Least-squares r(s, a) ~ w . x(s) + b[a] over all (state, action) pairs.

    ``x`` is x[N, F], ``rewards`` r[N, A]. Returns the weights, the per-action bias and the
    share of reward variance the linear head explains (R^2), which tells a reader how far a
    per-feature explanation of a non-linear reward can be trusted.
    """
    n_steps, n_features = x.shape
    n_actions = rewards.shape[1]
    design = np.zeros((n_steps * n_actions, n_features + n_actions))  # [N*A, F+A]
    design[:, :n_features] = np.repeat(x.astype(np.float64), n_actions, axis=0)
    design[np.arange(n_steps * n_actions), n_features + np.tile(np.arange(n_actions),
                                                                 n_steps)] = 1.0
    target = rewards.astype(np.float64).reshape(-1)  # [N*A]
    gram = design.T @ design + ridge * np.eye(design.shape[1])
    coef = np.linalg.solve(gram, design.T @ target)
    fitted = design @ coef
    total = float(((target - target.mean()) ** 2).sum())
    residual = float(((target - fitted) ** 2).sum())
    explained = 1.0 - residual / total if total > 0 else 1.0
    return {"weights": coef[:n_features], "action_bias": coef[n_features:],
            "explained_variance": explained}
