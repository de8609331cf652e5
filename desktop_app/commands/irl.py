"""``engage irl train | score | eval | report``: learn, apply, check and explain reward models.

``train`` fits maxent, iq or bc to a fused dataset and writes a model folder; ``score``
prints each step's reward as CSV; ``eval`` compares a model with a simulator's known truth
(EPIC distance, Pearson, action NLL and accuracy) or, on a real study's data where no truth
exists, checks only how well it predicts the actions of a dataset (ideally one held out from
training) against the dataset's own action base rates; as a table or one JSON object;
``report`` writes the self-contained HTML explanation.

torch and the IRL modules are imported inside the handlers: importing torch costs seconds,
and every ``engage`` invocation imports this module to register the sub-command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fusion.dataset import FusedDataset
from sensing.errors import EngageError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("irl", help="train, score, evaluate and explain reward models")
    actions = parser.add_subparsers(dest="irl_command", metavar="ACTION",
                                    parser_class=type(parser))
    parser.set_defaults(handler=lambda args: _usage(parser))

    train = actions.add_parser("train", help="fit a reward model to a fused dataset")
    train.add_argument("dataset", metavar="DATASET", help="fused dataset folder")
    train.add_argument("--algo", required=True, choices=("maxent", "iq", "bc"))
    train.add_argument("--gamma", type=float, default=0.9, help="discount in [0, 1)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=None,
                       help="iterations (maxent) or passes over the data (iq, bc)")
    train.add_argument("--head", choices=("linear", "mlp"), default=None,
                       help="reward head for maxent (default linear) or policy for bc (mlp)")
    train.add_argument("--clusters", type=int, default=None,
                       help="maxent: states of the finite abstraction (default sqrt(T))")
    train.add_argument("--out", required=True, metavar="MODEL", help="model folder to write")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(handler=train_command)

    score = actions.add_parser("score", help="print the reward of each step as CSV")
    score.add_argument("model", metavar="MODEL")
    score.add_argument("dataset", metavar="DATASET")
    score.add_argument("--out", default=None, help="write the CSV here instead of stdout")
    score.set_defaults(handler=score_command)

    evaluate = actions.add_parser(
        "eval", help="compare a model with a simulation's truth, or check its action "
                     "predictions on (held-out) data")
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("--truth", default=None, metavar="TRUTH",
                          help="truth.json written by `engage simulate` (or its folder); "
                               "without it only the action predictions are checked")
    evaluate.add_argument("--dataset", default=None, metavar="DATASET",
                          help="dataset to evaluate on (default: the dataset/ beside TRUTH; "
                               "required without --truth)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=eval_command)

    report = actions.add_parser("report", help="write the HTML explanation of a model")
    report.add_argument("model", metavar="MODEL")
    report.add_argument("dataset", metavar="DATASET", nargs="?", default=None)
    report.add_argument("--out", required=True, help="HTML file to write")
    report.set_defaults(handler=report_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


def train_command(args: argparse.Namespace) -> int:
    from irl.train import train

    _threads()
    dataset = FusedDataset.load(args.dataset)
    model = train(dataset, algo=args.algo, gamma=args.gamma, seed=args.seed,
                  epochs=args.epochs, head=args.head, n_clusters=args.clusters,
                  progress=not args.no_progress)
    path = model.save(args.out)
    last = model.curve[-1] if model.curve else {}
    loss = last.get("nll", last.get("loss", float("nan")))
    sys.stdout.write(f"trained {args.algo} on {len(dataset)} steps in "
                     f"{model.settings['train_seconds']:.1f} s (final loss {loss:.4f}); "
                     f"wrote {path}\n")
    return 0


def score_command(args: argparse.Namespace) -> int:
    from irl.model_io import RewardModel

    model = RewardModel.load(args.model)
    dataset = FusedDataset.load(args.dataset)
    rewards = model.score(dataset)
    names = dataset.schema.actions
    lines = ["step,episode,t_s,action,reward"]
    for step in range(len(dataset)):
        action = int(dataset.actions[step])
        lines.append(f"{step},{int(dataset.episode[step])},{dataset.t_s[step]:.3f},"
                     f"{names[action] if action >= 0 else ''},{rewards[step]:.6g}")
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        sys.stdout.write(f"wrote {len(dataset)} rewards to {args.out}\n")
    else:
        sys.stdout.write(text)
    return 0


def evaluate_prediction(model: Any, dataset: FusedDataset) -> dict[str, Any]:
    """How well ``model``'s policy predicts the labelled actions of ``dataset``.

    What a real study can check, having no true reward: action NLL and accuracy beside the
    same figures for the dataset's own action base rates (always guessing the commonest
    action, with its frequencies as probabilities), a reference the model must beat to have
    learned anything about states. The base rates are fitted on the evaluated data itself, so
    they are an optimistic reference on held-out data.
    """
    from irl.metrics import action_accuracy, action_nll

    known = dataset.actions[dataset.actions >= 0]
    if known.size == 0:
        raise EngageError("the dataset has no step with an action label; fuse it with action "
                          "labels (engage fuse) before evaluating")
    frequencies = np.bincount(known, minlength=dataset.n_actions) / known.size
    with np.errstate(divide="ignore"):
        base_rates = np.broadcast_to(np.log(frequencies), (len(dataset), dataset.n_actions))
    log_probs = model.action_log_probs(dataset)
    trained_on = set(model.settings.get("session_ids", []))
    return {
        "algo": model.algo,
        "steps": len(dataset),
        "labelled_steps": int(known.size),
        "nll": action_nll(log_probs, dataset.actions),
        "accuracy": action_accuracy(log_probs, dataset.actions),
        "nll_base_rates": action_nll(base_rates, dataset.actions),
        "accuracy_base_rates": action_accuracy(base_rates, dataset.actions),
        "linear_explained_variance": model.linear_weights()["explained_variance"],
        "held_out": not (trained_on & set(dataset.session_ids)),
        "gamma": model.gamma,
    }


def evaluate_against_truth(model: Any, dataset: FusedDataset, truth: Any) -> dict[str, Any]:
    """Recovery and prediction metrics of ``model`` on ``dataset`` against ``truth``.

    ``epic`` uses the dataset's observed state pairs (s_t, s_t+1 in one episode) with every
    action as coverage; ``epic_transitions`` only the observed (s_t, a_t, s_t+1), which does
    not count differences behaviour cannot reveal (:func:`irl.metrics.transition_epic`).
    Pearson compares the reward of the taken actions. The prediction metrics are those of
    :func:`evaluate_prediction`.
    """
    from irl.metrics import pearson, recovery_epic

    learned = model.score_actions(dataset)  # [T, A]
    true_table = np.asarray(truth.reward_table(dataset), dtype=np.float64)  # [T, A]
    if not np.any(dataset.episode[1:] == dataset.episode[:-1]):
        raise EngageError("the dataset has no step with a next step; cannot evaluate")
    epic, epic_transitions = recovery_epic(learned, true_table, dataset.episode,
                                           dataset.actions, gamma=model.gamma)
    return {
        **evaluate_prediction(model, dataset),
        "epic": epic,
        "epic_transitions": epic_transitions,
        "pearson": pearson(model.score(dataset), truth.true_reward(dataset)),
    }


def eval_command(args: argparse.Namespace) -> int:
    from irl.model_io import RewardModel
    from irl.truth import load_truth

    if args.truth is None and args.dataset is None:
        raise EngageError("engage irl eval needs --truth (a simulation's truth.json) or "
                          "--dataset (a fused dataset to check the action predictions on)")
    model = RewardModel.load(args.model)
    truth = load_truth(args.truth) if args.truth is not None else None
    if args.dataset is not None:
        folder = Path(args.dataset)
    else:
        truth_path = Path(args.truth)
        folder = (truth_path if truth_path.is_dir() else truth_path.parent) / "dataset"
    dataset = FusedDataset.load(folder)
    if truth is None:
        result = {**evaluate_prediction(model, dataset),
                  "epic": None, "epic_transitions": None, "pearson": None}
    else:
        result = evaluate_against_truth(model, dataset, truth)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    rows = [("algorithm", result["algo"]),
            ("steps (with an action label)", f"{result['steps']} ({result['labelled_steps']})")]
    if truth is not None:
        rows += [("EPIC distance (0 best, 1 worst)", f"{result['epic']:.4f}"),
                 ("EPIC on observed transitions", f"{result['epic_transitions']:.4f}"),
                 ("Pearson r of rewards", f"{result['pearson']:.4f}")]
    rows += [("action NLL (nats)", f"{result['nll']:.4f}"),
             ("  base rates' NLL", f"{result['nll_base_rates']:.4f}"),
             ("action accuracy", f"{result['accuracy']:.4f}"),
             ("  base rates' accuracy", f"{result['accuracy_base_rates']:.4f}"),
             ("linear head R^2", f"{result['linear_explained_variance']:.4f}"),
             ("held out from training", "yes" if result["held_out"] else "no")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        sys.stdout.write(f"{name:<{width}}  {value}\n")
    if truth is None:
        sys.stdout.write("no truth given: the reward itself is not checked, only how well "
                         "its policy predicts the actions\n")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from irl.model_io import RewardModel

    try:
        from irl.report import write_report
    except ImportError as error:
        raise EngageError(f"the report module is not available ({error})") from None
    model = RewardModel.load(args.model)
    dataset = FusedDataset.load(args.dataset) if args.dataset else None
    path = write_report(model, dataset, args.out)
    sys.stdout.write(f"wrote {path or args.out}\n")
    return 0
