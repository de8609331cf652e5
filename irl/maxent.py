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

Optimiser. With a linear head (r = Psi theta, linear in the parameters) and a finite horizon,
the MCE problem has a convex dual (Ziebart 2010, ch. 9; Ziebart, Bagnell and Dey 2010, eq. 8)

    f(theta) = E_{s0 ~ p0}[V_0(s0)] - sum_{s,a} D_demo[s, a] r_theta(s, a),
    grad f   = sum_{s,a} (D_theta[s, a] - D_demo[s, a]) d r_theta(s, a) / d theta,

because d E_p0 V_0 / d r(s, a) is exactly the model's visitation D_theta. f is smooth and
convex, so a quasi-Newton method (L-BFGS with a strong-Wolfe line search, Nocedal and Wright
2006, alg. 7.5) reaches a tight gap in tens of evaluations where first-order steps need
hundreds. Each evaluation is one backward and one forward pass, over successor lists when
P is sparse (:class:`irl.soft_bellman.SparseTransitions`). Other heads, and the discounted
stationary case (whose truncated-demonstration gradient is not the gradient of one
function), use Adam on the surrogate below.

On fused data the states are continuous, so :func:`fit_on_steps` first builds a finite
abstraction (:mod:`irl.tabular`): k-means clusters of standardised states and a smoothed
empirical transition model; the reward head is a function of features, evaluated on the
cluster centroids during fitting and on each step's own features when scoring. A
participant plans one stationary discounted problem over a whole session, and every step
they take is a start of it, so there the fit maximises the causal likelihood of every
demonstrated action, sum_t log pi_theta(a_t | s_t), under the discounted soft-optimal
policy (maximum-likelihood IRL, Babes-Vroman, Marivate, Subramanian and Littman 2011; the
infinite-horizon MCE policy, Bloem and Bambos 2014). Its gradient is one backward pass and
one forward pass of the residual C[s, a] - N[s] pi(a|s) (:func:`irl.soft_bellman.
discounted_flow`), so it runs under L-BFGS for any head.

Public API::

    mce_irl(mdp, demos, *, head, gamma=None, horizon=None, lr=0.1, iterations=300,
            tol=1e-4, l2=0.0, optimiser="auto", progress=False) -> MaxEntFit
    fit_action_likelihood(mdp, action_counts[S, A], *, head, gamma, iterations=300,
                          tol=1e-7, l2=0.0, l2_action=None, progress=False,
                          on_progress=None) -> MaxEntFit
    step_abstraction(x[T, F], actions[T], episode[T], *, n_actions, n_clusters,
                     smoothing=1.0, seed=0, session=None) -> (TabularMDP, centroids, labels)
    fit_on_steps(x[T, F], actions[T], episode[T], *, n_actions, head, gamma, n_clusters,
                 smoothing=1.0, seed=0, l2=0.003, l2_action=0.3, session=None,
                 on_progress=None, ...)
                 -> MaxEntFit (with .centroids and .mdp)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from irl import distributed
from irl.minibatch import ProgressCallback
from irl.rewards import LinearReward
from irl.soft_bellman import (
    SoftValues,
    compact_transitions,
    discounted_flow,
    soft_value_iteration,
    state_action_occupancy,
)
from irl.tabular import Demonstrations, TabularMDP, empirical_mdp, kmeans

log = logging.getLogger(__name__)

# Gaussian priors of maxent on fused steps: standardised weights, and per-action biases
# (stronger: see fit_on_steps for why). Tuned on the simulations of irl.simulate.
L2_WEIGHTS = 0.003
L2_ACTION = 0.3


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


class _EvaluationCache:
    """L-BFGS re-evaluates the point it stands on at every step: answer those from memory.

    ``recall`` returns the objective (and restores the gradients) when the parameters are
    where the last evaluation left them, else ``None``; ``remember`` stores a new evaluation.
    """

    def __init__(self, trained: list[torch.Tensor]) -> None:
        self.trained = trained
        self.point: torch.Tensor | None = None
        self.pending: torch.Tensor | None = None
        self.objective = torch.tensor(0.0, dtype=torch.float64)
        self.grads: list[torch.Tensor] = []

    def recall(self) -> torch.Tensor | None:
        point = torch.cat([p.detach().reshape(-1) for p in self.trained])
        if self.point is not None and torch.equal(point, self.point):
            for parameter, grad in zip(self.trained, self.grads, strict=True):
                parameter.grad = grad.clone()
            return self.objective
        self.pending = point
        return None

    def remember(self, objective: torch.Tensor) -> None:
        self.point, self.objective = self.pending, objective
        self.grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                      for p in self.trained]

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
    optimiser: str = "auto",
    progress: bool = False,
) -> MaxEntFit:
    """Fit ``head`` (features[S, F] -> r[S, A]) by MCE IRL on a known tabular MDP.

    Discounted (``gamma`` in [0, 1), stationary policy) or finite horizon (``horizon``,
    time-dependent policy, optionally discounted by ``gamma``). Stops when the Euclidean
    norm of the per-feature visitation gap, relative to the demonstrated mass, falls below
    ``tol``, or after ``iterations`` evaluations (one backward and one forward pass each).
    ``optimiser`` is "lbfgs" (linear head and finite horizon only), "adam", or "auto" (L-BFGS
    where it applies). The curve records the mean demonstrated-action NLL and the gap.
    """
    if optimiser not in ("auto", "lbfgs", "adam"):
        raise ValueError(f"optimiser must be auto, lbfgs or adam, got {optimiser!r}")
    convex = isinstance(head, LinearReward) and horizon is not None
    if optimiser == "lbfgs" and not convex:
        raise ValueError("the L-BFGS dual needs a linear head and a finite horizon")
    use_lbfgs = convex and optimiser != "adam"
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

    transitions = compact_transitions(mdp.transitions)
    if use_lbfgs:
        return _mce_irl_lbfgs(head, inputs, transitions, mdp.initial, demo_occupancy,
                              weights, state_features, action_counts, n_counted,
                              horizon=int(horizon), gamma=gamma, iterations=iterations,
                              tol=tol, l2=l2, progress=progress)
    adam = torch.optim.Adam(head.parameters(), lr=lr)
    curve: list[dict[str, float]] = []
    values: SoftValues | None = None
    bar = tqdm(range(iterations), desc="maxent", disable=None if progress else True,
               leave=False)
    for iteration in bar:
        rewards = head(inputs)  # r[S, A]
        values = soft_value_iteration(rewards.detach().to(torch.float64), transitions,
                                      gamma=gamma, horizon=horizon)
        model_occupancy = state_action_occupancy(values.policy, transitions, mdp.initial,
                                                 step_weights=weights)  # D_theta[s, a]
        model_occupancy = model_occupancy * (demo_mass / float(model_occupancy.sum()))
        gap_per_feature = state_features.T @ model_occupancy.sum(dim=1) - demo_feature
        gap = float(gap_per_feature.norm()) / max(demo_mass, 1e-12)
        nll = -float((action_counts * values.log_policy).sum()) / max(n_counted, 1.0)
        curve.append({"iteration": float(iteration), "nll": nll, "gap": gap})
        bar.set_postfix(nll=f"{curve[-1]['nll']:.4f}", gap=f"{gap:.1e}")
        if gap < tol:
            break
        surrogate = ((model_occupancy - demo_occupancy).to(rewards.dtype) * rewards).sum()
        if l2 > 0:
            surrogate = surrogate + l2 * sum((p**2).sum() for p in head.parameters())
        adam.zero_grad()
        surrogate.backward()
        adam.step()
    assert values is not None
    return MaxEntFit(head=head, values=values, curve=curve)


def _mce_irl_lbfgs(head: nn.Module, inputs: torch.Tensor, transitions, initial: torch.Tensor,
                   demo_occupancy: torch.Tensor, weights: torch.Tensor,
                   state_features: torch.Tensor, action_counts: torch.Tensor,
                   n_counted: float, *, horizon: int, gamma: float | None, iterations: int,
                   tol: float, l2: float, progress: bool) -> MaxEntFit:
    """Minimise the convex dual f(theta) (module docstring) by L-BFGS, in float64.

    Every evaluation of f and its gradient is one soft backward pass (which gives
    E_p0 V_0) and one forward pass (D_theta); the head is restored to its own dtype after.
    """
    dtype = next(head.parameters()).dtype
    head.to(torch.float64)
    inputs64 = inputs.to(torch.float64)
    demo_mass = float(demo_occupancy.sum())
    demo_feature = state_features.T @ demo_occupancy.sum(dim=1)  # [F]
    lbfgs = torch.optim.LBFGS([p for p in head.parameters() if p.requires_grad], lr=1.0,
                              max_iter=1, history_size=20, line_search_fn="strong_wolfe",
                              tolerance_grad=0.0, tolerance_change=0.0)
    curve: list[dict[str, float]] = []
    latest: dict[str, object] = {}
    bar = tqdm(total=iterations, desc="maxent", disable=None if progress else True,
               leave=False)

    trained = [p for p in head.parameters() if p.requires_grad]
    cache = _EvaluationCache(trained)

    def evaluate() -> torch.Tensor:
        remembered = cache.recall()
        if remembered is not None:
            return remembered
        lbfgs.zero_grad()
        rewards = head(inputs64)  # r[S, A]
        values = soft_value_iteration(rewards.detach(), transitions, gamma=gamma,
                                      horizon=horizon)
        model_occupancy = state_action_occupancy(values.policy, transitions, initial,
                                                 step_weights=weights)  # D_theta[s, a]
        gap_per_feature = state_features.T @ model_occupancy.sum(dim=1) - demo_feature
        gap = float(gap_per_feature.norm()) / max(demo_mass, 1e-12)
        log_partition = float(initial @ values.V[0])  # E_p0 V_0
        objective = log_partition - float((demo_occupancy * rewards.detach()).sum())
        surrogate = ((model_occupancy - demo_occupancy) * rewards).sum()
        if l2 > 0:
            penalty = l2 * sum((p**2).sum() for p in head.parameters() if p.requires_grad)
            surrogate = surrogate + penalty
            objective += float(penalty.detach())
        surrogate.backward()
        nll = -float((action_counts * values.log_policy).sum()) / max(n_counted, 1.0)
        curve.append({"iteration": float(len(curve)), "nll": nll, "gap": gap,
                      "objective": objective})
        latest.update(values=values, gap=gap)
        bar.update(1)
        bar.set_postfix(nll=f"{nll:.4f}", gap=f"{gap:.1e}")
        result = torch.tensor(objective, dtype=torch.float64)
        cache.remember(result)
        return result

    evaluate()
    while float(latest["gap"]) >= tol and len(curve) < iterations:  # type: ignore[arg-type]
        lbfgs.step(evaluate)
    bar.close()
    head.to(dtype)
    values = latest["values"]
    assert isinstance(values, SoftValues)
    return MaxEntFit(head=head, values=values, curve=curve)


def fit_action_likelihood(mdp: TabularMDP, action_counts: torch.Tensor, *, head: nn.Module,
                          gamma: float, iterations: int = 300, tol: float = 1e-7,
                          l2: float = 0.0, l2_action: float | None = None,
                          features: torch.Tensor | None = None,
                          progress: bool = False,
                          on_progress: ProgressCallback | None = None) -> MaxEntFit:
    """Fit ``head`` so that the discounted soft-optimal policy explains every demonstrated
    action: minimise -(1/n) sum_{s,a} C[s, a] log pi_theta(a|s) + l2 |theta|^2 by L-BFGS.

    ``action_counts`` C[s, a] counts demonstrated actions at every visited step, all of them
    starts of the participant's stationary discounted problem. Gradient by the adjoint of the
    soft backup (:func:`irl.soft_bellman.discounted_flow`) fed with C - N pi.

    ``on_progress`` (process 0 only) receives one dict per new evaluation, as the curve
    grows: ``{"algo": "maxent", "step": evaluations so far, "total": iterations (a cap;
    the fit usually stops earlier), "loss": the mean demonstrated-action NLL, "metric":
    "nll"}``.
    """
    dtype = next(head.parameters()).dtype
    head.to(torch.float64)
    inputs64 = (mdp.features if features is None else features).to(torch.float64)  # [S, F]
    transitions = compact_transitions(mdp.transitions)
    counts = action_counts.to(torch.float64)  # C[s, a]
    visits = counts.sum(dim=1, keepdim=True)  # N[s, 1]
    n_counted = max(float(counts.sum()), 1.0)
    state_features = mdp.features.to(torch.float64)
    trained = [p for p in head.parameters() if p.requires_grad]
    named = list(head.named_parameters())
    l2_action = l2 if l2_action is None else l2_action

    def fresh_lbfgs() -> torch.optim.LBFGS:
        return torch.optim.LBFGS(trained, lr=1.0, max_iter=1, history_size=20,
                                 line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                 tolerance_change=0.0)

    lbfgs = fresh_lbfgs()
    curve: list[dict[str, float]] = []
    latest: dict[str, object] = {}
    cache = _EvaluationCache(trained)
    bar = tqdm(total=iterations, desc="maxent", disable=None if progress else True,
               leave=False)
    report = on_progress if distributed.rank() == 0 else None

    def evaluate() -> torch.Tensor:
        remembered = cache.recall()
        if remembered is not None:
            return remembered
        lbfgs.zero_grad()
        rewards = head(inputs64)  # r[S, A]
        values = soft_value_iteration(rewards.detach(), transitions, gamma=gamma,
                                      tol=1e-10)
        nll = -float((counts * values.log_policy).sum()) / n_counted
        flow = discounted_flow(counts - visits * values.policy, values.policy, transitions,
                               gamma=gamma)  # dL/dr[s, a]
        surrogate = -(flow * rewards).sum() / n_counted
        objective = nll
        if l2 > 0 or l2_action > 0:
            penalty = sum(((l2_action if name == "action_bias" else l2) * (p**2)).sum()
                          for name, p in named if p.requires_grad)
            surrogate = surrogate + penalty
            objective += float(penalty.detach())
        surrogate.backward()
        gap = float((state_features.T @ flow.sum(dim=1)).norm()) / n_counted
        curve.append({"iteration": float(len(curve)), "nll": nll, "gap": gap,
                      "objective": objective})
        latest.update(values=values)
        bar.update(1)
        bar.set_postfix(nll=f"{nll:.4f}", gap=f"{gap:.1e}")
        if report is not None:
            report({"algo": "maxent", "step": len(curve), "total": iterations, "loss": nll,
                    "metric": "nll"})
        result = torch.tensor(objective, dtype=torch.float64)
        cache.remember(result)
        return result

    current = float(evaluate())
    restarted = False
    while len(curve) < iterations:
        lbfgs.step(evaluate)
        # The line search may end on a point it evaluated earlier: re-read the accepted one.
        accepted = float(evaluate())
        if current - accepted >= tol * max(1.0, abs(current)):
            current, restarted = accepted, False
            continue
        if restarted:
            break
        # The objective is not convex and the line search can give up on a stale curvature
        # history: take one backtracking steepest-descent step (Armijo) and restart L-BFGS.
        lbfgs, restarted = fresh_lbfgs(), True
        current = accepted
        start = [p.detach().clone() for p in trained]
        cache_start = current
        descent = [p.grad.detach().clone() for p in trained]  # type: ignore[union-attr]
        slope = float(sum((g**2).sum() for g in descent))
        step = 1.0
        while step > 1e-6 and len(curve) < iterations:
            with torch.no_grad():
                for p, origin, grad in zip(trained, start, descent, strict=True):
                    p.copy_(origin - step * grad)
            trial = float(evaluate())
            if trial <= current - 1e-4 * step * slope:
                # Continue only if the step still buys more than the tolerance.
                restarted = current - trial < tol * max(1.0, abs(current))
                current = trial
                break
            step /= 4.0
        if restarted:
            if float(evaluate()) > float(cache_start):
                with torch.no_grad():
                    for p, origin in zip(trained, start, strict=True):
                        p.copy_(origin)
                evaluate()
            break
    bar.close()
    head.to(dtype)
    values = latest["values"]
    assert isinstance(values, SoftValues)
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


def step_abstraction(x: np.ndarray, actions: np.ndarray, episode: np.ndarray, *,
                     n_actions: int, n_clusters: int, smoothing: float = 1.0, seed: int = 0,
                     session: np.ndarray | None = None
                     ) -> tuple[TabularMDP, np.ndarray, np.ndarray]:
    """The finite abstraction of fused steps maxent fits on: the MDP over k-means clusters of
    ``x[T, F]`` with its smoothed empirical transitions, ``centroids[k, F]`` and ``labels[T]``.

    With ``session``, moves count across episode ends within a session (see
    :func:`fit_on_steps`); the start distribution counts each episode's first step.
    """
    centroids, labels = kmeans(x, n_clusters, seed=seed)  # [k, F], [T]
    n_states = centroids.shape[0]
    # Without sessions, episodes may be independent rollouts: moves stay within them.
    continuing = episode if session is None else np.asarray(session)
    transitions, _ = empirical_mdp(labels, actions, continuing, n_states=n_states,
                                   n_actions=n_actions, smoothing=smoothing)
    _, initial = empirical_mdp(labels, actions, episode, n_states=n_states,
                               n_actions=n_actions, smoothing=smoothing)
    return TabularMDP(transitions, initial, torch.from_numpy(centroids)), centroids, labels


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
    tol: float = 1e-6,
    l2: float = L2_WEIGHTS,
    l2_action: float | None = L2_ACTION,
    session: np.ndarray | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> MaxEntFit:
    """MCE IRL on fused steps: cluster, build the empirical MDP, fit the head on centroids.

    ``x`` is x[T, F] standardised states of this process's episodes, ``actions`` a[T]
    (-1 where none), ``episode`` e[T], ``session`` s[T] (optional). A participant plans one
    stationary discounted problem over a whole session, not one per content item, so:

    - with ``session``, moves are counted across episode (content item) ends within a
      session; otherwise ``click``, the action that ends an item, never has a counted move
      and its row is pure smoothing (without ``session`` episodes may be independent
      rollouts, so moves stay within them);
    - every demonstrated step is a start: the fit maximises the causal likelihood of all
      demonstrated actions under the discounted soft-optimal policy
      (:func:`fit_action_likelihood`) instead of matching visitation discounted from each
      item's first step, which used only the first few steps of each item and was not the
      gradient of any objective (the demonstrations' NLL rose while it ran);
    - ``l2`` is a Gaussian prior on the standardised weights and ``l2_action`` a stronger
      one on the per-action biases: the clusters hide part of the latent state (an item's
      relevance and progress), and the unregularised optimum absorbs that hidden state in
      large action biases (read +4, click -3 on a simulation whose true biases are 0 and
      -0.3) while turning the truly rewarded features' weights negative.
    ``lr`` is kept for the MLP head's compatibility and unused by L-BFGS. ``on_progress``
    gets one dict per evaluation (:func:`fit_action_likelihood`).
    """
    mdp, centroids, labels = step_abstraction(x, actions, episode, n_actions=n_actions,
                                              n_clusters=n_clusters, smoothing=smoothing,
                                              seed=seed, session=session)
    demos = steps_to_demonstrations(labels, actions, episode)
    counts, _ = _demo_action_counts(demos, mdp.n_states, n_actions, None)  # C[s, a], all ranks
    fit = fit_action_likelihood(mdp, counts, head=head, gamma=gamma, iterations=iterations,
                                tol=tol, l2=l2, l2_action=l2_action, progress=progress,
                                on_progress=on_progress)
    fit.mdp, fit.centroids, fit.labels = mdp, centroids, labels
    return fit
