"""Offline inverse soft-Q learning (IQ-Learn; Garg, Chakraborty, Cundy, Song and Ermon 2021).

IQ-Learn learns a single soft Q function instead of a reward and a policy. With the
chi-squared regulariser (the paper's psi = chi^2, its recommended offline choice) and only
demonstrations, the objective to minimise over Q is (paper eq. 10 and its offline form)

    L(Q) = -E_D[ r_Q(s, a) - r_Q(s, a)^2 / (4 c) ] + E_D[ V(s) - gamma V(s') ]
    r_Q(s, a) = Q(s, a) - gamma V(s'),    V(s) = tau log sum_a exp(Q(s, a) / tau)

over demonstrated transitions (s, a, s'). The policy is softmax(Q / tau) and the reward is
read out as r(s, a) = Q(s, a) - gamma E_{s'|s,a} V(s'). Offline, E V(s') is only seen for
the action taken, so a second head g(s, a) is regressed on V(s') of the demonstrated next
state; the read-out r = Q - gamma g is then defined for every action. A participant plans
one problem over a whole session, so with ``session`` a step's next state is the session's
next step even where the content item (the fused episode) changes: otherwise ``click``, the
action that ends an item, would never be seen with its consequence and its Q would only ever
be pushed down (on the 10 x 30 minute simulation, EPIC 0.65 with item ends as truncation,
0.58 across them). Only a session's last step has no next state and is left out.

States are continuous (standardised fused features), actions discrete. An interpretable
linear-in-features head is fitted to the read-out afterwards (:func:`irl.rewards.
fit_linear_readout`), with the share of reward variance it explains.

Public API::

    IQNetworks(n_features, n_actions, *, hidden=64)
    transitions_of(actions[T], episode[T]) -> index[M] of steps with a next step
    fit_iq(x[T, F], actions[T], episode[T], *, n_actions, gamma, seed, session=None,
           epochs=..., ...)
        -> IQFit(networks, curve)
    read_out_reward(networks, x[N, F], *, gamma) -> r[N, A]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from irl.minibatch import ProgressCallback, train_minibatches

log = logging.getLogger(__name__)


class IQNetworks(nn.Module):
    """Soft Q network Q(s, .) and next-value head g(s, .), both [N, A] from x[N, F]."""

    def __init__(self, n_features: int, n_actions: int, *, hidden: int = 64) -> None:
        super().__init__()
        self.q = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(),
                               nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_actions))
        self.next_value = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(),
                                        nn.Linear(hidden, n_actions))

    def forward(self, x: torch.Tensor, x_next: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q(s, .)[N, A], Q(s', .)[N, A] and g(s, .)[N, A] in one call (one DDP step)."""
        return self.q(x), self.q(x_next), self.next_value(x)


@dataclass
class IQFit:
    networks: IQNetworks
    curve: list[dict[str, float]]


def transitions_of(actions: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Steps t with a known action whose next step t+1 is in the same episode: index[M].

    Pass session ids as ``episode`` to let moves cross item ends within a session.
    """
    if len(actions) < 2:
        return np.zeros(0, dtype=np.int64)
    has_next = np.r_[episode[1:] == episode[:-1], False]
    return np.flatnonzero(has_next & (actions >= 0))


def soft_value(q: torch.Tensor, temperature: float) -> torch.Tensor:
    """V(s) = tau log sum_a exp(Q(s, a) / tau): [N]."""
    return temperature * torch.logsumexp(q / temperature, dim=1)


def fit_iq(
    x: np.ndarray,
    actions: np.ndarray,
    episode: np.ndarray,
    *,
    n_actions: int,
    gamma: float,
    seed: int,
    session: np.ndarray | None = None,
    epochs: int = 60,
    batch_size: int = 512,
    lr: float = 3e-3,
    hidden: int = 64,
    chi2_scale: float = 0.5,
    temperature: float = 1.0,
    weight_decay: float = 1e-5,
    stop_tol: float | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> IQFit:
    """Fit IQ-Learn's soft Q (and the next-value head) on demonstrated transitions.

    ``x`` is x[T, F] standardised states, ``actions`` a[T] (-1 where none), ``episode``
    e[T], ``session`` s[T] (optional: moves then cross item ends within a session; without
    it episodes may be independent rollouts and moves stay within them). ``chi2_scale`` is
    c in the r^2 / (4 c) penalty (the paper's alpha = 0.5).
    ``on_progress`` gets one dict per epoch (:func:`irl.minibatch.train_minibatches`).
    """
    torch.manual_seed(seed)
    networks = IQNetworks(x.shape[1], n_actions, hidden=hidden)
    index = transitions_of(actions, episode if session is None else session)  # [M]
    states = torch.from_numpy(x)  # x[T, F]
    acts = torch.from_numpy(actions)

    def batch_loss(model: nn.Module, items: torch.Tensor) -> torch.Tensor:
        steps = torch.from_numpy(index)[items]  # [b]
        q_now, q_next, g_now = model(states[steps], states[steps + 1])  # each [b, A]
        taken = acts[steps][:, None]
        v_now = soft_value(q_now, temperature)  # [b]
        v_next = soft_value(q_next, temperature)  # [b]
        reward = q_now.gather(1, taken)[:, 0] - gamma * v_next  # r_Q(s, a) [b]
        iq_terms = -(reward - reward**2 / (4.0 * chi2_scale)) + (v_now - gamma * v_next)
        regression = (g_now.gather(1, taken)[:, 0] - v_next.detach()) ** 2
        return (iq_terms + regression).sum()

    curve = train_minibatches(networks, batch_loss, int(index.shape[0]), epochs=epochs,
                              batch_size=batch_size, lr=lr, seed=seed,
                              weight_decay=weight_decay, progress=progress, desc="iq",
                              stop_tol=stop_tol, on_progress=on_progress)
    return IQFit(networks=networks, curve=curve)


@torch.no_grad()
def read_out_reward(networks: IQNetworks, x: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """r(s, a) = Q(s, a) - gamma E V(s') with E V(s') from the next-value head: [N, A]."""
    # Shortcoming: chi^2 picks the least-norm member of r's shaping class; EPIC keeps it.
    return networks.q(x) - gamma * networks.next_value(x)
