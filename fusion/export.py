"""Exports of a fused dataset: Parquet (hive-partitioned), CSV, NPZ (offline RL), Minari.

Every export is written into a hidden staging folder next to the target and renamed into
place only when complete, so an interrupted export never leaves a folder that looks whole.
Exports hold derived features only; face meshes go out only when asked
(``include_landmarks``) and only if the dataset carries them.

* Parquet: ``participant=P/session=S/part-0.parquet`` (hive partitioning), one row per step,
  with the schema, action names and fusion settings as JSON in the Parquet key-value metadata
  (key ``engage``) of every file and of ``_common_metadata``. Readable as it is by
  ``pyarrow.dataset.dataset(path, partitioning="hive")`` and DuckDB's
  ``read_parquet('path/**/*.parquet', hive_partitioning = true)``.
* CSV: ``steps.csv`` with the same columns, and ``dataset.json`` with the metadata.
* NPZ: the D4RL offline-RL convention (Fu et al. 2020): ``observations[N, F]``,
  ``actions[N]``, ``rewards[N]``, ``terminals[N]``, ``timeouts[N]``, ``next_observations[N, F]``
  over the steps that have an action, plus ``feature_names``, ``action_names``, ``valid``,
  ``episode``, ``session``, ``t_s``. ``rewards`` is the dataset's ``reward_true`` extra when a
  simulator wrote one, else the engagement E of the next state (a proxy, stated in
  ``reward_source``). ``terminals`` marks the last step of an episode ended by new content,
  ``timeouts`` the last step of a session or before a pause (truncation, not an MDP end).
* Minari (optional extra ``minari``): see :func:`export_minari`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusion.dataset import NO_ACTION, FusedDataset, staged_folder
from sensing.errors import EngageError

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("parquet", "csv", "npz", "minari")
METADATA_KEY = b"engage"


class ExportError(EngageError):
    """An export cannot be written where or how it was asked."""


def _metadata(dataset: FusedDataset) -> dict[str, Any]:
    return {
        "schema": dataset.schema.to_dict(),
        "schema_fingerprint": dataset.schema.fingerprint(),
        "settings": dataset.settings,
        "session_ids": list(dataset.session_ids),
        "participants": list(dataset.participants),
        "steps": len(dataset),
    }


def _partition_value(text: str) -> str:
    """A hive partition value: safe characters kept, anything else percent-encoded."""
    return re.sub(r"[^A-Za-z0-9_.\-]", lambda m: "".join(f"%{b:02X}" for b in
                                                         m.group().encode()), text) or "_"


def check_output_folder(target: str | os.PathLike[str]) -> Path:
    """Refuse an output folder that exists with content or cannot be created, before work."""
    folder = Path(target)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportError(f"{folder} already exists and is not empty; choose a new output "
                          "folder")
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ExportError(f"cannot write into {parent}: it is a file, not a folder; choose an "
                          "output folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write into {parent}: permission denied; choose a writable "
                          "output folder")
    return folder


def step_table(dataset: FusedDataset, *, include_landmarks: bool = False) -> dict[str, Any]:
    """Columns of one row per step: ids, time, episode, action, features, masks, extras."""
    names = dataset.schema.feature_names
    action_names = np.array([*dataset.schema.actions, ""])  # index -1 -> ""
    columns: dict[str, Any] = {
        "participant": np.array(dataset.participants)[dataset.session],
        "session_id": np.array(dataset.session_ids)[dataset.session],
        "step": np.concatenate([np.arange(s.stop - s.start) for s in _session_slices(dataset)])
        if len(dataset) else np.zeros(0, np.int64),
        "t_s": dataset.t_s,
        "episode": dataset.episode,
        "action": dataset.actions,
        "action_name": action_names[dataset.actions],
    }
    for column, name in enumerate(names):
        columns[name] = dataset.states[:, column]
    for column, name in enumerate(names):
        columns[f"valid_{name}"] = dataset.valid[:, column]
    for name, values in sorted(dataset.extras.items()):
        values = np.asarray(values)
        if name == "landmarks":
            if include_landmarks:
                columns["landmarks"] = values.reshape(len(dataset), -1)
            continue
        if values.ndim == 1:
            columns[name] = values
    return columns


def _session_slices(dataset: FusedDataset) -> list[slice]:
    starts = np.flatnonzero(np.r_[True, dataset.session[1:] != dataset.session[:-1]])
    ends = np.r_[starts[1:], len(dataset)]
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _check_landmarks(dataset: FusedDataset, include_landmarks: bool) -> None:
    if include_landmarks and "landmarks" not in dataset.extras:
        raise ExportError("--include-landmarks asked for face meshes, but the dataset has none "
                          "(fuse with include_landmarks and a session with landmark consent)")


def export_parquet(dataset: FusedDataset, out: str | os.PathLike[str], *,
                   include_landmarks: bool = False) -> Path:
    """Hive-partitioned Parquet dataset (participant, session) with metadata; returns out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_landmarks(dataset, include_landmarks)
    columns = step_table(dataset, include_landmarks=include_landmarks)
    metadata = {METADATA_KEY: json.dumps(_metadata(dataset), default=str).encode()}
    with staged_folder(check_output_folder(out), error=ExportError) as folder:
        schema = None
        for part in _session_slices(dataset):
            row = {k: v[part] for k, v in columns.items()}
            participant, session_id = str(row.pop("participant")[0]), str(
                row.pop("session_id")[0])
            arrays = {k: (pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])
                          if k == "landmarks" else pa.array(v)) for k, v in row.items()}
            table = pa.table(arrays).replace_schema_metadata(metadata)
            schema = table.schema
            target = (folder / f"participant={_partition_value(participant)}"
                      / f"session={_partition_value(session_id)}")
            target.mkdir(parents=True)
            pq.write_table(table, target / "part-0.parquet")
        if schema is not None:
            full = schema.append(pa.field("participant", pa.string())).append(
                pa.field("session", pa.string())).with_metadata(metadata)
            pq.write_metadata(full, folder / "_common_metadata")
    return Path(out)


def export_csv(dataset: FusedDataset, out: str | os.PathLike[str], *,
               include_landmarks: bool = False) -> Path:
    """``steps.csv`` (one row per step) and ``dataset.json`` (schema, settings) in ``out``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _check_landmarks(dataset, include_landmarks)
    columns = step_table(dataset, include_landmarks=False)
    with staged_folder(check_output_folder(out), error=ExportError) as folder:
        pcsv.write_csv(pa.table(columns), folder / "steps.csv")
        if include_landmarks:
            np.save(folder / "landmarks.npy", np.asarray(dataset.extras["landmarks"]))
        (folder / "dataset.json").write_text(json.dumps(_metadata(dataset), indent=2,
                                                        default=str))
    return Path(out)


def offline_rl_arrays(dataset: FusedDataset) -> dict[str, np.ndarray]:
    """Transitions in the D4RL convention over steps with an action (see module docstring)."""
    steps = len(dataset)
    index = np.flatnonzero(dataset.actions != NO_ACTION)
    # A step with an action always has a following step of the same session (by fusion).
    index = index[index + 1 < steps]
    index = index[dataset.session[index + 1] == dataset.session[index]]
    nxt = index + 1
    if "reward_true" in dataset.extras:
        rewards = np.asarray(dataset.extras["reward_true"], dtype=np.float32)[index]
        source = "reward_true"
    elif "engagement" in dataset.extras:
        rewards = np.asarray(dataset.extras["engagement"], dtype=np.float32)[nxt]
        source = "engagement of the next state"
    else:
        rewards = np.zeros(index.size, dtype=np.float32)
        source = "none (zeros)"
    has_next_action = np.zeros(steps, dtype=bool)
    has_next_action[index] = True
    continues = np.r_[has_next_action[1:], False][index]  # the next step is itself a transition
    terminals = dataset.episode[nxt] != dataset.episode[index]
    timeouts = ~terminals & ~continues
    return {
        "observations": dataset.states[index],
        "actions": dataset.actions[index],
        "rewards": rewards,
        "terminals": terminals,
        "timeouts": timeouts,
        "next_observations": dataset.states[nxt],
        "valid": dataset.valid[index],
        "next_valid": dataset.valid[nxt],
        "episode": dataset.episode[index],
        "session": dataset.session[index],
        "t_s": dataset.t_s[index],
        "feature_names": np.array(dataset.schema.feature_names),
        "action_names": np.array(dataset.schema.actions),
        "session_ids": np.array(dataset.session_ids),
        "reward_source": np.array(source),
    }


def export_npz(dataset: FusedDataset, out: str | os.PathLike[str], *,
               include_landmarks: bool = False) -> Path:
    """``dataset.npz`` (offline-RL arrays) and ``dataset.json`` in ``out``."""
    _check_landmarks(dataset, include_landmarks)
    arrays = offline_rl_arrays(dataset)
    if include_landmarks:
        arrays["landmarks"] = np.asarray(dataset.extras["landmarks"])
    with staged_folder(check_output_folder(out), error=ExportError) as folder:
        np.savez_compressed(folder / "dataset.npz", **arrays)
        (folder / "dataset.json").write_text(json.dumps(_metadata(dataset), indent=2,
                                                        default=str))
    return Path(out)


def export_minari(dataset: FusedDataset, out: str | os.PathLike[str], *,
                  include_landmarks: bool = False, dataset_id: str = "engage/fused-v0") -> Path:
    """A Minari dataset (Farama) that ``minari.load_dataset`` reads with
    ``MINARI_DATASETS_PATH=out``: one episode per fused episode, Box observations over the
    schema's features, Discrete actions over its action set."""
    try:
        import gymnasium as gym
        import minari
        from minari.data_collector import EpisodeBuffer
    except ImportError:
        raise ExportError("Minari export needs the optional extra: pip install "
                          "'engage[minari]' (minari and gymnasium)") from None
    if include_landmarks:
        raise ExportError("Minari export carries derived features only; drop "
                          "--include-landmarks or export Parquet/NPZ")
    arrays = offline_rl_arrays(dataset)
    observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(dataset.n_features,),
                                       dtype=np.float32)
    action_space = gym.spaces.Discrete(dataset.n_actions)
    ends = np.flatnonzero(arrays["terminals"] | arrays["timeouts"])
    starts = np.r_[0, ends[:-1] + 1]
    buffers = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        piece = slice(int(start), int(end) + 1)
        observations = np.concatenate([arrays["observations"][piece],
                                       arrays["next_observations"][piece][-1:]])
        buffers.append(EpisodeBuffer(
            id=number,
            observations=observations.astype(np.float32),
            actions=arrays["actions"][piece], rewards=arrays["rewards"][piece],
            terminations=arrays["terminals"][piece], truncations=arrays["timeouts"][piece],
            infos={}))
    with staged_folder(check_output_folder(out), error=ExportError) as folder:
        previous = os.environ.get("MINARI_DATASETS_PATH")
        os.environ["MINARI_DATASETS_PATH"] = str(folder)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # author, permalink: not ours
                minari.create_dataset_from_buffers(
                    dataset_id=dataset_id, buffer=buffers,
                    observation_space=observation_space, action_space=action_space,
                    algorithm_name="engage.fusion", data_format="arrow",
                    description=json.dumps(_metadata(dataset), default=str)[:10_000])
        finally:
            if previous is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = previous
    return Path(out)


EXPORTERS = {"parquet": export_parquet, "csv": export_csv, "npz": export_npz,
             "minari": export_minari}


def export(dataset: FusedDataset, out: str | os.PathLike[str], *, format: str,
           include_landmarks: bool = False) -> Path:
    """Write ``dataset`` to the folder ``out`` in one of :data:`FORMATS`."""
    if format not in EXPORTERS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    return EXPORTERS[format](dataset, out, include_landmarks=include_landmarks)
