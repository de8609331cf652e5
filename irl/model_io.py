"""The trained reward model: what it computes, and its folder on disk.

A :class:`RewardModel` bundles the networks an algorithm learned with everything needed to
apply them to new data exactly as in training: the dataset schema (and its fingerprint, so a
model refuses data with other features or actions), the feature normalisation, the settings
and the training curve. One class serves all algorithms; ``algo`` decides how rewards and
action probabilities are read from the networks:

- ``maxent``: reward = the head r(x)[A]; policy = the soft-optimal policy of the nearest
  cluster of the tabular abstraction.
- ``iq``: reward = Q(s, a) - gamma g(s, a) (:func:`irl.iq.read_out_reward`); policy =
  softmax(Q / tau).
- ``bc``: policy = the classifier; reward = log pi(a | s) (see :mod:`irl.bc`).

On disk (written atomically: a staging folder renamed into place)::

    MODEL/model.json   format, algo, schema, fingerprint, normaliser, settings, curve
    MODEL/weights.pt   state dicts of the networks (loaded with weights_only=True)
    MODEL/arrays.npz   arrays such as cluster centroids and the tabular policy

Public API::

    RewardModel.save(folder) -> Path;  RewardModel.load(folder) -> RewardModel
    model.score(dataset) -> rewards[T]          (reward of the action taken)
    model.score_actions(dataset) -> rewards[T, A]
    model.action_log_probs(dataset) -> log pi[T, A]
    model.linear_weights() -> {"features", "weights", "action_bias", "explained_variance"}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fusion.dataset import DatasetSchema, FusedDataset, read_folder_meta, staged_folder
from irl.iq import IQNetworks, read_out_reward
from irl.rewards import Normaliser, build_reward_head
from sensing.errors import EngageError

FORMAT_NAME = "engage.reward-model"
FORMAT_VERSION = 1
ALGORITHMS = ("maxent", "iq", "bc")


class ModelError(EngageError):
    """A reward model folder is missing or unreadable."""


class SchemaMismatchError(EngageError):
    """A dataset's features or actions differ from those the model was trained on."""


def build_networks(algo: str, spec: dict[str, Any]) -> dict[str, nn.Module]:
    """Recreate the (untrained) networks an algorithm uses from their saved specification."""
    n_features, n_actions = int(spec["n_features"]), int(spec["n_actions"])
    if algo == "maxent":
        return {"reward": build_reward_head(spec["head"], n_features, n_actions,
                                            action_terms=spec["action_terms"],
                                            hidden=int(spec["hidden"]))}
    if algo == "iq":
        return {"iq": IQNetworks(n_features, n_actions, hidden=int(spec["hidden"]))}
    if algo == "bc":
        return {"policy": build_reward_head(spec["head"], n_features, n_actions,
                                            action_terms="full", hidden=int(spec["hidden"]))}
    raise ModelError(f"unknown algorithm {algo!r}; expected one of {ALGORITHMS}")


@dataclass
class RewardModel:
    """A learned reward (and policy) over a dataset schema; see the module docstring."""

    algo: str
    schema: DatasetSchema
    normaliser: Normaliser
    networks: dict[str, nn.Module]
    settings: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return self.schema.fingerprint()

    @property
    def gamma(self) -> float:
        return float(self.settings["gamma"])

    def check_dataset(self, dataset: FusedDataset) -> FusedDataset:
        """Validate ``dataset`` and make sure it has this model's schema."""
        if dataset.schema.fingerprint() != self.fingerprint:
            raise SchemaMismatchError(
                f"dataset schema {dataset.schema.name} v{dataset.schema.version} "
                f"(fingerprint {dataset.schema.fingerprint()}) differs from the model's "
                f"{self.schema.name} v{self.schema.version} ({self.fingerprint}); "
                "fuse the data with the schema the model was trained on or retrain")
        return dataset.validate()

    def standardise(self, dataset: FusedDataset) -> torch.Tensor:
        """x[T, F] float32 as the networks saw it in training."""
        self.check_dataset(dataset)
        return torch.from_numpy(self.normaliser.transform(dataset.states, dataset.valid))

    @torch.no_grad()
    def rewards_of(self, x: torch.Tensor) -> torch.Tensor:
        """r[N, A] for standardised states x[N, F]."""
        if self.algo == "maxent":
            return self.networks["reward"](x)
        if self.algo == "iq":
            return read_out_reward(self.networks["iq"], x, gamma=self.gamma)
        return self.log_probs_of(x)

    @torch.no_grad()
    def log_probs_of(self, x: torch.Tensor) -> torch.Tensor:
        """log pi[N, A] for standardised states x[N, F]."""
        if self.algo == "maxent":
            centroids = torch.from_numpy(self.arrays["centroids"]).to(x.dtype)  # [k, F]
            nearest = torch.cdist(x, centroids).argmin(dim=1)  # [N]
            return torch.from_numpy(self.arrays["log_policy"])[nearest].to(x.dtype)
        if self.algo == "iq":
            temperature = float(self.settings.get("temperature", 1.0))
            return torch.log_softmax(self.networks["iq"].q(x) / temperature, dim=1)
        return torch.log_softmax(self.networks["policy"](x), dim=1)

    def score_actions(self, dataset: FusedDataset) -> np.ndarray:
        """Reward of every action at every step: r[T, A] float64."""
        return self.rewards_of(self.standardise(dataset)).numpy().astype(np.float64)

    def score(self, dataset: FusedDataset) -> np.ndarray:
        """Reward of the action taken at each step, r[T]; where no action was recorded, the
        expectation under the model's policy."""
        x = self.standardise(dataset)
        rewards = self.rewards_of(x).numpy().astype(np.float64)  # [T, A]
        policy = self.log_probs_of(x).exp().numpy().astype(np.float64)  # [T, A]
        expected = (rewards * policy).sum(axis=1)
        taken = dataset.actions >= 0
        out = expected.copy()
        out[taken] = rewards[np.flatnonzero(taken), dataset.actions[taken]]
        return out

    def action_log_probs(self, dataset: FusedDataset) -> np.ndarray:
        """log pi(a | s_t): [T, A] float64."""
        return self.log_probs_of(self.standardise(dataset)).numpy().astype(np.float64)

    def linear_weights(self) -> dict[str, Any]:
        """Per-feature weights on standardised features, per-action bias, and R^2 of that
        linear description (1.0 when the reward head itself is linear)."""
        names = list(self.schema.feature_names)
        head = self.networks.get("reward")
        if self.algo == "maxent" and self.settings["network"]["head"] == "linear":
            assert head is not None
            return {"features": names, "weights": head.weight.detach().numpy().tolist(),
                    "action_bias": head.action_bias.detach().numpy().tolist(),
                    "explained_variance": 1.0}
        readout = self.settings.get("linear_readout", {})
        return {"features": names, "weights": list(readout.get("weights", [])),
                "action_bias": list(readout.get("action_bias", [])),
                "explained_variance": float(readout.get("explained_variance", float("nan")))}

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model folder; it appears only once complete."""
        with staged_folder(folder, replaceable="model.json", error=ModelError) as staging:
            self._write(staging)
        return Path(folder)

    def _write(self, staging: Path) -> None:
        torch.save({name: module.state_dict() for name, module in self.networks.items()},
                   staging / "weights.pt")
        np.savez(staging / "arrays.npz", **self.arrays)
        meta = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "algo": self.algo,
            "schema": self.schema.to_dict(), "schema_fingerprint": self.fingerprint,
            "normaliser": self.normaliser.to_dict(), "settings": self.settings,
            "curve": self.curve,
        }
        (staging / "model.json").write_text(json.dumps(meta, indent=2, default=_jsonable))

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RewardModel:
        """Read a folder written by :meth:`save`; networks are restored bit for bit."""
        source = Path(folder)
        meta_path = source / "model.json"
        meta = read_folder_meta(source, meta_name="model.json", format_name=FORMAT_NAME,
                                format_version=FORMAT_VERSION, what="a reward model",
                                hint="train one with `engage irl train`", error=ModelError)
        schema = DatasetSchema.from_dict(meta["schema"])
        if schema.fingerprint() != meta.get("schema_fingerprint"):
            raise ModelError(f"{meta_path}: schema and fingerprint disagree; the file was "
                             "edited or damaged, retrain the model")
        networks = build_networks(meta["algo"], meta["settings"]["network"])
        try:
            states = torch.load(source / "weights.pt", weights_only=True)
            for name, module in networks.items():
                module.load_state_dict(states[name])
            with np.load(source / "arrays.npz", allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except (OSError, KeyError, RuntimeError, ValueError) as error:
            raise ModelError(f"{source}: weights cannot be read ({error}); retrain") from None
        for module in networks.values():
            module.eval()
        return cls(algo=meta["algo"], schema=schema,
                   normaliser=Normaliser.from_dict(meta["normaliser"]), networks=networks,
                   settings=meta["settings"], curve=meta.get("curve", []), arrays=arrays)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
