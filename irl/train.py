"""One entry point to train any reward model on a fused dataset, in one or many processes.

``train(dataset, algo=..., gamma=..., seed=...)`` checks the input, standardises the
features, runs the algorithm (:mod:`irl.maxent`, :mod:`irl.iq`, :mod:`irl.bc`) and returns
a :class:`irl.model_io.RewardModel`. Runs are seeded (torch and a NumPy Generator) and, on
CPU, deterministic: the same data, settings and seed give the same weights.

Run as a module to scale out over processes with DistributedDataParallel (gloo on CPU,
NCCL on GPU)::

    torchrun --nproc_per_node 2 -m irl.train DATASET --algo iq --out MODEL

Every process loads the dataset; ``iq`` and ``bc`` split each global mini-batch between
processes and ``maxent`` splits whole sessions for clustering and transition counting (see
:mod:`irl.distributed`), so N processes reproduce the single-process result up to float
rounding; with fewer sessions than processes, the processes left without one add nothing to
the sums and the result is the same. Process 0 writes the model.

Public API::

    train(dataset: FusedDataset, *, algo: str, gamma: float = 0.9, seed: int = 0,
          epochs: int | None = None, progress: bool = True,
          on_progress: Callable[[dict[str, Any]], None] | None = None,
          head: str | None = None, action_terms: str = "bias", hidden: int = 64,
          n_clusters: int | None = None, lr: float | None = None, batch_size: int = 512,
          smoothing: float = 1.0, stop_tol: float | None = None) -> RewardModel
    check_training_input(dataset, gamma) -> None   (raises TrainingInputError / DatasetError)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fusion.dataset import FusedDataset
from irl import distributed
from irl.bc import fit_bc
from irl.iq import fit_iq, read_out_reward, transitions_of
from irl.maxent import fit_on_steps
from irl.minibatch import ProgressCallback
from irl.model_io import ALGORITHMS, RewardModel
from irl.rewards import HEAD_KINDS, Normaliser, build_reward_head, fit_linear_readout
from sensing.errors import EngageError

log = logging.getLogger(__name__)

READOUT_SAMPLES = 20_000


class TrainingInputError(EngageError):
    """The data or settings cannot train a reward model (say which and how to fix it)."""


def check_training_input(dataset: FusedDataset, gamma: float, *, algo: str = "maxent") -> None:
    """Refuse what no algorithm can learn from, with a message that says why."""
    if algo not in ALGORITHMS:
        raise TrainingInputError(f"unknown algorithm {algo!r}; choose one of "
                                 f"{', '.join(ALGORITHMS)}")
    if not (isinstance(gamma, int | float) and 0.0 <= float(gamma) < 1.0):
        raise TrainingInputError(f"gamma must be in [0, 1), got {gamma}; "
                                 "use for example --gamma 0.9")
    dataset.validate()
    known = dataset.actions[dataset.actions >= 0]
    if known.size == 0:
        raise TrainingInputError("the dataset has no recorded actions; nothing to learn from")
    classes = np.unique(known)
    if classes.size < 2:
        raise TrainingInputError(
            f"every recorded action is {dataset.schema.actions[int(classes[0])]!r}; "
            "a reward cannot be inferred from a single action class, record longer sessions")
    if algo == "iq" and transitions_of(dataset.actions, dataset.session).size == 0:
        raise TrainingInputError("no step has a next step in its session; iq needs transitions")


def default_clusters(steps: int) -> int:
    """Clusters of the maxent abstraction: about sqrt(steps), between 8 and 100."""
    return int(np.clip(round(np.sqrt(steps)), 8, 100))


def train(
    dataset: FusedDataset,
    *,
    algo: str,
    gamma: float = 0.9,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    head: str | None = None,
    action_terms: str = "bias",
    hidden: int = 64,
    n_clusters: int | None = None,
    lr: float | None = None,
    batch_size: int = 512,
    smoothing: float = 1.0,
    stop_tol: float | None = None,
) -> RewardModel:
    """Train ``algo`` ("maxent", "iq" or "bc") on ``dataset``; see the module docstring.

    ``epochs`` is the iteration cap for maxent and the number of passes for iq and bc.
    ``head`` ("linear" or "mlp") applies to maxent (default linear) and bc (default mlp).

    ``progress`` draws a tqdm bar (for the command line). ``on_progress``, for a caller that
    shows progress itself (the desktop app), is called on process 0 only, once per curve
    entry, with a small dict:

    - ``"algo"``: "maxent", "iq" or "bc";
    - ``"step"``: 1, 2, ... (maxent: likelihood evaluations; iq and bc: epochs done);
    - ``"total"``: the cap on steps (maxent usually converges and stops before it);
    - ``"loss"``: maxent's mean demonstrated-action NLL, iq's or bc's mean loss per item
      over the epoch (the curve's ``nll`` or ``loss``);
    - ``"metric"``: "nll" or "loss", the name of that value.

    The callback only observes: weights are the same with or without it.
    """
    check_training_input(dataset, gamma, algo=algo)
    if head is not None and head not in HEAD_KINDS:
        raise TrainingInputError(f"reward head must be one of {HEAD_KINDS}, got {head!r}")
    torch.manual_seed(seed)
    started = time.perf_counter()
    normaliser = Normaliser.fit(dataset.states, dataset.valid)
    x = normaliser.transform(dataset.states, dataset.valid)  # x[T, F]
    n_features, n_actions = dataset.n_features, dataset.n_actions
    settings: dict[str, Any] = {"algo": algo, "gamma": float(gamma), "seed": int(seed),
                                "steps": len(dataset), "world_size": distributed.world_size(),
                                "session_ids": list(dataset.session_ids)}
    arrays: dict[str, np.ndarray] = {}

    if algo == "maxent":
        head_kind = head or "linear"
        network = {"n_features": n_features, "n_actions": n_actions, "head": head_kind,
                   "action_terms": action_terms, "hidden": hidden}
        reward_head = build_reward_head(head_kind, n_features, n_actions,
                                        action_terms=action_terms, hidden=hidden)
        # Moves across item ends within a session count (one planning problem per session),
        # so processes own whole sessions and no counted move straddles two of them.
        mine = distributed.session_shard(dataset.session, dataset.episode)
        if not mine.any():
            # Every statistic is a sum over processes, so an empty shard adds zeros.
            log.info("process %d of %d owns no session (sessions: %d); it adds nothing to "
                     "the counts", distributed.rank(), distributed.world_size(),
                     len(np.unique(dataset.session)))
        clusters = n_clusters or default_clusters(len(dataset))
        fit = fit_on_steps(x[mine], dataset.actions[mine], dataset.episode[mine],
                           n_actions=n_actions, head=reward_head, gamma=gamma,
                           n_clusters=clusters, smoothing=smoothing, seed=seed,
                           lr=lr or 0.05, iterations=epochs or 300,
                           session=dataset.session[mine], progress=progress,
                           on_progress=on_progress)
        networks = {"reward": reward_head}
        curve = fit.curve
        assert fit.centroids is not None
        arrays = {"centroids": fit.centroids.astype(np.float32),
                  "log_policy": fit.values.log_policy.numpy().astype(np.float32)}
        settings.update({"n_clusters": int(fit.centroids.shape[0]), "smoothing": smoothing,
                         "lr": lr or 0.05, "iterations": len(curve)})
    elif algo == "iq":
        network = {"n_features": n_features, "n_actions": n_actions, "hidden": hidden}
        iq_fit = fit_iq(x, dataset.actions, dataset.episode, n_actions=n_actions, gamma=gamma,
                        seed=seed, session=dataset.session, epochs=epochs or 60,
                        batch_size=batch_size, lr=lr or 3e-3, hidden=hidden,
                        stop_tol=stop_tol, progress=progress, on_progress=on_progress)
        networks = {"iq": iq_fit.networks}
        curve = iq_fit.curve
        settings.update({"epochs": len(curve), "batch_size": batch_size, "lr": lr or 3e-3,
                         "temperature": 1.0, "chi2_scale": 0.5})
    else:
        head_kind = head or "mlp"
        network = {"n_features": n_features, "n_actions": n_actions, "head": head_kind,
                   "hidden": hidden}
        bc_fit = fit_bc(x, dataset.actions, n_actions=n_actions, seed=seed, head=head_kind,
                        hidden=hidden, epochs=epochs or 60, batch_size=batch_size,
                        lr=lr or 3e-3, stop_tol=stop_tol, progress=progress,
                        on_progress=on_progress)
        networks = {"policy": bc_fit.policy}
        curve = bc_fit.curve
        settings.update({"epochs": len(curve), "batch_size": batch_size, "lr": lr or 3e-3})

    settings["network"] = network
    settings["train_seconds"] = time.perf_counter() - started
    for module in networks.values():
        module.eval()
    model = RewardModel(algo=algo, schema=dataset.schema, normaliser=normaliser,
                        networks=networks, settings=settings, curve=curve, arrays=arrays)
    if not (algo == "maxent" and network.get("head") == "linear"):
        settings["linear_readout"] = _linear_readout(model, x, seed=seed)
    log.info("trained %s on %d steps in %.1f s", algo, len(dataset), settings["train_seconds"])
    return model


def _linear_readout(model: RewardModel, x: np.ndarray, *, seed: int) -> dict[str, Any]:
    """Fit the interpretable linear head to the model's reward on (a sample of) the states."""
    rng = np.random.default_rng(seed)
    rows = (rng.choice(x.shape[0], READOUT_SAMPLES, replace=False)
            if x.shape[0] > READOUT_SAMPLES else np.arange(x.shape[0]))
    states = torch.from_numpy(x[np.sort(rows)])
    if model.algo == "iq":
        rewards = read_out_reward(model.networks["iq"], states, gamma=model.gamma)
    else:
        rewards = model.rewards_of(states)
    readout = fit_linear_readout(x[np.sort(rows)], rewards.numpy())
    return {"weights": readout["weights"].tolist(),
            "action_bias": readout["action_bias"].tolist(),
            "explained_variance": readout["explained_variance"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m irl.train",
                                     description="Train a reward model (torchrun-ready).")
    parser.add_argument("dataset", help="fused dataset folder")
    parser.add_argument("--algo", required=True, choices=ALGORITHMS)
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--head", choices=HEAD_KINDS, default=None)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m irl.train`` / ``torchrun -m irl.train``: train and (rank 0) save."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    joined = distributed.init_from_environment()
    try:
        dataset = FusedDataset.load(args.dataset)
        model = train(dataset, algo=args.algo, gamma=args.gamma, seed=args.seed,
                      epochs=args.epochs, head=args.head, batch_size=args.batch_size,
                      n_clusters=args.clusters,
                      progress=not args.no_progress and distributed.rank() == 0)
        if distributed.rank() == 0:
            model.save(args.out)
            log.info("wrote %s", args.out)
    except EngageError as error:
        sys.stderr.write(f"irl.train: error: {error}\n")
        return 2
    finally:
        if joined:
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
