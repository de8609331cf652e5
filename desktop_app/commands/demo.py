"""``engage demo``: the whole pipeline on simulated participants, in about a minute.

Simulates participants with a known reward (:mod:`irl.simulate`), writes their raw session
files, fuses them with :mod:`fusion` exactly as ``engage fuse`` would, trains ``maxent`` and
``iq`` (and ``bc``, the baseline any IRL result must beat), prints how well each recovers the
true reward, and writes the HTML report. No webcam, no network.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from sensing.errors import EngageError

log = logging.getLogger(__name__)

DEMO_MARKER = "engage-demo.json"
DEFAULT_OUT = "engage-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate, fuse, learn and explain rewards end to end (no webcam)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default ./{DEFAULT_OUT}; a previous demo "
                             "there is replaced)")
    parser.add_argument("--participants", type=int, default=3, metavar="N")
    parser.add_argument("--minutes", type=float, default=10.0, metavar="M")
    parser.add_argument("--seed", type=int, default=0, metavar="S")
    parser.add_argument("--gamma", type=float, default=0.95, metavar="G",
                        help="discount for training (the simulated participants use 0.95)")
    parser.add_argument("--quick-report", action="store_true",
                        help="skip the drift and horizon refits in the report")
    parser.set_defaults(handler=demo_command)


def _prepare(out: Path) -> None:
    """Use a new folder, or replace a previous demo's; never touch anything else."""
    if out.exists():
        if not (out / DEMO_MARKER).exists():
            if any(out.iterdir()):
                raise EngageError(f"{out} exists and is not an Engage demo folder; "
                                  "choose another --out")
        else:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def demo_command(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from desktop_app.commands.irl import evaluate_against_truth
    from fusion.fuse import fuse_sessions
    from fusion.settings import FusionSettings
    from irl.explain import algorithm_refit
    from irl.report import write_report
    from irl.simulate import SimulationConfig, simulate, write_simulation
    from irl.train import train

    # The demo's networks are small: one intra-op thread is faster than two on a shared
    # 2-core laptop, where a second spinning thread was measured to slow each step ~50x.
    torch.set_num_threads(1)
    out = Path(args.out).expanduser()
    _prepare(out)
    started = time.perf_counter()

    def say(text: str) -> None:
        sys.stdout.write(f"[{time.perf_counter() - started:5.1f} s] {text}\n")
        sys.stdout.flush()

    config = SimulationConfig(participants=args.participants, minutes=args.minutes,
                              seed=args.seed)
    simulation = simulate(config)
    paths = write_simulation(simulation, out)
    say(f"simulated {config.participants} participants x {config.minutes:g} min -> "
        f"{paths['sessions']}")

    sessions = sorted(paths["sessions"].glob("*.sqlite"))
    settings = FusionSettings(step_s=config.step_s)
    fused, failures = fuse_sessions(sessions, settings=settings, processes=1, progress=False)
    if fused is None or failures:
        reasons = "; ".join(f.message for f in failures) or "no session fused"
        raise EngageError(f"fusion of the simulated sessions failed: {reasons}")
    fused.save(out / "fused")
    agreement = float(np.mean(fused.actions == simulation.dataset.actions)) \
        if len(fused) == len(simulation.dataset) else float("nan")
    say(f"fused {len(sessions)} sessions: {len(fused)} steps, {fused.n_features} features, "
        f"{fused.n_actions} actions (actions agree with the simulator's on {agreement:.1%})")

    models = {}
    for algo in ("maxent", "iq", "bc"):
        # maxent capped at 100 L-BFGS evaluations (it converges well before, in practice).
        model = train(fused, algo=algo, gamma=args.gamma, seed=args.seed, progress=False,
                      epochs=100 if algo == "maxent" else None)
        model.save(out / "models" / algo)
        models[algo] = model
        say(f"trained {algo}")

    results = {algo: evaluate_against_truth(model, fused, simulation.truth)
               for algo, model in models.items()}
    rows = []
    for algo, result in results.items():
        rows.append({"algorithm": algo, "EPIC to truth": result["epic"],
                     "EPIC observed": result["epic_transitions"],
                     "Pearson r": result["pearson"], "action NLL": result["nll"],
                     "action accuracy": result["accuracy"]})
    # The action frequencies alone, on the same steps: a model that predicts actions no
    # better than this has learned nothing about states that prediction can show.
    nan = float("nan")
    base_rates = {"algorithm": "base rates", "EPIC to truth": nan, "EPIC observed": nan,
                  "Pearson r": nan, "action NLL": results["maxent"]["nll_base_rates"],
                  "action accuracy": results["maxent"]["accuracy_base_rates"]}
    sys.stdout.write("\nRecovery of the true reward (EPIC: 0 best, 1 worst, every action at "
                     "each observed step; EPIC observed: only the transitions that happened; "
                     "bc is the imitation baseline; base rates: the action frequencies "
                     "alone)\n")
    headers = list(rows[0])
    sys.stdout.write("  ".join(f"{h:>15}" for h in headers) + "\n")
    for row in [*rows, base_rates]:
        sys.stdout.write("  ".join(
            (f"{row[h]:>15.4f}" if np.isfinite(row[h]) else f"{'':>15}")
            if isinstance(row[h], float) else f"{row[h]:>15}" for h in headers).rstrip()
            + "\n")
    twin_epic, twin_observed = _twin_reference(simulation, gamma=args.gamma)
    sys.stdout.write(f"{'truth twin':>15}  {twin_epic:>15.4f}  {twin_observed:>15.4f}\n"
                     "(truth twin: a reward under which the participants act exactly as under "
                     "the truth, for reference; EPIC counts what behaviour never shows)\n")
    worse = [row["algorithm"] for row in rows if row["action NLL"] > base_rates["action NLL"]]
    if worse:
        # Measured on the demo (irl/maxent.py, fit_on_steps, says why the prior is there):
        # a 10 times weaker bias prior brings maxent's NLL to the base rates' and its EPIC
        # from 0.41 to 0.57; without the prior NLL is 1.48 (base rates 1.59) and EPIC 0.83.
        why = ("; maxent's prior keeps per-action biases small so that the reward lies in "
               "the features, which costs prediction here") if "maxent" in worse else ""
        verb = "predicts" if len(worse) == 1 else "predict"
        sys.stdout.write(f"({', '.join(worse)}: {verb} actions worse than their frequencies "
                         f"alone{why})\n")
    sys.stdout.write("\n")

    # The report explains maxent, the best of the three here; its L-BFGS fits are fast
    # enough to retrain per bootstrap resample, drift window and discount.
    report = write_report(models["maxent"], fused, out / "report.html",
                          refit=algorithm_refit("maxent", seed=args.seed),
                          drift=not args.quick_report, horizon=not args.quick_report,
                          refit_intervals=not args.quick_report,
                          recovery=[*rows, base_rates],
                          seed=args.seed)
    (out / DEMO_MARKER).write_text(json.dumps({
        "participants": config.participants, "minutes": config.minutes, "seed": config.seed,
        "recovery": rows, "twin_reference": {"EPIC to truth": twin_epic,
                                             "EPIC observed": twin_observed},
        "action_base_rates": {"action NLL": base_rates["action NLL"],
                              "action accuracy": base_rates["action accuracy"]},
        "seconds": time.perf_counter() - started}, indent=2))
    say(f"report: {report.resolve()}")
    return 0


def _twin_reference(simulation: Any, *, gamma: float) -> tuple[float, float]:
    """EPIC (every action, observed) of the truth's behavioural twin on the simulator's steps.

    The twin (:func:`irl.simulate.behavioural_twins`, "both") makes the participants act
    exactly as the truth does, so it shows how much of a learner's EPIC behaviour could never
    have revealed.
    """
    from irl.metrics import recovery_epic
    from irl.simulate import behavioural_twins

    dataset = simulation.dataset
    twin = behavioural_twins(simulation)["both"]
    return recovery_epic(twin, simulation.truth.reward_table(dataset), dataset.episode,
                         dataset.actions, gamma=gamma)
