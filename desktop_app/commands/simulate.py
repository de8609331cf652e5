"""``engage simulate``: simulated participants with a known reward, as sessions and a dataset.

Writes ``DIR/sessions/*.sqlite`` (raw session files with face rows, input events and
markers, which ``engage fuse --step 1`` turns back into the same states), ``DIR/dataset/``
(the simulator's own fused states, the rigorous basis for recovery) and ``DIR/truth.json``
(weights, parameters and seed; read by ``engage irl eval --truth``).
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate participants with a known reward (sessions, dataset, truth)")
    parser.add_argument("--participants", type=int, default=3, metavar="N",
                        help="participants, one session each (default 3)")
    parser.add_argument("--minutes", type=float, default=10.0, metavar="M",
                        help="minutes per session (default 10)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    parser.add_argument("--out", required=True, metavar="DIR", help="new output folder")
    parser.add_argument("--drift", action="store_true",
                        help="change the reward weights halfway through each session")
    parser.add_argument("--rationality", type=float, default=1.0, metavar="BETA",
                        help="Boltzmann rationality (lower: noisier participants; default 1)")
    parser.add_argument("--no-sessions", action="store_true",
                        help="write only the dataset and the truth, no raw session files")
    parser.set_defaults(handler=simulate_command)


def simulate_command(args: argparse.Namespace) -> int:
    from irl.simulate import SimulationConfig, simulate, write_simulation

    config = SimulationConfig(participants=args.participants, minutes=args.minutes,
                              seed=args.seed, drift=args.drift, rationality=args.rationality)
    simulation = simulate(config)
    paths = write_simulation(simulation, args.out, raw_sessions=not args.no_sessions)
    dataset = simulation.dataset
    drift = (f", reward drift at {simulation.truth.phase_starts_s[1]:g} s"
             if simulation.truth.has_drift else "")
    sys.stdout.write(f"simulated {config.participants} participant(s) x {config.minutes:g} min: "
                     f"{len(dataset)} steps of {config.step_s:g} s, "
                     f"{len(set(dataset.episode.tolist()))} episodes{drift}\n")
    for name, path in paths.items():
        sys.stdout.write(f"  {name:<8} {path}\n")
    return 0
