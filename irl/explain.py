"""Explaining a learned reward well enough that a researcher can trust or reject it.

Five views of one reward model on one dataset:

- **Feature weights** (``feature_weights``): the linear description r(s) ~ w . x + b of the
  model's reward over standardised features x (the model's own normalisation), with 95 %
  percentile intervals from a bootstrap over *episodes* (Efron & Tibshirani 1993, ch. 13;
  resampling whole episodes keeps the dependence between steps of one episode). The reward
  described is the action-average of r(s, a), whose least-squares weights equal those of
  r(s, a) = w . x + b_a. With a ``refit`` function the reward is retrained per resample, so
  the intervals include training variability (costly: one training per resample); without,
  they say only how stable the description of the fixed model is across episodes.
  ``r_squared`` says how much of the reward the linear description explains.
- **Modality shares** (``modality_shares``): mean |contribution| of the vision, behaviour and
  content features to the linear reward, as shares summing to one.
- **Timeline** (``reward_timeline``): the reward along one session beside engagement E.
- **Drift** (``reward_drift``): the reward fitted in consecutive windows of session time
  (pooled over sessions). By default each boundary is a likelihood-ratio test of one linear
  MaxEnt reward for both neighbouring windows against one each, on a shared finite
  abstraction, flagged where its chi-squared p-value passes a Bonferroni-corrected level
  and it is a local peak. The older ``method="refit"`` compares any learner's refits by EPIC
  distance (Gleave et al. 2021) with a robust z-score; on five-minute windows those refits
  proved too noisy to find a drift that the likelihood ratio finds.
- **Horizon sensitivity** (``horizon_sensitivity``): the same data refitted under a short and
  a long discount; short-term engagement is not long-term value, so a reward that changes a
  lot with the horizon is a finding, not noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fusion.dataset import MODALITIES, FusedDataset
from irl.metrics import epic_distance
from irl.model_io import RewardModel
from sensing.errors import EngageError

log = logging.getLogger(__name__)

RIDGE = 1e-3


class ExplainError(EngageError):
    """An explanation was asked of data that cannot support it."""


@dataclass
class FeatureWeights:
    """Per-feature weights on standardised features with bootstrap intervals, each [F]."""

    names: tuple[str, ...]
    modalities: tuple[str, ...]
    weights: np.ndarray
    low: np.ndarray
    high: np.ndarray
    intercept: float
    r_squared: float
    n_boot: int
    n_episodes: int
    refitted: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """One dict per feature, largest |weight| first."""
        order = np.argsort(-np.abs(self.weights), kind="stable")
        return [{"feature": self.names[i], "modality": self.modalities[i],
                 "weight": float(self.weights[i]), "low": float(self.low[i]),
                 "high": float(self.high[i]),
                 "excludes_zero": bool(self.low[i] > 0 or self.high[i] < 0),
                 "outside": bool(self.weights[i] < self.low[i] or self.weights[i] > self.high[i])}
                for i in order]


def state_rewards(model: RewardModel, dataset: FusedDataset) -> tuple[np.ndarray, np.ndarray]:
    """Standardised states ``x[T, F]`` and the action-averaged model reward ``r[T]``."""
    x = model.standardise(dataset).numpy().astype(np.float64)
    rewards = model.rewards_of(model.standardise(dataset)).numpy().astype(np.float64)
    return x, rewards.mean(axis=1)


def _episode_statistics(x: np.ndarray, r: np.ndarray, episode: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-episode sufficient statistics of least squares with an intercept.

    Returns ``xtx[E, F+1, F+1]``, ``xty[E, F+1]`` and ``yy[E]`` so any bootstrap sample of
    episodes is solved from count-weighted sums, without touching the steps again.
    """
    design = np.hstack([x, np.ones((x.shape[0], 1))])  # [T, F+1]
    _, dense = np.unique(episode, return_inverse=True)
    n_episodes = int(dense.max()) + 1
    width = design.shape[1]
    xtx = np.zeros((n_episodes, width, width))
    xty = np.zeros((n_episodes, width))
    yy = np.zeros(n_episodes)
    np.add.at(xtx, dense, design[:, :, None] * design[:, None, :])
    np.add.at(xty, dense, design * r[:, None])
    np.add.at(yy, dense, r * r)
    return xtx, xty, yy


def _solve(xtx: np.ndarray, xty: np.ndarray) -> np.ndarray:
    width = xtx.shape[-1]
    penalty = RIDGE * np.eye(width)
    penalty[-1, -1] = 0.0  # never shrink the intercept
    return np.linalg.solve(xtx + penalty, xty)


def fit_linear(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Ridge-stabilised least squares r ~ w . x + b: weights [F], intercept, R^2."""
    design = np.hstack([x, np.ones((x.shape[0], 1))])
    coef = _solve(design.T @ design, design.T @ r)
    residual = r - design @ coef
    variance = float(np.var(r))
    r_squared = 1.0 - float(np.var(residual)) / variance if variance > 0 else 1.0
    return coef[:-1], float(coef[-1]), r_squared


def resample_episodes(dataset: FusedDataset, rng: np.random.Generator) -> FusedDataset:
    """A bootstrap sample of whole episodes (with replacement), renumbered to stay unique."""
    slices = list(dataset.episodes())
    picked = rng.integers(0, len(slices), len(slices))
    index = np.concatenate([np.arange(slices[k].start, slices[k].stop) for k in picked])
    part = dataset.select(index)
    part.episode = np.repeat(np.arange(len(picked)),
                             [slices[k].stop - slices[k].start for k in picked])
    return part


def feature_weights(model: RewardModel, dataset: FusedDataset, *, n_boot: int = 200,
                    seed: int = 0, refit: Refit | None = None,
                    n_refits: int = 20) -> FeatureWeights:
    """Linear description of the model's reward with 95 % episode-bootstrap intervals.

    Without ``refit`` the intervals resample episodes for the linear description of the
    fixed model (zero width when the model is itself linear). With ``refit`` the reward is
    retrained on ``n_refits`` episode resamples and each retrained reward described on the
    same standardised states, on its own scale: the soft-optimal models behind every learner
    here fix the reward's scale through their temperature (a greedier participant has a larger
    reward), so a refit's size is part of what the data say. Rescaling each refit to the model's
    norm, as earlier versions did, shrank the weights the refits agree on whenever they
    disagreed elsewhere, and left full-data weights outside their own intervals.
    """
    x, r = state_rewards(model, dataset)
    weights, intercept, r_squared = fit_linear(x, r)
    n_episodes = len(np.unique(dataset.episode))
    rng = np.random.default_rng(seed)
    if refit is not None and n_episodes > 1:
        samples = np.empty((n_refits, x.shape[1]))
        for b in range(n_refits):
            refitted = refit(resample_episodes(dataset, rng), model.gamma)
            samples[b] = fit_linear(x, refitted.score_actions(dataset).mean(axis=1))[0]
        n_boot = n_refits
    else:
        xtx, xty, _ = _episode_statistics(x, r, dataset.episode)
        samples = np.empty((n_boot, x.shape[1]))
        for b in range(n_boot):
            counts = np.bincount(rng.integers(0, n_episodes, n_episodes),
                                 minlength=n_episodes)
            samples[b] = _solve(np.einsum("e,eij->ij", counts, xtx),
                                np.einsum("e,ei->i", counts, xty))[:-1]
    low, high = np.percentile(samples, [2.5, 97.5], axis=0) if n_episodes > 1 else (
        weights.copy(), weights.copy())
    if n_episodes < 10:
        log.warning("only %d episodes: bootstrap intervals are unreliable", n_episodes)
    schema = dataset.schema
    return FeatureWeights(names=schema.feature_names,
                          modalities=tuple(schema.modality_of().tolist()), weights=weights,
                          low=low, high=high, intercept=intercept, r_squared=r_squared,
                          n_boot=n_boot, n_episodes=n_episodes,
                          refitted=refit is not None and n_episodes > 1)


def modality_shares(weights: FeatureWeights, x: np.ndarray) -> dict[str, float]:
    """Share of the linear reward from each modality: mean |sum_f in m w_f x_f|, normalised."""
    modalities = np.asarray(weights.modalities)
    magnitude = {}
    for modality in MODALITIES:
        mask = modalities == modality
        magnitude[modality] = float(np.mean(np.abs(x[:, mask] @ weights.weights[mask]))) \
            if mask.any() else 0.0
    total = sum(magnitude.values())
    return {m: (v / total if total > 0 else 0.0) for m, v in magnitude.items()}


@dataclass
class Timeline:
    """Reward and engagement along one session, each [T_session]."""

    session_id: str
    t_s: np.ndarray
    reward: np.ndarray
    engagement: np.ndarray | None
    actions: np.ndarray
    correlation: float | None


def engagement_of(dataset: FusedDataset) -> np.ndarray | None:
    """E per step: the ``engagement`` feature, else an ``engagement`` extra, else None."""
    if "engagement" in dataset.schema.feature_names:
        column = dataset.schema.feature_index("engagement")
        return np.where(dataset.valid[:, column], dataset.states[:, column], np.nan)
    if "engagement" in dataset.extras:
        return np.asarray(dataset.extras["engagement"], dtype=np.float64)
    return None


def reward_timeline(model: RewardModel, dataset: FusedDataset, *, session: int = 0) -> Timeline:
    """The model's reward of each step of session ``session`` beside engagement E."""
    if not 0 <= session < len(dataset.session_ids):
        raise ExplainError(f"session index {session} is not in the dataset "
                           f"(0..{len(dataset.session_ids) - 1})")
    part = dataset.select(dataset.session == session)
    reward = model.score(part)
    engagement = engagement_of(part)
    correlation = None
    if engagement is not None:
        ok = np.isfinite(engagement)
        if ok.sum() > 2 and np.std(engagement[ok]) > 0 and np.std(reward[ok]) > 0:
            correlation = float(np.corrcoef(reward[ok], engagement[ok])[0, 1])
    return Timeline(session_id=dataset.session_ids[session], t_s=part.t_s, reward=reward,
                    engagement=engagement, actions=part.actions, correlation=correlation)


Refit = Callable[[FusedDataset, float], RewardModel]


def algorithm_refit(algo: str, *, epochs: int | None = None, seed: int = 0) -> Refit:
    """A refit function: train ``algo`` on a part of the data at a given discount.

    Used for bootstrap intervals, drift windows and horizon sensitivity, so that the same
    learner that produced a model is the one whose variability is reported.
    """
    from irl.train import train

    def refit(part: FusedDataset, gamma: float) -> RewardModel:
        return train(part, algo=algo, gamma=gamma, seed=seed, epochs=epochs, progress=False)

    return refit


def iq_refit(*, epochs: int = 30, seed: int = 0) -> Refit:
    """A refit function: offline IQ-Learn (fast) on a part of the data at a discount."""
    return algorithm_refit("iq", epochs=epochs, seed=seed)


@dataclass
class DriftResult:
    """Windowed fits: window bounds in session seconds, change scores between neighbours.

    ``method`` is "likelihood" (``change_score`` is the likelihood-ratio statistic of one
    reward for both neighbours against one each, ``p_value`` its chi-squared tail) or
    "refit" (``change_score`` is the EPIC distance of the neighbours' refits, ``robust_z``
    its robust z-score; ``p_value`` is NaN).
    """

    window_s: float
    starts_s: np.ndarray           # [W]
    weights: np.ndarray            # [W, F] linear description of each window's reward
    change_score: np.ndarray       # [W-1] likelihood ratio, or EPIC distance (0..1)
    robust_z: np.ndarray           # [W-1]
    cosine_distance: np.ndarray    # [W-1] 1 - cosine of their linear descriptions
    change_points_s: list[float] = field(default_factory=list)  # boundaries flagged
    windows_steps: list[int] = field(default_factory=list)
    method: str = "refit"
    p_value: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [W-1]
    degrees_of_freedom: int = 0
    threshold: float = float("nan")  # the statistic whose p-value is the flagging level


DRIFT_METHODS = ("likelihood", "refit")


def _windows(dataset: FusedDataset, window_s: float | None, n_windows: int,
             min_steps: int) -> tuple[float, list[np.ndarray], list[float]]:
    """Masks [T] of the session-time windows with enough steps and two actions."""
    length = float(dataset.t_s.max()) if len(dataset) else 0.0
    window = window_s or length / n_windows
    if window <= 0:
        raise ExplainError("the dataset spans no time; drift needs at least two windows")
    masks, kept = [], []
    for start in np.arange(0.0, length, window):
        mask = (dataset.t_s > start) & (dataset.t_s <= start + window)
        if mask.sum() >= min_steps and len(np.unique(dataset.actions[mask & (
                dataset.actions >= 0)])) > 1:
            masks.append(mask)
            kept.append(float(start))
    if len(masks) < 2:
        raise ExplainError(f"drift needs at least two windows of {min_steps} steps; the data "
                           f"give {len(masks)} (use shorter windows or more data)")
    return window, masks, kept


def reward_drift(dataset: FusedDataset, *, window_s: float | None = None,
                 n_windows: int = 6, gamma: float = 0.9, method: str = "likelihood",
                 refit: Refit | None = None, alpha: float = 0.01,
                 n_clusters: int | None = None, seed: int = 0, min_score: float = 0.1,
                 z_threshold: float = 3.0, min_steps: int = 100) -> DriftResult:
    """Fit the reward in consecutive windows of session time and flag change points.

    Windows cut session time (pooled over sessions, since a drift in a study is expected at
    a similar point of each session). Two methods:

    - ``likelihood`` (default): one finite abstraction of the whole dataset (clusters and
      their transition model, as ``maxent`` builds it) and a linear MaxEnt reward fitted to
      each window's actions and to each pair of neighbours jointly. The statistic
      2 (log L_k + log L_k+1 - log L_joint) is a likelihood-ratio test of "the same reward on
      both sides" (Wilks 1938), referred to chi-squared with one degree of freedom per reward
      parameter the data can identify (see ``_likelihood_drift``). A boundary is flagged
      when its p-value is below ``alpha`` divided by the number of boundaries (Bonferroni)
      and its statistic is a local maximum. The abstraction is an approximation, so the
      chi-squared reference is too; a drift-free simulation in
      ``benchmarks/irl_recovery.py`` measures the false flags.
    - ``refit``: ``refit`` retrains the reward per window and neighbours are compared by
      EPIC distance on the whole dataset's states (scale- and shaping-free); a boundary is
      flagged when its score is a local maximum, its robust z-score (median and MAD of all
      scores) exceeds ``z_threshold`` and the score is at least ``min_score``.
    """
    if method not in DRIFT_METHODS:
        raise ExplainError(f"drift method must be one of {DRIFT_METHODS}, got {method!r}")
    window, masks, kept = _windows(dataset, window_s, n_windows, min_steps)
    if method == "likelihood":
        return _likelihood_drift(dataset, masks, kept, window, gamma=gamma, alpha=alpha,
                                 n_clusters=n_clusters, seed=seed)
    refit = refit or iq_refit()
    parts = [dataset.select(mask) for mask in masks]
    models = [refit(part, gamma) for part in parts]
    rewards = [m.score_actions(dataset).mean(axis=1) for m in models]
    x = models[0].standardise(dataset).numpy().astype(np.float64)
    weights = np.stack([fit_linear(x, r)[0] for r in rewards])
    scores = np.array([epic_distance(rewards[k], rewards[k + 1], gamma=gamma)
                       for k in range(len(rewards) - 1)])
    median = float(np.median(scores))
    mad = float(np.median(np.abs(scores - median))) * 1.4826
    robust_z = (scores - median) / mad if mad > 1e-12 else np.zeros_like(scores)
    padded = np.r_[-np.inf, scores, -np.inf]
    flagged = [k for k in range(len(scores))
               if robust_z[k] > z_threshold and scores[k] >= min_score
               and scores[k] >= padded[k] and scores[k] >= padded[k + 2]]
    return DriftResult(window_s=window, starts_s=np.array(kept), weights=weights,
                       change_score=scores, robust_z=robust_z,
                       cosine_distance=_cosine_distance(weights),
                       change_points_s=[kept[k + 1] for k in flagged],
                       windows_steps=[int(m.sum()) for m in masks], method="refit",
                       p_value=np.full(len(scores), np.nan))


def _cosine_distance(weights: np.ndarray) -> np.ndarray:
    """1 - cosine between neighbouring windows' weights: 0 same direction, 2 opposite."""
    norms = np.maximum(np.linalg.norm(weights, axis=1), 1e-12)
    return 1.0 - np.einsum("kf,kf->k", weights[:-1], weights[1:]) / (norms[:-1] * norms[1:])


def chi2_tail(statistic: float, degrees_of_freedom: int) -> float:
    """P(X >= statistic) for X ~ chi-squared(degrees_of_freedom)."""
    value = torch.special.gammaincc(torch.tensor(degrees_of_freedom / 2.0, dtype=torch.float64),
                                    torch.tensor(max(statistic, 0.0) / 2.0, dtype=torch.float64))
    return float(value)


def chi2_quantile(tail: float, degrees_of_freedom: int) -> float:
    """The x with P(X >= x) = ``tail`` for X ~ chi-squared(degrees_of_freedom), by bisection."""
    low, high = 0.0, float(degrees_of_freedom) + 10.0
    while chi2_tail(high, degrees_of_freedom) > tail:
        high *= 2.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if chi2_tail(middle, degrees_of_freedom) > tail else (
            low, middle)
    return 0.5 * (low + high)


def _likelihood_drift(dataset: FusedDataset, masks: list[np.ndarray], kept: list[float],
                      window: float, *, gamma: float, alpha: float, n_clusters: int | None,
                      seed: int) -> DriftResult:
    """The likelihood-ratio method of :func:`reward_drift` (see there)."""
    from irl.maxent import L2_ACTION, L2_WEIGHTS, fit_action_likelihood, step_abstraction
    from irl.rewards import LinearReward, Normaliser
    from irl.train import default_clusters

    if not 0.0 < alpha < 1.0:
        raise ExplainError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    x = Normaliser.fit(dataset.states, dataset.valid).transform(dataset.states, dataset.valid)
    n_actions = dataset.n_actions
    mdp, centroids, labels = step_abstraction(
        x, dataset.actions, dataset.episode, n_actions=n_actions,
        n_clusters=n_clusters or default_clusters(len(dataset)), seed=seed,
        session=dataset.session)
    n_states = mdp.n_states

    def counts_of(mask: np.ndarray) -> torch.Tensor:
        known = mask & (dataset.actions >= 0)
        flat = labels[known] * n_actions + dataset.actions[known]
        return torch.from_numpy(np.bincount(flat, minlength=n_states * n_actions).reshape(
            n_states, n_actions).astype(np.float64))

    def fit(mask: np.ndarray) -> tuple[float, np.ndarray]:
        counts = counts_of(mask)
        head = LinearReward(x.shape[1], n_actions)
        # The priors maxent trains with, so that flat directions of the likelihood do not
        # wander; both sides of the test carry the same prior.
        result = fit_action_likelihood(mdp, counts, head=head, gamma=gamma, l2=L2_WEIGHTS,
                                       l2_action=L2_ACTION)
        log_likelihood = float((counts * result.values.log_policy).sum())
        return log_likelihood, head.weight.detach().numpy().astype(np.float64)

    separate = [fit(mask) for mask in masks]
    weights = np.stack([w for _, w in separate])
    # One degree of freedom per parameter the likelihood can see: a feature that is constant
    # over the states (never valid, say) or a copy of others moves no policy, and softmax
    # policies ignore a constant added to every action, hence the rank of the centred state
    # features plus A - 1 bias terms. Counting all F features made the test needlessly
    # conservative: 40 df where the default schema's simulated data support 32.
    feature_rank = int(np.linalg.matrix_rank(centroids - centroids.mean(axis=0)))
    degrees = feature_rank + n_actions - 1
    scores, p_values = [], []
    for k in range(len(masks) - 1):
        joint, _ = fit(masks[k] | masks[k + 1])
        statistic = max(0.0, 2.0 * (separate[k][0] + separate[k + 1][0] - joint))
        scores.append(statistic)
        p_values.append(chi2_tail(statistic, degrees))
    score = np.array(scores)
    p_value = np.array(p_values)
    padded = np.r_[-np.inf, score, -np.inf]
    level = alpha / len(score)
    flagged = [k for k in range(len(score)) if p_value[k] < level
               and score[k] >= padded[k] and score[k] >= padded[k + 2]]
    log.info("drift: likelihood ratios %s (df %d)", np.round(score, 1).tolist(), degrees)
    return DriftResult(window_s=window, starts_s=np.array(kept), weights=weights,
                       change_score=score, robust_z=np.full(len(score), np.nan),
                       cosine_distance=_cosine_distance(weights),
                       change_points_s=[kept[k + 1] for k in flagged],
                       windows_steps=[int(m.sum()) for m in masks], method="likelihood",
                       p_value=p_value, degrees_of_freedom=degrees,
                       threshold=chi2_quantile(level, degrees))


@dataclass
class HorizonResult:
    """The same data under a short and a long discount."""

    gammas: tuple[float, float]
    weights: np.ndarray            # [2, F]
    epic_between: float
    step_reward_correlation: float
    top_features: tuple[list[str], list[str]]  # largest |weight| first, per discount


def horizon_sensitivity(dataset: FusedDataset, *, gammas: tuple[float, float] = (0.5, 0.95),
                        refit: Refit | None = None, top: int = 5) -> HorizonResult:
    """Refit under a short and a long discount and compare the two rewards."""
    refit = refit or iq_refit()
    models = [refit(dataset, gamma) for gamma in gammas]
    rewards = [m.score_actions(dataset).mean(axis=1) for m in models]
    x = models[0].standardise(dataset).numpy().astype(np.float64)
    weights = np.stack([fit_linear(x, r)[0] for r in rewards])
    names = dataset.schema.feature_names
    ranked = [[names[i] for i in np.argsort(-np.abs(w))[:top]] for w in weights]
    correlation = float(np.corrcoef(rewards[0], rewards[1])[0, 1]) \
        if np.std(rewards[0]) > 0 and np.std(rewards[1]) > 0 else 0.0
    return HorizonResult(gammas=tuple(gammas), weights=weights,
                         epic_between=epic_distance(rewards[0], rewards[1], gamma=gammas[1]),
                         step_reward_correlation=correlation,
                         top_features=(ranked[0], ranked[1]))
