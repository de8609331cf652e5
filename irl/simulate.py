"""Simulated participants with a known reward, as fused datasets and as raw session files.

Why: an IRL method can only be trusted on people once it recovers a reward it was not told,
on data shaped like people's. This module is a small parametric engagement environment over
the fused feature schema (``fusion.schema``), in which a participant acts *soft-optimally*
for a reward we choose (Ziebart 2010: pi(a|s) proportional to exp(beta * Q_soft(s, a))), so
the data satisfy the maximum-entropy model exactly up to observation noise.

Latent world (tabular, 8,064 states, so the participant's soft Q is exact):
``relevance`` 0-2 and ``difficulty`` 0-2 and ``length`` 0-1 of the content item shown,
``progress`` 0-3 through it, ``fatigue`` 0-3, ``depth`` 0-3 (queries about this item), and
``prev`` the action taken in the step that just ended (what the behaviour features show).
``SimulationConfig.sizes`` gives other numbers of levels (a smaller world keeps the default's
extremes: its least and most relevant items draw the same smiles as the default's), to
measure what world size the data can support; ``latent_paths`` rolls one out without
rendering.
Dynamics: ``read`` advances progress (slower for hard and long items), ``scroll_down``
advances it fast, ``scroll_back`` revisits, ``type_query`` deepens the query and may make
the item more relevant (a fourth query opens a new item), ``click`` opens a new item,
``look_away`` and ``absent`` rest (fatigue falls), everything else tires.

Observation. Each step renders concrete raw quantities (face rows with presence, head pose,
on-screen attention and blendshapes; key, mouse and scroll events; content and query
markers) and the simulator's own state vector is computed from exactly those quantities with
fusion's formulas (``fusion/schema.py``). The same quantities are written as a session file
(``render_session``), so fusing it should reproduce the simulator's states. Known
approximations of the rendering:
- gaze is uncalibrated (head-pose attention only), so the four calibrated-gaze features are
  invalid in both the simulator's dataset and the fused one;
- rows within a step share one blendshape value (real expressions vary within a second);
- content items are never shown twice, so ``content_revisits`` is always 0;
- ``review_time_s`` counts a step for the item shown at its end, even if shown mid-step.

- shares of face rows (present, on screen) use fixed counts per latent state, not binomial
  draws, so the reward-bearing features carry little sampling noise.

Reward. ``r = w . z(x) + c_a`` over standardised features (see :mod:`irl.truth`), with
``c_a`` the effort of typing a query or clicking. The participant plans with
``E[r | latent state]``; the weights are non-zero only on features whose conditional mean is
computed exactly here (``_feature_means``). With ``drift`` the weights switch to a second
vector at ``drift_at`` of each session.

Identifiability. Two things about this reward never reach behaviour, and EPIC counts both
(:func:`behavioural_twins` builds the rewards that differ only in them; the participant's
policy is the same at every latent state):
- the rendering noise of the realised features, independent of the action, so it never
  moves the policy: the twin E[r | latent state] scores EPIC 0.041 (0.042 over observed
  transitions) at 10 x 30 minutes;
- where an action's effort is booked: the behaviour features of a state mirror the action
  that led to it, so c_a and a reward c_a / gamma on the state that follows are potential
  shaping of each other in the latent world (Cao, Cohen and Szpruch 2021 on identifiability
  in IRL); EPIC over every action at each observed (s, s') scores that twin 0.090 (0 over
  observed transitions).
Together 0.099, at the edge of the benchmark's 0.1. The fused features themselves are not the
limit: the least-squares projection of E[r | latent state] onto them scores 0.009
(``benchmarks/irl_recovery.py`` prints all of these beside the learners). Estimation is:
maximum-likelihood MaxEnt on the exact latent world (``--latent-oracle``) scores 0.14 (0.11
observed) with maxent's priors. Without effort costs (``effort=False``; floor 0.045) that
oracle scores 0.052, the same fit with transitions counted on the exact latent states 0.21
and ``maxent`` 0.29. Told the exact latent state and its conditional feature means
(``benchmarks/irl_world_size.py``, no effort costs), counted transitions score 0.19 here
(2,157 states visited) against 0.02 exact, and 0.07 on a 336-state world (``sizes``
2, 2, 1, 3, 2, 2, 7; 210 visited) against 0.01; with effort costs the exact fit there scores
0.10 over every action (0.01 observed). Yet on that small world rendered and fused
(``irl_recovery.py --world 2,2,1,3,2,2 --no-effort``) ``maxent`` scores 0.32 and ``iq`` 0.60,
and the exact latent states as its clusters 0.12 (a one-off probe merging the states that
differ only in ``progress``: 0.29). So dynamics estimation limits the default world, and
beyond it the clusters, which cannot see how far through an item the participant is.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusion.dataset import NO_ACTION, FusedDataset
from fusion.engagement import engagement_score
from fusion.schema import ACTIONS, DEFAULT_SCHEMA, FEATURE_NAMES
from fusion.settings import FusionSettings
from irl.truth import Truth
from sensing.errors import EngageError
from sensing.records import BLENDSHAPE_NAMES, N_BLENDSHAPES, FaceFrame, InputEvent, Marker

log = logging.getLogger(__name__)

A_ABSENT, A_LOOK_AWAY, A_TYPE, A_CLICK, A_BACK, A_DOWN, A_READ = (
    ACTIONS.index(name) for name in
    ("absent", "look_away", "type_query", "click", "scroll_back", "scroll_down", "read"))
N_ACTIONS = len(ACTIONS)

# Latent factors and their sizes; a latent state is their mixed-radix index.
FACTORS: tuple[str, ...] = ("relevance", "difficulty", "length", "progress", "fatigue",
                            "depth", "prev")
FACTOR_SIZES: tuple[int, ...] = (3, 3, 2, 4, 4, 4, N_ACTIONS)
N_LATENT = int(np.prod(FACTOR_SIZES))

# Features that are invalid in every simulated step: gaze is never calibrated.
CALIBRATED_GAZE_FEATURES: tuple[str, ...] = (
    "gaze_dispersion_deg", "fixation_share", "saccade_rate_hz", "dwell_content_share")

# Plannable features fusion computes from the rows that show a face: invalid without one.
FACE_ROW_FEATURES: tuple[str, ...] = (
    "smile", "brow_lower", "brow_raise", "jaw_open", "blink_rate_hz", "head_pitch_mean_deg",
    "gaze_on_screen_share")

# The default reward, on standardised features; phase two is the drifted participant.
DEFAULT_WEIGHTS: dict[str, float] = {
    "smile": 1.0, "brow_lower": -0.5, "gaze_on_screen_share": 0.4,
    "face_present_share": 0.3, "head_pitch_mean_deg": 0.3, "query_depth": 0.15,
}
DRIFT_WEIGHTS: dict[str, float] = {
    "smile": 0.3, "brow_lower": 0.3, "gaze_on_screen_share": 0.4,
    "face_present_share": 0.3, "head_pitch_mean_deg": 0.3, "query_depth": 0.6,
}
# Effort of an action, paid in the step it is chosen (c_a of the true reward).
DEFAULT_ACTION_BONUS: dict[str, float] = {"type_query": -0.5, "click": -0.3}
# Count features (blinks, key presses) are left out of the default reward: their per-step
# sampling noise would dwarf the reward's variation and no learner could recover it.

FACE_HZ = 10.0
ABSENT_PRESENT_ROWS = 2  # rows with a face in a step of `absent` (of 10)
LOOK_AWAY_ON_ROWS = 1  # rows looking at the screen in a step of `look_away`
FIRST_CONTENT_NS = 1_000_000  # the first item is shown 1 ms into the session
ITEM_WORDS = (250, 900)  # words of a short and a long item


class SimulationError(EngageError):
    """A simulation was asked for with impossible parameters or an unusable output folder."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``rationality`` is beta of the Boltzmann policy (higher: greedier)."""

    participants: int = 3
    minutes: float = 10.0
    seed: int = 0
    drift: bool = False
    drift_at: float = 0.5
    rationality: float = 1.0
    gamma: float = 0.95
    step_s: float = 1.0
    face_hz: float = FACE_HZ
    noise: float = 1.0
    interaction: float = 0.0
    sizes: tuple[int, ...] = FACTOR_SIZES  # latent factor sizes, in the order of FACTORS
    effort: bool = True  # type_query and click cost DEFAULT_ACTION_BONUS; False: no cost

    def __post_init__(self) -> None:
        if int(self.participants) < 1:
            raise SimulationError(f"participants must be at least 1, got {self.participants}")
        if not self.minutes > 0 or not math.isfinite(self.minutes):
            raise SimulationError(f"minutes must be positive, got {self.minutes}")
        if not 0.0 <= self.gamma < 1.0:
            raise SimulationError(f"gamma must lie in [0, 1), got {self.gamma}")
        if not self.rationality > 0:
            raise SimulationError(f"rationality must be positive, got {self.rationality}")
        if not 0.0 < self.drift_at < 1.0:
            raise SimulationError(f"drift_at must lie strictly between 0 and 1, got "
                                  f"{self.drift_at}")
        if self.face_hz * self.step_s < 4:
            raise SimulationError("face_hz x step_s must give at least 4 face rows per step")
        object.__setattr__(self, "sizes", check_sizes(self.sizes))

    @property
    def steps(self) -> int:
        return max(2, int(round(self.minutes * 60.0 / self.step_s)))


# -- latent world ---------------------------------------------------------------------------


def _factors(index: np.ndarray, sizes: tuple[int, ...] = FACTOR_SIZES
             ) -> dict[str, np.ndarray]:
    return dict(zip(FACTORS, np.unravel_index(index, sizes), strict=True))


def _index(factors: dict[str, np.ndarray], sizes: tuple[int, ...] = FACTOR_SIZES
           ) -> np.ndarray:
    return np.ravel_multi_index(tuple(np.asarray(factors[name]) for name in FACTORS), sizes)


def _scaled(level: np.ndarray, size: int, top: int) -> np.ndarray:
    """A factor's level mapped onto the default world's range 0..top, so a smaller world
    keeps the default's extremes (its lowest and highest levels mean the same)."""
    return np.asarray(level) * top / max(size - 1, 1)


def _read_advance(difficulty: np.ndarray, length: np.ndarray, levels: int = 3) -> np.ndarray:
    """Chance that one step of reading finishes a part of the item."""
    rate = np.array([0.4, 0.28, 0.18])[np.rint(_scaled(difficulty, levels, 2)).astype(int)]
    return rate * np.where(length == 1, 0.5, 1.0)


def check_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Validate latent factor sizes (one per name in :data:`FACTORS`, ``prev`` = 7 actions)."""
    sizes = tuple(int(size) for size in sizes)
    if len(sizes) != len(FACTORS) or min(sizes) < 1 or sizes[-1] != N_ACTIONS:
        raise SimulationError(f"latent factor sizes must be {len(FACTORS)} positive numbers for "
                              f"{', '.join(FACTORS)}, the last {N_ACTIONS}; got {sizes}")
    if sizes[FACTORS.index("progress")] < 2 or sizes[FACTORS.index("depth")] < 2:
        raise SimulationError("progress and depth need at least 2 levels each")
    return sizes


def _transitions(sizes: tuple[int, ...] = FACTOR_SIZES) -> tuple[np.ndarray, np.ndarray]:
    """Sparse latent dynamics: ``next_state[S, A, K]`` int64 and ``prob[S, A, K]`` float64.

    Each (s, a) has at most K successors (unused slots have probability 0); built by
    enumerating independent factor changes, all states at once. ``sizes`` (see
    :func:`check_sizes`) shrinks or grows the world.
    """
    n_latent = int(np.prod(sizes))
    relevance, difficulty, length, progress, fatigue, depth, _ = sizes
    states = np.arange(n_latent)
    base = _factors(states, sizes)
    new_items = [(r, d, n) for r in range(relevance) for d in range(difficulty)
                 for n in range(length)]

    def new_item(start: dict[str, np.ndarray], chance: np.ndarray
                 ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Outcomes opening each possible item (equally likely), with ``chance`` in all."""
        return [(chance / len(new_items), dict(
            start, relevance=np.full(n_latent, r), difficulty=np.full(n_latent, d),
            length=np.full(n_latent, n), progress=np.zeros(n_latent, int),
            depth=np.zeros(n_latent, int))) for r, d, n in new_items]

    per_action: list[list[tuple[np.ndarray, dict[str, np.ndarray]]]] = []
    for action in range(N_ACTIONS):
        ones = np.ones(n_latent)
        start = dict(base, prev=np.full(n_latent, action))
        outcomes: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        # Content: what the action does to item, progress and depth.
        if action == A_CLICK:
            outcomes.extend(new_item(start, ones))
        elif action == A_TYPE:
            deep = base["depth"] >= depth - 1
            up = np.minimum(base["relevance"] + 1, relevance - 1)
            deeper = np.minimum(base["depth"] + 1, depth - 1)
            outcomes.append((np.where(deep, 0.0, 0.6), dict(start, depth=deeper)))
            outcomes.append((np.where(deep, 0.0, 0.4), dict(start, depth=deeper, relevance=up)))
            outcomes.extend(new_item(start, np.where(deep, 1.0, 0.0)))
        elif action in (A_READ, A_DOWN, A_BACK):
            if action == A_READ:
                move, step = _read_advance(base["difficulty"], base["length"], difficulty), 1
            else:
                move, step = np.full(n_latent, 0.85), (1 if action == A_DOWN else -1)
            moved = np.clip(base["progress"] + step, 0, progress - 1)
            outcomes.append((move, dict(start, progress=moved)))
            outcomes.append((1.0 - move, dict(start)))
        else:
            outcomes.append((ones, dict(start)))
        # Fatigue: rest lowers it, anything else may raise it (per level of the default's
        # four, so fewer levels are climbed as fast on the same 0..3 scale).
        tire = {A_ABSENT: 0.0, A_LOOK_AWAY: 0.0, A_TYPE: 0.06, A_CLICK: 0.03, A_BACK: 0.03,
                A_DOWN: 0.03, A_READ: 0.035}[action] * float(_scaled(1, fatigue, 3))
        rest = {A_ABSENT: 0.35, A_LOOK_AWAY: 0.15}.get(action, 0.0)
        combined = []
        for prob, factors in outcomes:
            tired = factors["fatigue"]
            if rest:
                combined.append((prob * rest, dict(factors, fatigue=np.maximum(tired - 1, 0))))
                combined.append((prob * (1 - rest), factors))
            else:
                combined.append((prob * tire, dict(factors, fatigue=np.minimum(
                    tired + 1, fatigue - 1))))
                combined.append((prob * (1 - tire), factors))
        per_action.append(combined)
    width = max(len(outcomes) for outcomes in per_action)
    next_state = np.zeros((n_latent, N_ACTIONS, width), dtype=np.int64)  # [S, A, K]
    prob = np.zeros((n_latent, N_ACTIONS, width))  # [S, A, K]
    for action, outcomes in enumerate(per_action):
        for k, (p, factors) in enumerate(outcomes):
            next_state[:, action, k] = _index(factors, sizes)
            prob[:, action, k] = p
    return next_state, prob


def _truncated_poisson_mean(rate: np.ndarray, cap: int) -> np.ndarray:
    """E[min(X, cap)] for X ~ Poisson(rate)."""
    rate = np.asarray(rate, dtype=np.float64)
    mean = np.zeros_like(rate)
    below = np.zeros_like(rate)
    term = np.exp(-rate)
    for k in range(cap):
        mean += k * term
        below += term
        term = term * rate / (k + 1)
    return mean + cap * (1.0 - below)


def _blink_rate(fatigue: np.ndarray) -> np.ndarray:
    """Blinks per second at a fatigue level (0.25 Hz rested, rising with fatigue)."""
    return 0.25 + 0.15 * np.asarray(fatigue)


def _feature_means(step_s: float, rows: int, sizes: tuple[int, ...] = FACTOR_SIZES
                   ) -> dict[str, np.ndarray]:
    """E[feature | latent state] for the features a reward may weigh, each [S] float64.

    In a world of other ``sizes`` relevance, difficulty and fatigue are read on the default
    world's scales (:func:`_scaled`), as :func:`_render_step` draws them.
    """
    f = _factors(np.arange(int(np.prod(sizes))), sizes)
    size = dict(zip(FACTORS, sizes, strict=True))
    prev = f["prev"]
    absent, away = prev == A_ABSENT, prev == A_LOOK_AWAY
    engaged = np.isin(prev, (A_READ, A_DOWN, A_TYPE))
    reading = np.isin(prev, (A_READ, A_DOWN, A_BACK))
    unfinished = f["progress"] < size["progress"] - 1
    relevance = _scaled(f["relevance"], size["relevance"], 1)
    difficulty = _scaled(f["difficulty"], size["difficulty"], 1)
    fatigue = _scaled(f["fatigue"], size["fatigue"], 3)
    blink_cap = 3
    return {
        "face_present_share": np.where(absent, ABSENT_PRESENT_ROWS / rows, 1.0),
        "gaze_on_screen_share": np.where(
            away, LOOK_AWAY_ON_ROWS / rows, np.where(absent, 1.0, 1.0 - np.minimum(
                np.round(rows * 0.03 * fatigue), rows // 2 - 1) / rows)),
        "smile": 0.05 + 0.3 * relevance * unfinished * engaged,
        "brow_lower": 0.05 + 0.3 * difficulty * reading,
        "brow_raise": 0.05 + 0.2 * (prev == A_TYPE),
        "jaw_open": 0.03 + 0.1 * (prev == A_TYPE),
        "blink_rate_hz": np.where(absent, 0.0, _truncated_poisson_mean(
            _blink_rate(fatigue) * step_s, blink_cap) / step_s),
        "query_depth": f["depth"].astype(np.float64),
        "head_pitch_mean_deg": np.where(away, 8.0, -5.0 - 2.0 * fatigue),
        "key_rate_hz": np.where(prev == A_TYPE, (6.0 + 0.3 + 1.0) / step_s, 0.0),
        "scroll_up_px": np.where(prev == A_BACK, 3.5, 0.0),  # in scroll units; scaled later
        "scroll_down_px": np.where(prev == A_DOWN, 3.5, 0.0),
        "clicks": (prev == A_CLICK).astype(np.float64),
    }


def soft_value_iteration_sparse(reward: np.ndarray, next_state: np.ndarray, prob: np.ndarray,
                                *, gamma: float, rationality: float = 1.0, tol: float = 1e-6,
                                max_iterations: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Discounted soft value iteration over sparse transitions (Ziebart 2010, eq. 6.4).

    ``reward[S, A]``; ``next_state``/``prob`` ``[S, A, K]``. Returns ``Q[S, A]`` and the
    Boltzmann policy ``pi[S, A]`` with V(s) = logsumexp(beta Q(s, .)) / beta. Each backup is
    one gather and one weighted sum over all states and actions.
    """
    values = np.zeros(reward.shape[0])  # V[S]
    for _ in range(max_iterations):
        q = reward + gamma * np.einsum("sak,sak->sa", prob, values[next_state])  # Q[S, A]
        scaled = rationality * q
        top = scaled.max(axis=1, keepdims=True)
        new_values = (top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))) / rationality
        change = float(np.max(np.abs(new_values - values)))
        values = new_values
        if change < tol:
            break
    q = reward + gamma * np.einsum("sak,sak->sa", prob, values[next_state])
    scaled = rationality * q
    policy = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    policy /= policy.sum(axis=1, keepdims=True)
    return q, policy


# -- the environment ------------------------------------------------------------------------


@dataclass
class EngagementEnvironment:
    """The latent world, its feature means and the standardisation of the true reward."""

    config: SimulationConfig
    settings: FusionSettings
    next_state: np.ndarray = field(init=False)
    prob: np.ndarray = field(init=False)
    feature_mean: np.ndarray = field(init=False)
    feature_scale: np.ndarray = field(init=False)
    missing_value: np.ndarray = field(init=False)
    means: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.next_state, self.prob = _transitions(self.sizes)
        rows = self.rows_per_step
        self.means = _feature_means(self.config.step_s, rows, self.sizes)
        for name in ("scroll_up_px", "scroll_down_px"):
            self.means[name] = self.means[name] * self.settings.scroll_px_per_unit
        # Standardisation constants: spread of the conditional means over latent states,
        # a fixed property of the simulator (never of a dataset).
        mean = np.zeros(len(FEATURE_NAMES))
        scale = np.ones(len(FEATURE_NAMES))
        for name, values in self.means.items():
            column = FEATURE_NAMES.index(name)
            mean[column] = float(values.mean())
            scale[column] = float(values.std()) or 1.0
        self.feature_mean, self.feature_scale = mean, scale
        # What the participant plans with for a face feature when no face is seen: its mean
        # over the `absent` states (exact where constant there, e.g. smile 0.05; head pitch
        # varies with fatigue, so its average). Other features: the mean, z = 0.
        absent = _factors(np.arange(self.n_latent), self.sizes)["prev"] == A_ABSENT
        self.missing_value = mean.copy()
        for name in FACE_ROW_FEATURES:
            self.missing_value[FEATURE_NAMES.index(name)] = float(self.means[name][absent].mean())

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.config.sizes

    @property
    def n_latent(self) -> int:
        return int(np.prod(self.sizes))

    @property
    def action_bonus(self) -> np.ndarray:
        """c_a [A] of the true reward: the default efforts, or none without ``effort``."""
        return np.array([DEFAULT_ACTION_BONUS.get(name, 0.0) if self.config.effort else 0.0
                         for name in ACTIONS])

    def first_state(self, rng: np.random.Generator) -> int:
        """A session's first latent state: a random item, nothing read, rested, reading."""
        size = dict(zip(FACTORS, self.sizes, strict=True))
        item = rng.integers(0, [size["relevance"], size["difficulty"], size["length"]])
        return int(_index({"relevance": item[0], "difficulty": item[1], "length": item[2],
                           "progress": 0, "fatigue": 0, "depth": 0, "prev": A_READ},
                          self.sizes))

    def step(self, rng: np.random.Generator, policy: np.ndarray, state: int) -> tuple[int, int]:
        """The action drawn from ``policy[S, A]`` at ``state`` and the state it leads to."""
        action = int(rng.choice(N_ACTIONS, p=policy[state]))
        k = int(rng.choice(self.prob.shape[2], p=self.prob[state, action]))
        return action, int(self.next_state[state, action, k])

    @property
    def rows_per_step(self) -> int:
        return int(round(self.config.face_hz * self.config.step_s))

    def standardised_means(self) -> tuple[list[str], np.ndarray]:
        """The plannable features' names (sorted) and z[S, G], their conditional means
        standardised as the truth standardises them: the features of an oracle that sees
        the latent state."""
        names = sorted(self.means)
        columns = [FEATURE_NAMES.index(name) for name in names]
        z = np.stack([(self.means[name] - self.feature_mean[c]) / self.feature_scale[c]
                      for name, c in zip(names, columns, strict=True)], axis=1)
        return names, z

    def weight_vector(self, weights: dict[str, float]) -> np.ndarray:
        """Weights by feature name -> [F] over the schema, checking every name is plannable."""
        vector = np.zeros(len(FEATURE_NAMES))
        for name, value in weights.items():
            if name not in self.means:
                raise SimulationError(f"the simulator cannot plan with a weight on {name!r}; "
                                      f"choose from {', '.join(sorted(self.means))}")
            vector[FEATURE_NAMES.index(name)] = value
        return vector

    def latent_reward(self, weights: np.ndarray, interaction: tuple[str, str, float] | None,
                      action_bonus: np.ndarray) -> np.ndarray:
        """E[r | latent state, action], [S, A]."""
        z = {name: (values - self.feature_mean[FEATURE_NAMES.index(name)])
             / self.feature_scale[FEATURE_NAMES.index(name)]
             for name, values in self.means.items()}
        reward = np.zeros(self.n_latent)
        for name, values in z.items():
            reward += weights[FEATURE_NAMES.index(name)] * values
        if interaction is not None:
            first, second, value = interaction
            reward += value * z[first] * z[second]  # independent given the latent state
        return reward[:, None] + action_bonus[None, :]

    def solve(self, reward: np.ndarray, rationality: float) -> np.ndarray:
        """The participant's Boltzmann policy pi[S, A] under ``reward[S, A]``."""
        _, policy = soft_value_iteration_sparse(reward, self.next_state, self.prob,
                                                gamma=self.config.gamma,
                                                rationality=rationality)
        return policy


# -- one participant's session --------------------------------------------------------------


@dataclass
class StepRender:
    """Raw quantities of one step, from which both the state and the session file come."""

    present: np.ndarray            # [rows] bool
    on_screen: np.ndarray          # [rows] bool (meaningful where present)
    yaw_deg: np.ndarray            # [rows]
    pitch_deg: np.ndarray          # [rows]
    distance_mm: float
    blink: np.ndarray              # [rows] bool, eyes closed
    smile: float
    brow_raise: float
    brow_lower: float
    jaw_open: float
    events: list[InputEvent]
    markers: list[Marker]


@dataclass
class SimulatedSession:
    """A participant's session: latent path, actions, rendered steps and the fused states."""

    participant: str
    session_id: str
    latent: np.ndarray             # [T] int64 latent state index
    actions: np.ndarray            # [T] int64, NO_ACTION at the last step
    phase: np.ndarray              # [T] int64 reward phase
    renders: list[StepRender]
    states: np.ndarray             # [T, F] float32
    valid: np.ndarray              # [T, F] bool
    episode: np.ndarray            # [T] int64 content item number within the session


def _render_step(rng: np.random.Generator, latent: dict[str, int], step: int, *,
                 config: SimulationConfig, settings: FusionSettings, pointer: list[float],
                 content: dict[str, Any], next_content_id: list[int]) -> StepRender:
    """Draw the raw quantities of step ``step``, whose behaviour is ``latent['prev']``.

    Factor levels are read on the default world's scales (:func:`_scaled`), as
    :func:`_feature_means` reads them.
    """
    rows = int(round(config.face_hz * config.step_s))
    step_ns = int(round(config.step_s * 1e9))
    t0 = step * step_ns
    sizes = dict(zip(FACTORS, config.sizes, strict=True))
    prev = latent["prev"]
    fatigue = float(_scaled(latent["fatigue"], sizes["fatigue"], 3))
    noise = config.noise

    # Shares are drawn with fixed counts (not binomially) so that the reward-bearing shares
    # carry little sampling noise; which rows they fall on is random.
    present = np.ones(rows, dtype=bool)
    if prev == A_ABSENT:
        present[:] = False
        present[rng.choice(rows, size=ABSENT_PRESENT_ROWS, replace=False)] = True
    on_screen = np.ones(rows, dtype=bool)
    if prev == A_LOOK_AWAY:
        on_screen[:] = False
        on_screen[rng.choice(rows, size=LOOK_AWAY_ON_ROWS, replace=False)] = True
    elif prev != A_ABSENT:
        off = min(int(round(rows * 0.03 * fatigue)), rows // 2 - 1)
        on_screen[rng.choice(rows, size=off, replace=False)] = False

    yaw_centre = (25.0 if prev == A_LOOK_AWAY else 0.0) + noise * rng.normal(0, 2.0)
    pitch_centre = (8.0 if prev == A_LOOK_AWAY else -5.0 - 2.0 * fatigue) + noise * rng.normal(
        0, 0.3)
    motion = 1.0 + 0.8 * fatigue + (4.0 if prev in (A_LOOK_AWAY, A_ABSENT) else 0.0)
    yaw = yaw_centre + rng.normal(0, motion / math.sqrt(2), rows)
    pitch = pitch_centre + rng.normal(0, motion / math.sqrt(2), rows)

    blink = np.zeros(rows, dtype=bool)
    if present.sum() >= 4:
        count = min(int(rng.poisson(float(_blink_rate(fatigue)) * config.step_s)), 3)
        length = 2 if fatigue >= 2 else 1
        # Blinks start on rows 1, 4, 7 (never on row 0, so each onset lies in this step).
        for start in (1, 4, 7)[:count]:
            blink[start:start + length] = True
        blink &= present

    engaged = prev in (A_READ, A_DOWN, A_TYPE)
    reading = prev in (A_READ, A_DOWN, A_BACK)
    unfinished = latent["progress"] < sizes["progress"] - 1
    jitter = 0.01 * noise

    def level(mean: float) -> float:
        return float(np.clip(mean + rng.normal(0, jitter), 0.0, 1.0))

    relevance = float(_scaled(latent["relevance"], sizes["relevance"], 1))
    difficulty = float(_scaled(latent["difficulty"], sizes["difficulty"], 1))
    smile = level(0.05 + 0.3 * relevance * unfinished * engaged)
    brow_lower = level(0.05 + 0.3 * difficulty * reading)
    brow_raise = level(0.05 + 0.2 * (prev == A_TYPE))
    jaw_open = level(0.03 + 0.1 * (prev == A_TYPE))

    events: list[InputEvent] = []
    markers: list[Marker] = []

    def at(fraction: float) -> int:
        return t0 + int(round(fraction * step_ns))

    if prev == A_TYPE:
        letters = int(rng.integers(4, 9))
        classes = ["letter"] * letters
        if rng.random() < 0.3:
            classes.insert(int(rng.integers(1, letters)), "backspace")
        classes.append("enter")
        for k, key_class in enumerate(classes):
            t = at(0.05 + 0.8 * k / len(classes))
            events.append(InputEvent(t_ns=t, kind="key_down", key_class=key_class))
            events.append(InputEvent(t_ns=t + 20_000_000, kind="key_up", key_class=key_class))
        markers.append(Marker(t_ns=at(0.9), kind="query_submitted",
                              payload={"content_id": content["id"]}))
    elif prev == A_CLICK:
        target = (float(rng.uniform(100, 1800)), float(rng.uniform(100, 1000)))
        start = (pointer[0], pointer[1])
        for k, fraction in enumerate((0.1, 0.3, 0.5)):
            share = (k + 1) / 3
            x = start[0] + share * (target[0] - start[0]) + rng.normal(0, 5) * (k < 2)
            y = start[1] + share * (target[1] - start[1]) + rng.normal(0, 5) * (k < 2)
            events.append(InputEvent(t_ns=at(fraction), kind="move", x_px=x, y_px=y))
        events.append(InputEvent(t_ns=at(0.6), kind="button_down", x_px=target[0],
                                 y_px=target[1]))
        events.append(InputEvent(t_ns=at(0.65), kind="button_up", x_px=target[0],
                                 y_px=target[1]))
        pointer[:] = list(target)
    elif prev in (A_DOWN, A_BACK):
        units = int(rng.integers(2, 6))
        sign = -1.0 if prev == A_DOWN else 1.0
        for k in range(units):
            events.append(InputEvent(t_ns=at(0.1 + 0.7 * k / units), kind="scroll",
                                     x_px=pointer[0], y_px=pointer[1], dx=0.0, dy=sign))

    opens_item = prev == A_CLICK or (prev == A_TYPE and content.get("opens_next", False))
    if opens_item:
        content["id"] = f"item-{next_content_id[0]:04d}"
        next_content_id[0] += 1
        markers.append(Marker(t_ns=at(0.95), kind="content_shown", payload={
            "content_id": content["id"], "region": [200, 100, 1200, 800],
            "words": ITEM_WORDS[round(float(_scaled(latent["length"], sizes["length"], 1)))]}))
    return StepRender(present=present, on_screen=on_screen, yaw_deg=yaw, pitch_deg=pitch,
                      distance_mm=float(600.0 + 15.0 * fatigue + noise * rng.normal(0, 5.0)),
                      blink=blink, smile=smile, brow_raise=brow_raise, brow_lower=brow_lower,
                      jaw_open=jaw_open, events=events, markers=markers)


def _features(renders: list[StepRender], *, config: SimulationConfig,
              settings: FusionSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The state vectors of rendered steps by fusion's formulas: states, valid, item number."""
    steps = len(renders)
    window = config.step_s
    step_ns = int(round(config.step_s * 1e9))
    states = np.zeros((steps, len(FEATURE_NAMES)), dtype=np.float64)  # [T, F]
    valid = np.ones_like(states, dtype=bool)
    column = {name: FEATURE_NAMES.index(name) for name in FEATURE_NAMES}
    for name in CALIBRATED_GAZE_FEATURES:
        valid[:, column[name]] = False
    item = np.zeros(steps, dtype=np.int64)
    last_input_ns = 0
    last_pointer: tuple[float, float] | None = None
    key_times: list[int] = []
    shown_ns, current_item = FIRST_CONTENT_NS, 0
    review = scroll_up_px_item = 0.0
    depth = 0
    for t, render in enumerate(renders):
        row = states[t]
        end_ns = (t + 1) * step_ns
        present = render.present
        n_present = int(present.sum())
        row[column["face_present_share"]] = n_present / len(present)
        yaw, pitch = render.yaw_deg[present], render.pitch_deg[present]
        row[column["head_yaw_mean_deg"]] = yaw.mean()
        row[column["head_pitch_mean_deg"]] = pitch.mean()
        row[column["head_motion_deg"]] = math.sqrt(float(np.var(yaw) + np.var(pitch)))
        row[column["distance_mean_mm"]] = render.distance_mm
        row[column["gaze_on_screen_share"]] = render.on_screen[present].mean()
        closed = render.blink[present]
        onsets = int(np.sum(closed[1:] & ~closed[:-1]) + (closed[0] if closed.size else 0))
        row[column["blink_rate_hz"]] = onsets / window
        row[column["eye_closure_share"]] = closed.mean()
        row[column["smile"]] = render.smile
        row[column["brow_raise"]] = render.brow_raise
        row[column["brow_lower"]] = render.brow_lower
        row[column["jaw_open"]] = render.jaw_open

        keys = [e for e in render.events if e.kind == "key_down"]
        row[column["key_rate_hz"]] = len(keys) / window
        row[column["text_key_rate_hz"]] = sum(
            e.key_class in ("letter", "digit", "space", "punctuation") for e in keys) / window
        row[column["navigation_key_rate_hz"]] = sum(
            e.key_class in ("navigation", "tab", "enter") for e in keys) / window
        row[column["backspace_share"]] = (sum(e.key_class == "backspace" for e in keys)
                                          / len(keys)) if keys else 0.0
        burst = 0.0
        for event in keys:
            key_times.append(event.t_ns)
            run = 1
            for earlier, later in zip(key_times[-2::-1], key_times[:0:-1], strict=False):
                if (later - earlier) / 1e9 < settings.burst_gap_s:
                    run += 1
                else:
                    break
            if run >= settings.burst_min_keys:
                burst = 1.0
        row[column["typing_burst"]] = burst
        path = 0.0
        for event in render.events:
            if event.kind in ("move", "button_down", "button_up"):
                here = (float(event.x_px), float(event.y_px))
                if last_pointer is not None:
                    path += math.dist(here, last_pointer)
                last_pointer = here
        row[column["mouse_path_px"]] = path
        row[column["mouse_speed_px_s"]] = path / window
        row[column["clicks"]] = sum(e.kind == "button_down" for e in render.events)
        dys = [e.dy for e in render.events if e.kind == "scroll"]
        down_px = sum(-dy for dy in dys if dy < 0) * settings.scroll_px_per_unit
        up_px = sum(dy for dy in dys if dy > 0) * settings.scroll_px_per_unit
        row[column["scroll_down_px"]] = down_px
        row[column["scroll_up_px"]] = up_px
        if render.events:
            last_input_ns = max(last_input_ns, max(e.t_ns for e in render.events))
        row[column["idle_s"]] = (end_ns - last_input_ns) / 1e9

        for marker in render.markers:
            if marker.kind == "query_submitted":
                depth += 1
        for marker in render.markers:
            if marker.kind == "content_shown":
                shown_ns, current_item = marker.t_ns, current_item + 1
                review = scroll_up_px_item = 0.0
                depth = 0
        scroll_up_px_item += up_px
        review += config.step_s * row[column["face_present_share"]] \
            * row[column["gaze_on_screen_share"]]
        row[column["content_shown"]] = 1.0
        row[column["time_on_content_s"]] = (end_ns - shown_ns) / 1e9
        row[column["content_revisits"]] = 0.0
        row[column["review_time_s"]] = review
        row[column["reengagement"]] = scroll_up_px_item / settings.scroll_back_unit_px
        row[column["query_depth"]] = depth
        item[t] = current_item
    states[:, column["engagement"]] = engagement_score(
        states[:, column["review_time_s"]], states[:, column["reengagement"]],
        states[:, column["query_depth"]], config=settings.engagement)
    return states.astype(np.float32), valid, item


def simulate_session(env: EngagementEnvironment, policies: list[np.ndarray],
                     rng: np.random.Generator, *, participant: str, session_id: str,
                     drift_step: int | None) -> SimulatedSession:
    """Roll one participant forward with Boltzmann policies (one per reward phase)."""
    config = env.config
    opens_at_depth = env.sizes[FACTORS.index("depth")] - 1
    steps = config.steps
    latent = np.zeros(steps, dtype=np.int64)
    actions = np.full(steps, NO_ACTION, dtype=np.int64)
    phase = np.zeros(steps, dtype=np.int64)
    state = env.first_state(rng)
    renders: list[StepRender] = []
    pointer = [960.0, 540.0]
    content: dict[str, Any] = {"id": "item-0000"}
    next_content_id = [1]
    for t in range(steps):
        latent[t] = state
        phase[t] = 0 if drift_step is None or t < drift_step else 1
        factors = {name: int(v) for name, v in _factors(np.array(state), env.sizes).items()}
        content["opens_next"] = False
        if t > 0 and factors["prev"] == A_TYPE:
            previous = _factors(np.array(latent[t - 1]), env.sizes)
            content["opens_next"] = int(previous["depth"]) >= opens_at_depth
        renders.append(_render_step(rng, factors, t, config=config, settings=env.settings,
                                    pointer=pointer, content=content,
                                    next_content_id=next_content_id))
        if t == steps - 1:
            break
        actions[t], state = env.step(rng, policies[phase[t]], state)
    states, valid, item = _features(renders, config=config, settings=env.settings)
    return SimulatedSession(participant=participant, session_id=session_id, latent=latent,
                            actions=actions, phase=phase, renders=renders, states=states,
                            valid=valid, episode=item)


def latent_paths(env: EngagementEnvironment, policy: np.ndarray, rng: np.random.Generator, *,
                 sessions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent states, actions and session index of ``sessions`` rollouts of ``policy[S, A]``,
    each ``env.config.steps`` long and started and stepped as :func:`simulate_session` does
    (:meth:`EngagementEnvironment.first_state`, :meth:`EngagementEnvironment.step`), but
    without rendering. The last step of
    each session has action -1. Why: to measure what recovery the data allow when the learner
    sees the exact latent state, separately from what the fused features hide.
    """
    steps = env.config.steps
    latent = np.zeros((sessions, steps), dtype=np.int64)
    actions = np.full((sessions, steps), NO_ACTION, dtype=np.int64)
    for n in range(sessions):
        state = env.first_state(rng)
        for t in range(steps):
            latent[n, t] = state
            if t == steps - 1:
                break
            actions[n, t], state = env.step(rng, policy, state)
    session = np.repeat(np.arange(sessions), steps)
    return latent.reshape(-1), actions.reshape(-1), session


@dataclass
class Simulation:
    """The result of :func:`simulate`: per-session paths, the fused dataset, the truth."""

    config: SimulationConfig
    settings: FusionSettings
    sessions: list[SimulatedSession]
    dataset: FusedDataset
    truth: Truth


def build_truth(env: EngagementEnvironment, *, drift_start_s: float | None,
                interaction: float, seed: int) -> Truth:
    """The known reward of a simulation (see :mod:`irl.truth`)."""
    phases = [env.weight_vector(DEFAULT_WEIGHTS)]
    starts = [0.0]
    if drift_start_s is not None:
        phases.append(env.weight_vector(DRIFT_WEIGHTS))
        starts.append(drift_start_s)
    return Truth(
        feature_names=FEATURE_NAMES, action_names=ACTIONS, weights=np.stack(phases),
        feature_mean=env.feature_mean, feature_scale=env.feature_scale,
        missing_value=env.missing_value,
        action_bonus=env.action_bonus,
        phase_starts_s=tuple(starts),
        interaction=("smile", "query_depth", interaction) if interaction else None,
        parameters={"simulation": asdict(env.config), "fusion_settings": env.settings.to_dict(),
                    "latent_factors": dict(zip(FACTORS, env.sizes, strict=True))},
        seed=seed,
    )


def simulate(config: SimulationConfig, *, settings: FusionSettings | None = None) -> Simulation:
    """Simulate ``config.participants`` participants, one session each, and fuse their states.

    Deterministic for a given config (all randomness comes from ``config.seed``).
    """
    settings = settings or FusionSettings(step_s=config.step_s)
    if abs(settings.step_s - config.step_s) > 1e-12 or settings.window != settings.step_s:
        raise SimulationError("the fusion settings must use the simulation's step as step and "
                              f"window ({config.step_s} s)")
    env = EngagementEnvironment(config=config, settings=settings)
    switch_step = int(config.steps * config.drift_at) if config.drift else None
    drift_start_s = None if switch_step is None else switch_step * config.step_s
    truth = build_truth(env, drift_start_s=drift_start_s, interaction=config.interaction,
                        seed=config.seed)
    policies = []
    for phase in range(truth.weights.shape[0]):
        reward = env.latent_reward(truth.weights[phase], truth.interaction, truth.action_bonus)
        policies.append(env.solve(reward, config.rationality))
    root = np.random.default_rng(config.seed)
    sessions = []
    for number in range(config.participants):
        rng = np.random.default_rng(root.integers(2**63))
        participant = f"sim-p{number + 1:02d}"
        session_id = f"sim-s{config.seed}-p{number + 1:02d}"
        sessions.append(simulate_session(env, policies, rng, participant=participant,
                                         session_id=session_id,
                                         drift_step=switch_step))
        log.info("simulated %s: %d steps", participant, config.steps)
    dataset = _dataset(sessions, config=config, settings=settings, truth=truth)
    return Simulation(config=config, settings=settings, sessions=sessions, dataset=dataset,
                      truth=truth)


def _dataset(sessions: list[SimulatedSession], *, config: SimulationConfig,
             settings: FusionSettings, truth: Truth) -> FusedDataset:
    parts = []
    for session in sessions:
        steps = len(session.latent)
        parts.append(FusedDataset(
            t_s=(np.arange(steps) + 1) * config.step_s, states=session.states,
            valid=session.valid, actions=session.actions, episode=session.episode,
            session=np.zeros(steps, dtype=np.int32), schema=DEFAULT_SCHEMA,
            session_ids=(session.session_id,), participants=(session.participant,),
            settings={**settings.to_dict(), "source": "irl.simulate"},
            extras={"latent_state": session.latent, "reward_phase": session.phase},
        ))
    dataset = FusedDataset.concat(parts)
    dataset.extras["reward_true"] = truth.true_reward(dataset)
    return dataset.validate()


# -- rewards that behaviour cannot tell from the truth ---------------------------------------


def effort_after_action(reward: np.ndarray, action_bonus: np.ndarray, prev: np.ndarray, *,
                        gamma: float) -> np.ndarray:
    """``reward[N, A]`` with each action's effort c_a booked on the state that follows it.

    r'(s, a) = r(s, a) - c_a + c_prev(s) / gamma, with ``prev[N]`` the action that led to each
    state. In the latent world prev(s') = a on every move, so this is potential shaping by
    Phi(s) = -c_prev(s) / gamma (Ng, Harada and Russell 1999) and the soft-optimal policy is
    the same at every state; EPIC, which scores every action at each (s, s'), still counts it.
    """
    bonus = np.asarray(action_bonus, dtype=np.float64)
    return np.asarray(reward, dtype=np.float64) - bonus[None, :] + (
        bonus[np.asarray(prev)] / gamma)[:, None]


def behavioural_twins(simulation: Simulation) -> dict[str, np.ndarray]:
    """Rewards r[T, A] on the simulation's steps under which its participants act exactly as
    they do under the truth: what no learner can tell from the truth, scored by the metrics.

    - ``"conditional mean"``: E[r | latent state, a], the reward the participant plans with,
      without the rendering noise of the realised features (that noise never depends on the
      action, so it never moves the policy);
    - ``"effort after"``: the truth with each action's effort booked on the state that follows
      it (:func:`effort_after_action`);
    - ``"both"``: the two together.

    Needs the simulator's own dataset (its ``latent_state`` and ``reward_phase`` extras).
    """
    dataset, truth = simulation.dataset, simulation.truth
    if "latent_state" not in dataset.extras or "reward_phase" not in dataset.extras:
        raise SimulationError("behavioural twins need the simulator's own dataset, which "
                              "carries its latent states; use Simulation.dataset")
    env = EngagementEnvironment(config=simulation.config, settings=simulation.settings)
    latent = np.asarray(dataset.extras["latent_state"], dtype=np.int64)
    phase = np.asarray(dataset.extras["reward_phase"], dtype=np.int64)
    planned_by_phase = np.stack([env.latent_reward(weights, truth.interaction,
                                                   truth.action_bonus)
                                 for weights in truth.weights])  # [K, S, A]
    planned = planned_by_phase[phase, latent]  # [T, A]
    prev = _factors(latent, env.sizes)["prev"]
    gamma = simulation.config.gamma
    return {
        "conditional mean": planned,
        "effort after": effort_after_action(truth.reward_table(dataset), truth.action_bonus,
                                            prev, gamma=gamma),
        "both": effort_after_action(planned, truth.action_bonus, prev, gamma=gamma),
    }


# -- raw session files ----------------------------------------------------------------------


def render_session(session: SimulatedSession, data_dir: Path, *, config: SimulationConfig) -> Path:
    """Write one simulated session as an Engage session file; returns its path.

    The file holds face rows at ``config.face_hz``, the input events and the markers that
    :func:`_render_step` drew, on session time, so ``fusion`` reads it like a recording.
    """
    from sensing.session import SessionWriter

    consent = {"camera": True, "keyboard": True, "mouse": True, "scroll": True,
               "markers": True, "video": False, "landmarks": False}
    writer = SessionWriter.create(data_dir, participant=session.participant, consent=consent,
                                  consent_text="simulated participant (irl.simulate)",
                                  host={"simulated": True}, session_id=session.session_id)
    try:
        step_ns = int(round(config.step_s * 1e9))
        rows = int(round(config.face_hz * config.step_s))
        row_ns = step_ns // rows
        blend_index = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
        writer.write_marker(Marker(t_ns=FIRST_CONTENT_NS, kind="task_start", payload={}))
        writer.write_marker(Marker(t_ns=FIRST_CONTENT_NS, kind="content_shown", payload={
            "content_id": "item-0000", "region": [200, 100, 1200, 800]}))
        for step, render in enumerate(session.renders):
            t0 = step * step_ns
            for k in range(rows):
                t_ns = t0 + k * row_ns + row_ns // 2
                if not render.present[k]:
                    writer.write_face(FaceFrame(t_ns=t_ns, face_count=0, present=False))
                    continue
                shapes = np.zeros(N_BLENDSHAPES, dtype=np.float32)
                blink = 0.85 if render.blink[k] else 0.1
                shapes[blend_index["eyeBlinkLeft"]] = shapes[blend_index["eyeBlinkRight"]] = blink
                shapes[blend_index["mouthSmileLeft"]] = render.smile
                shapes[blend_index["mouthSmileRight"]] = render.smile
                for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"):
                    shapes[blend_index[name]] = render.brow_raise
                shapes[blend_index["browDownLeft"]] = render.brow_lower
                shapes[blend_index["browDownRight"]] = render.brow_lower
                shapes[blend_index["jawOpen"]] = render.jaw_open
                openness = 0.05 if render.blink[k] else 0.3
                writer.write_face(FaceFrame(
                    t_ns=t_ns, face_count=1, present=True, confidence=0.95, blendshapes=shapes,
                    yaw_deg=float(render.yaw_deg[k]), pitch_deg=float(render.pitch_deg[k]),
                    roll_deg=0.0, translation_mm=(0.0, 0.0, render.distance_mm),
                    eye_features_norm=(0.5, 0.5, 0.5, 0.5), eye_openness=(openness, openness),
                    distance_mm=render.distance_mm, on_screen=bool(render.on_screen[k]),
                    gaze_calibrated=False))
            for event in render.events:
                writer.write_input(event)
            for marker in render.markers:
                writer.write_marker(marker)
        end_ns = len(session.renders) * step_ns
        writer.write_marker(Marker(t_ns=end_ns - 1, kind="task_end", payload={}))
        writer.set_meta("simulated", {"source": "irl.simulate", "seed": config.seed})
        stats = writer.stats()
        dropped = sum(int(v.get("dropped", 0)) for v in stats.values() if isinstance(v, dict))
        if dropped:
            raise SimulationError(f"the session writer dropped {dropped} simulated rows; "
                                  "simulate fewer minutes per session")
    except BaseException:
        writer.close(status="failed")
        raise
    writer.close(status="complete")
    return writer.path


def write_simulation(simulation: Simulation, out_dir: str | Path, *,
                     raw_sessions: bool = True) -> dict[str, Path]:
    """Write ``sessions/*.sqlite``, ``dataset/`` and ``truth.json`` into ``out_dir``.

    Refuses a folder that already holds a simulation's outputs, so nothing is overwritten.
    """
    out = Path(out_dir)
    for name in ("sessions", "dataset", "truth.json"):
        if (out / name).exists():
            raise SimulationError(f"{out / name} already exists; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if raw_sessions:
        staging = out / ".sessions.partial"
        if staging.exists():
            shutil.rmtree(staging)
        for session in simulation.sessions:
            render_session(session, staging, config=simulation.config)
        (staging / "sessions").replace(out / "sessions")
        shutil.rmtree(staging)
        paths["sessions"] = out / "sessions"
    paths["dataset"] = simulation.dataset.save(out / "dataset")
    paths["truth"] = simulation.truth.save(out / "truth.json")
    return paths
