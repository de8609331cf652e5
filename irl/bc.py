"""Behaviour cloning: the baseline every IRL result is compared with (Pomerleau 1991).

A classifier pi(a | s) = softmax(f(x(s)))[a] fitted by cross-entropy on the demonstrated
(state, action) pairs, with no model of dynamics or of reward. To put it in the same
recovery tables as the IRL methods, its "reward" is log pi(a | s): under the MaxEnt model
log pi = Q - V is the soft advantage, which equals the reward only when the future does not
matter (gamma = 0). The gap between BC's and IRL's recovery therefore measures what modelling
the consequences of actions buys.

Public API::

    fit_bc(x[T, F], actions[T], *, n_actions, seed, head="mlp", epochs=..., ...) -> BCFit
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from irl.minibatch import ProgressCallback, train_minibatches
from irl.rewards import build_reward_head

log = logging.getLogger(__name__)


@dataclass
class BCFit:
    policy: nn.Module  # x[N, F] -> logits[N, A]
    curve: list[dict[str, float]]


def fit_bc(
    x: np.ndarray,
    actions: np.ndarray,
    *,
    n_actions: int,
    seed: int,
    head: str = "mlp",
    hidden: int = 64,
    epochs: int = 60,
    batch_size: int = 512,
    lr: float = 3e-3,
    weight_decay: float = 1e-5,
    stop_tol: float | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> BCFit:
    """Fit pi(a|s) by cross-entropy on the steps with a known action.

    ``on_progress`` gets one dict per epoch (:func:`irl.minibatch.train_minibatches`).
    """
    torch.manual_seed(seed)
    policy = build_reward_head(head, x.shape[1], n_actions, action_terms="full",
                               hidden=hidden)
    index = torch.from_numpy(np.flatnonzero(actions >= 0))  # [M]
    states = torch.from_numpy(x)
    acts = torch.from_numpy(actions)
    cross_entropy = nn.CrossEntropyLoss(reduction="sum")

    def batch_loss(model: nn.Module, items: torch.Tensor) -> torch.Tensor:
        steps = index[items]
        return cross_entropy(model(states[steps]), acts[steps])

    curve = train_minibatches(policy, batch_loss, int(index.shape[0]), epochs=epochs,
                              batch_size=batch_size, lr=lr, seed=seed,
                              weight_decay=weight_decay, progress=progress, desc="bc",
                              stop_tol=stop_tol, on_progress=on_progress)
    return BCFit(policy=policy, curve=curve)
