"""The known reward of simulated participants, saved beside a simulation as ``truth.json``.

A simulated participant (``irl.simulate``) is rewarded by a linear function of the
*standardised* features of the fused state, plus an optional per-action term and an optional
product of two standardised features (the "nonlinear" term):

    r(x, a) = sum_f w_f * (x_f - mu_f) / sigma_f  +  c_a  +  v * z_i * z_j

where ``mu`` and ``sigma`` are constants of the simulator (stored here), not statistics of any
dataset, so the reward is one fixed function of the state. A value the dataset marks invalid
(no face in the step, say) is scored as ``missing_value_f``, the raw value the participant
planned with when the feature is unobserved (``smile`` 0.05 with no face); a truth without
``missing_value`` (older files) scores it as ``mu_f``, i.e. z = 0. With drift, the weights change at
given session times: phase ``k`` holds for the steps whose window ends after
``phase_starts_s[k]`` and no later than the next start.

Interface the metrics read (``engage irl eval MODEL --truth DIR/truth.json``)::

    truth = load_truth(path)                 # -> Truth
    truth.true_reward(dataset)    -> rewards[T]     float64, r(state_t, action_t); steps whose
                                                    action is NO_ACTION get the state part only
    truth.reward_table(dataset)   -> rewards[T, A]  float64, r(state_t, a) for every action
    truth.reward(dataset)         -> the same (irl.metrics.TrueReward protocol)
    truth.state_reward(dataset)   -> rewards[T]     float64, the action-free part
    truth.weights_standardised(phase=0) -> dict feature name -> weight

The dataset must carry every feature the truth names (matched by name, so a dataset fused
from the simulator's raw sessions works as well as the simulator's own); otherwise
:class:`TruthError` says which are missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusion.dataset import NO_ACTION, FusedDataset
from sensing.errors import EngageError

TRUTH_FORMAT = "engage.simulation-truth"
TRUTH_VERSION = 1


class TruthError(EngageError):
    """A truth file is missing, malformed, or does not fit the dataset it is applied to."""


@dataclass
class Truth:
    """The reward, parameters and seed that generated a simulation.

    ``weights[k, F]`` are the weights of phase ``k`` on standardised features;
    ``feature_mean[F]`` and ``feature_scale[F]`` standardise raw features;
    ``action_bonus[A]`` is c_a; ``interaction`` is ``(feature_i, feature_j, v)`` or None;
    ``missing_value[F]`` is the raw value an invalid feature is scored as (None: the mean).
    """

    feature_names: tuple[str, ...]
    action_names: tuple[str, ...]
    weights: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    action_bonus: np.ndarray
    phase_starts_s: tuple[float, ...] = (0.0,)
    interaction: tuple[str, str, float] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    missing_value: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.feature_names = tuple(self.feature_names)
        self.action_names = tuple(self.action_names)
        self.weights = np.atleast_2d(np.asarray(self.weights, dtype=np.float64))
        self.feature_mean = np.asarray(self.feature_mean, dtype=np.float64)
        self.feature_scale = np.asarray(self.feature_scale, dtype=np.float64)
        self.action_bonus = np.asarray(self.action_bonus, dtype=np.float64)
        self.phase_starts_s = tuple(float(s) for s in self.phase_starts_s)
        n_features = len(self.feature_names)
        if self.missing_value is None:
            self.missing_value = self.feature_mean.copy()
        self.missing_value = np.asarray(self.missing_value, dtype=np.float64)
        if self.missing_value.shape != (n_features,) or not np.all(
                np.isfinite(self.missing_value)):
            raise TruthError("truth missing_value must hold one finite value per feature")
        if self.weights.shape != (len(self.phase_starts_s), n_features):
            raise TruthError(f"truth weights have shape {self.weights.shape}, expected "
                             f"({len(self.phase_starts_s)}, {n_features})")
        if self.feature_mean.shape != (n_features,) or self.feature_scale.shape != (n_features,):
            raise TruthError("truth feature_mean/feature_scale do not match its features")
        if np.any(self.feature_scale <= 0):
            raise TruthError("truth feature_scale must be positive")
        if self.action_bonus.shape != (len(self.action_names),):
            raise TruthError("truth action_bonus does not match its actions")

    @property
    def has_drift(self) -> bool:
        return len(self.phase_starts_s) > 1

    def weights_standardised(self, phase: int = 0) -> dict[str, float]:
        """Weight per feature name (on standardised features) of one phase."""
        return {name: float(w) for name, w in zip(self.feature_names, self.weights[phase],
                                                  strict=True)}

    def _standardised(self, dataset: FusedDataset) -> np.ndarray:
        """The truth's features of the dataset, standardised: [T, F] float64."""
        names = dataset.schema.feature_names
        missing = [name for name in self.feature_names if name not in names]
        if missing:
            raise TruthError(f"the dataset lacks feature(s) {', '.join(missing)} that the true "
                             f"reward uses; use a dataset of schema with these features")
        columns = [names.index(name) for name in self.feature_names]
        raw = np.asarray(dataset.states[:, columns], dtype=np.float64)
        valid = np.asarray(dataset.valid[:, columns], dtype=bool)
        z = (raw - self.feature_mean) / self.feature_scale
        # An invalid value counts as what the participant planned with when it is unobserved.
        z_missing = (self.missing_value - self.feature_mean) / self.feature_scale  # [F]
        return np.where(valid & np.isfinite(z), z, z_missing[None, :])

    def phase_of(self, t_s: np.ndarray) -> np.ndarray:
        """Phase index per step, [T] int64, from each step's session time.

        A step's ``t_s`` is the end of its window, so the step whose window ends exactly at
        a phase start still belongs to the phase before (the participant chose in it with
        the earlier weights).
        """
        starts = np.asarray(self.phase_starts_s, dtype=np.float64)
        return np.clip(np.searchsorted(starts, np.asarray(t_s, dtype=np.float64),
                                       side="left") - 1, 0, len(starts) - 1)

    def state_reward(self, dataset: FusedDataset) -> np.ndarray:
        """The action-free part of the reward per step, [T] float64."""
        z = self._standardised(dataset)
        weights = self.weights[self.phase_of(dataset.t_s)]  # [T, F]
        reward = np.einsum("tf,tf->t", z, weights)
        if self.interaction is not None:
            first, second, value = self.interaction
            i, j = self.feature_names.index(first), self.feature_names.index(second)
            reward = reward + value * z[:, i] * z[:, j]
        return reward

    def reward_table(self, dataset: FusedDataset) -> np.ndarray:
        """r(state_t, a) for every action a, [T, A] float64."""
        if tuple(dataset.schema.actions) != self.action_names:
            raise TruthError(f"the dataset's actions {list(dataset.schema.actions)} differ from "
                             f"the truth's {list(self.action_names)}")
        return self.state_reward(dataset)[:, None] + self.action_bonus[None, :]

    def reward(self, dataset: FusedDataset) -> np.ndarray:
        """r[T, A]: :meth:`reward_table`, the ``irl.metrics.TrueReward`` protocol."""
        return self.reward_table(dataset)

    def true_reward(self, dataset: FusedDataset) -> np.ndarray:
        """r(state_t, action_t) per step, [T] float64 (state part where no action)."""
        table = self.reward_table(dataset)
        actions = np.asarray(dataset.actions)
        known = actions != NO_ACTION
        reward = table[:, 0] - self.action_bonus[0]
        reward[known] = table[np.flatnonzero(known), actions[known]]
        return reward

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRUTH_FORMAT,
            "format_version": TRUTH_VERSION,
            "feature_names": list(self.feature_names),
            "action_names": list(self.action_names),
            "weights": self.weights.tolist(),
            "feature_mean": self.feature_mean.tolist(),
            "feature_scale": self.feature_scale.tolist(),
            "missing_value": np.asarray(self.missing_value).tolist(),
            "action_bonus": self.action_bonus.tolist(),
            "phase_starts_s": list(self.phase_starts_s),
            "interaction": None if self.interaction is None else list(self.interaction),
            "parameters": self.parameters,
            "seed": self.seed,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``truth.json`` atomically."""
        target = Path(path)
        staging = target.with_name(f".{target.name}.partial")
        staging.write_text(json.dumps(self.to_dict(), indent=2))
        staging.replace(target)
        return target

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Truth:
        if data.get("format") != TRUTH_FORMAT:
            raise TruthError("not an Engage simulation truth (format field missing or wrong)")
        if int(data.get("format_version", 0)) > TRUTH_VERSION:
            raise TruthError("the truth file was written by a newer Engage; upgrade to read it")
        try:
            interaction = data.get("interaction")
            return cls(
                feature_names=tuple(data["feature_names"]),
                action_names=tuple(data["action_names"]),
                weights=np.asarray(data["weights"], dtype=np.float64),
                feature_mean=np.asarray(data["feature_mean"], dtype=np.float64),
                feature_scale=np.asarray(data["feature_scale"], dtype=np.float64),
                action_bonus=np.asarray(data["action_bonus"], dtype=np.float64),
                phase_starts_s=tuple(data.get("phase_starts_s", (0.0,))),
                interaction=None if interaction is None else (
                    str(interaction[0]), str(interaction[1]), float(interaction[2])),
                parameters=dict(data.get("parameters", {})),
                seed=int(data.get("seed", 0)),
                missing_value=None if data.get("missing_value") is None else np.asarray(
                    data["missing_value"], dtype=np.float64),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise TruthError(f"malformed truth: {error}") from None


def load_truth(path: str | os.PathLike[str]) -> Truth:
    """Read a ``truth.json`` (or the simulation folder holding one)."""
    source = Path(path)
    if source.is_dir():
        source = source / "truth.json"
    if not source.exists():
        raise TruthError(f"no truth file at {source}; `engage simulate` writes DIR/truth.json")
    try:
        data = json.loads(source.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise TruthError(f"{source} cannot be read as JSON: {error}") from None
    if not isinstance(data, dict):
        raise TruthError(f"{source} is not a truth file")
    return Truth.from_dict(data)


def true_reward(dataset: FusedDataset, truth: Truth | str | os.PathLike[str]) -> np.ndarray:
    """r(state_t, action_t) per step, [T], for a truth object or a truth file path."""
    resolved = truth if isinstance(truth, Truth) else load_truth(truth)
    return resolved.true_reward(dataset)
