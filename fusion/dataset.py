"""The fused dataset: the one type that fusion produces and IRL, exports and reports read.

A dataset is a sequence of fixed-length steps. Step ``t`` has a state vector (the features
of the schema, computed only from data up to the end of the step), a validity mask per
feature, the action the participant took in the following step, an episode id and a
session index. The schema names every feature with its unit, modality and description, and
the action set, so that a model trained on one dataset can refuse another.

On disk a dataset is a folder holding ``arrays.npz`` and ``dataset.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensing.errors import EngageError

FORMAT_NAME = "engage.fused-dataset"
FORMAT_VERSION = 1
MODALITIES: tuple[str, ...] = ("vision", "behaviour", "content")
NO_ACTION = -1


class DatasetError(EngageError):
    """A dataset is missing, malformed, or inconsistent with what was asked of it."""


def read_folder_meta(source: Path, *, meta_name: str, format_name: str, format_version: int,
                     what: str, hint: str, error: type[EngageError] = DatasetError
                     ) -> dict[str, Any]:
    """The JSON description of an output folder, checked to be of the kind and version asked.

    ``what`` names the kind for messages ("a fused dataset"); ``hint`` says how to make one.
    """
    meta_path = source / meta_name
    if not meta_path.exists():
        raise error(f"{source} is not {what} (no {meta_name}); {hint}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as problem:
        raise error(f"{meta_path} cannot be read: {problem}") from None
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise error(f"{source} is not {what}")
    if int(meta.get("format_version", 0)) > format_version:
        raise error(f"{source} was written by a newer Engage; upgrade to read it")
    return meta


@contextmanager
def staged_folder(target: str | os.PathLike[str], *, replaceable: str | None = None,
                  error: type[EngageError] = DatasetError) -> Iterator[Path]:
    """Yield a hidden folder beside ``target`` that becomes ``target`` only on success.

    A reader never sees a half-written output: on an exception the staging folder is
    removed and ``target`` is left as it was. An existing, non-empty ``target`` is refused
    unless it holds the file named ``replaceable`` (an earlier output of the same kind),
    in which case it is replaced whole once the new one is complete.
    """
    folder = Path(target)
    if folder.exists():
        if not folder.is_dir():
            raise error(f"{folder} is a file; choose a folder to write into")
        if any(folder.iterdir()) and not (replaceable and (folder / replaceable).exists()):
            raise error(f"{folder} already exists and is not empty; choose a new or empty "
                        "output folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                        dir=folder.parent))
    except OSError as problem:
        raise error(f"cannot write into {folder.parent}: {problem.strerror}; choose a "
                    "writable output folder") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if folder.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old",
                                        dir=folder.parent))
        folder.replace(retired / folder.name)
        staging.replace(folder)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.replace(folder)


@dataclass(frozen=True)
class FeatureSpec:
    """One column of the state vector."""

    name: str
    unit: str
    modality: str
    description: str

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"feature {self.name}: modality {self.modality!r} not in {MODALITIES}")


@dataclass(frozen=True)
class DatasetSchema:
    """The named, versioned feature set and action set of a dataset."""

    name: str
    version: str
    features: tuple[FeatureSpec, ...]
    actions: tuple[str, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features)

    def feature_index(self, name: str) -> int:
        try:
            return self.feature_names.index(name)
        except ValueError:
            raise DatasetError(f"feature {name!r} is not in schema {self.name} "
                               f"v{self.version}") from None

    def modality_of(self) -> np.ndarray:
        """Modality name per feature, [F]."""
        return np.array([spec.modality for spec in self.features])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "features": [vars(spec) for spec in self.features],
            "actions": list(self.actions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSchema:
        try:
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                features=tuple(FeatureSpec(**spec) for spec in data["features"]),
                actions=tuple(str(action) for action in data["actions"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"malformed dataset schema: {error}") from None

    def fingerprint(self) -> str:
        """Hash of features and actions: equal exactly when two schemas are interchangeable."""
        canonical = json.dumps(
            {"features": [[s.name, s.unit, s.modality] for s in self.features],
             "actions": list(self.actions)},
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class FusedDataset:
    """Fixed-step states and actions of one or more sessions.

    Arrays, all with the same first axis T (steps):
    ``t_s[T]`` float64 end of the step in seconds since its session started;
    ``states[T, F]`` float32; ``valid[T, F]`` bool, False where a value is missing (no face,
    uncalibrated gaze, paused, stream not consented) and the state holds a neutral fill;
    ``actions[T]`` int64 index into ``schema.actions`` or ``NO_ACTION``;
    ``episode[T]`` int64, non-decreasing, unique across sessions;
    ``session[T]`` int32 index into ``session_ids``.
    ``extras`` holds further per-step arrays (for example ``engagement`` E, or a simulator's
    ``reward_true``).
    """

    t_s: np.ndarray
    states: np.ndarray
    valid: np.ndarray
    actions: np.ndarray
    episode: np.ndarray
    session: np.ndarray
    schema: DatasetSchema
    session_ids: tuple[str, ...]
    participants: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t_s = np.asarray(self.t_s, dtype=np.float64)
        self.states = np.asarray(self.states, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.actions = np.asarray(self.actions, dtype=np.int64)
        self.episode = np.asarray(self.episode, dtype=np.int64)
        self.session = np.asarray(self.session, dtype=np.int32)
        self.session_ids = tuple(self.session_ids)
        self.participants = tuple(self.participants)

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.schema.features)

    @property
    def n_actions(self) -> int:
        return len(self.schema.actions)

    def validate(self) -> FusedDataset:
        """Check shapes and contents; raise :class:`DatasetError` saying what is wrong."""
        steps, features = len(self), self.n_features
        if steps == 0:
            raise DatasetError("the dataset is empty: no steps to learn from")
        if self.states.shape != (steps, features):
            raise DatasetError(f"states has shape {self.states.shape}, expected "
                               f"({steps}, {features}) from the schema")
        if self.valid.shape != self.states.shape:
            raise DatasetError(f"valid has shape {self.valid.shape}, expected {self.states.shape}")
        for name in ("actions", "episode", "session"):
            if getattr(self, name).shape != (steps,):
                raise DatasetError(f"{name} has shape {getattr(self, name).shape}, "
                                   f"expected ({steps},)")
        bad = ~np.isfinite(self.states) & self.valid
        if bad.any():
            step, column = np.argwhere(bad)[0]
            raise DatasetError(
                f"{int(bad.sum())} values are NaN or infinite where the mask says valid "
                f"(first: step {step}, feature {self.schema.features[column].name}); "
                "re-run fusion or mark them invalid"
            )
        known = self.actions[self.actions != NO_ACTION]
        if known.size and (known.min() < 0 or known.max() >= self.n_actions):
            raise DatasetError(f"actions outside 0..{self.n_actions - 1} of the schema")
        if np.any(np.diff(self.episode) < 0):
            raise DatasetError("episode ids must not decrease along the steps")
        if self.session.size and (self.session.min() < 0
                                  or self.session.max() >= len(self.session_ids)):
            raise DatasetError("session index outside the listed session ids")
        for name, values in self.extras.items():
            if np.asarray(values).shape[0] != steps:
                raise DatasetError(f"extra {name!r} has {np.asarray(values).shape[0]} rows, "
                                   f"expected {steps}")
        return self

    def episodes(self) -> Iterator[slice]:
        """Slices of consecutive steps sharing an episode id, in order."""
        if len(self) == 0:
            return
        starts = np.flatnonzero(np.r_[True, self.episode[1:] != self.episode[:-1]])
        ends = np.r_[starts[1:], len(self)]
        for start, end in zip(starts, ends, strict=True):
            yield slice(int(start), int(end))

    def select(self, index: np.ndarray | slice) -> FusedDataset:
        """A dataset of the chosen steps (boolean mask, indices or a slice)."""
        return FusedDataset(
            t_s=self.t_s[index], states=self.states[index], valid=self.valid[index],
            actions=self.actions[index], episode=self.episode[index],
            session=self.session[index], schema=self.schema, session_ids=self.session_ids,
            participants=self.participants, settings=dict(self.settings),
            extras={name: np.asarray(values)[index] for name, values in self.extras.items()},
        )

    @staticmethod
    def concat(parts: Sequence[FusedDataset]) -> FusedDataset:
        """Join datasets with one schema, renumbering sessions and episodes to stay unique."""
        if not parts:
            raise DatasetError("nothing to join: no datasets given")
        schema = parts[0].schema
        for part in parts[1:]:
            if part.schema.fingerprint() != schema.fingerprint():
                raise DatasetError("cannot join datasets with different schemas")
        session_ids: list[str] = []
        participants: list[str] = []
        sessions, episodes = [], []
        episode_offset = 0
        for part in parts:
            sessions.append(part.session + len(session_ids))
            session_ids.extend(part.session_ids)
            participants.extend(part.participants)
            if len(part):
                _, dense = np.unique(part.episode, return_inverse=True)
                episodes.append(dense + episode_offset)
                episode_offset += int(dense.max()) + 1
            else:
                episodes.append(part.episode)
        extra_names = set.intersection(*(set(part.extras) for part in parts))
        return FusedDataset(
            t_s=np.concatenate([p.t_s for p in parts]),
            states=np.concatenate([p.states for p in parts]),
            valid=np.concatenate([p.valid for p in parts]),
            actions=np.concatenate([p.actions for p in parts]),
            episode=np.concatenate(episodes),
            session=np.concatenate(sessions),
            schema=schema, session_ids=tuple(session_ids), participants=tuple(participants),
            settings=dict(parts[0].settings),
            extras={name: np.concatenate([np.asarray(p.extras[name]) for p in parts])
                    for name in sorted(extra_names)},
        )

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the dataset to ``folder``; the folder appears only once complete."""
        with staged_folder(folder, replaceable="dataset.json") as staging:
            self._write(staging)
        return Path(folder)

    def _write(self, staging: Path) -> None:
        arrays = {
            "t_s": self.t_s, "states": self.states, "valid": self.valid,
            "actions": self.actions, "episode": self.episode, "session": self.session,
        }
        arrays.update({f"extra__{name}": np.asarray(v) for name, v in self.extras.items()})
        np.savez(staging / "arrays.npz", **arrays)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "schema": self.schema.to_dict(),
            "schema_fingerprint": self.schema.fingerprint(),
            "session_ids": list(self.session_ids),
            "participants": list(self.participants),
            "settings": self.settings,
            "extras": sorted(self.extras),
            "steps": len(self),
        }
        (staging / "dataset.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> FusedDataset:
        """Read a dataset folder written by :meth:`save`."""
        source = Path(folder)
        meta = read_folder_meta(source, meta_name="dataset.json", format_name=FORMAT_NAME,
                                format_version=FORMAT_VERSION, what="a fused dataset",
                                hint="create one with `engage fuse`")
        try:
            with np.load(source / "arrays.npz", allow_pickle=False) as arrays:
                loaded = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as error:
            raise DatasetError(f"{source}/arrays.npz cannot be read: {error}") from None
        extras = {name[len("extra__"):]: values for name, values in loaded.items()
                  if name.startswith("extra__")}
        return cls(
            t_s=loaded["t_s"], states=loaded["states"], valid=loaded["valid"],
            actions=loaded["actions"], episode=loaded["episode"], session=loaded["session"],
            schema=DatasetSchema.from_dict(meta["schema"]),
            session_ids=tuple(meta["session_ids"]), participants=tuple(meta["participants"]),
            settings=meta.get("settings", {}), extras=extras,
        )
