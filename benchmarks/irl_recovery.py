"""Recovery of a known reward from simulated participants, and detection of an injected drift.

Simulated participants (``irl.simulate``: 34 fused features, 7 actions, soft-optimal for a
known linear reward) give 10 sessions of 30 minutes. ``maxent`` and ``iq`` are trained on
them and compared with the truth by EPIC distance (Gleave et al. 2021; coverage: the observed
transitions, as ``engage irl eval`` computes it), against two baselines measured in the same
run: ``bc`` (behaviour cloning, its log-policy read as a reward) and feature matching (the
first step of apprenticeship learning, Abbeel & Ng 2004: w = mean standardised features of
the participants minus those of a uniformly random participant in the same world).
Target: EPIC <= 0.1 for maxent and iq. Then a second simulation whose weights change halfway
through each session: the drift must be flagged within one window of the true change.

Run: python benchmarks/irl_recovery.py [--sessions 10] [--minutes 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fusion.dataset import FusedDataset
from irl.explain import iq_refit, reward_drift
from irl.metrics import epic_distance, pearson
from irl.rewards import Normaliser
from irl.simulate import (
    N_ACTIONS,
    EngagementEnvironment,
    SimulationConfig,
    simulate,
    simulate_session,
)
from irl.train import train

GAMMA = 0.95


def epic_on_transitions(learned: np.ndarray, truth: np.ndarray, dataset: FusedDataset) -> float:
    """EPIC over the observed (s, s') pairs within episodes, uniform actions."""
    has_next = np.flatnonzero(np.r_[dataset.episode[1:] == dataset.episode[:-1], False])
    return epic_distance(learned[has_next], truth[has_next], gamma=GAMMA,
                         next_a=learned[has_next + 1], next_b=truth[has_next + 1])


def feature_matching_reward(simulation, dataset: FusedDataset) -> np.ndarray:
    """r[T]: Abbeel & Ng's first projection step against a uniformly random participant."""
    env = EngagementEnvironment(config=simulation.config, settings=simulation.settings)
    uniform = np.full((env.next_state.shape[0], N_ACTIONS), 1.0 / N_ACTIONS)
    rng = np.random.default_rng(12345)
    random_sessions = [simulate_session(env, [uniform], rng, participant=f"random{k}",
                                        session_id=f"random{k}", drift_step=None)
                       for k in range(3)]
    normaliser = Normaliser.fit(dataset.states, dataset.valid)
    expert = normaliser.transform(dataset.states, dataset.valid).mean(axis=0)
    random_states = np.concatenate([s.states for s in random_sessions])
    random_valid = np.concatenate([s.valid for s in random_sessions])
    baseline = normaliser.transform(random_states, random_valid).mean(axis=0)
    weights = expert - baseline
    return normaliser.transform(dataset.states, dataset.valid) @ weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift-windows", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(2)

    started = time.perf_counter()
    simulation = simulate(SimulationConfig(participants=args.sessions, minutes=args.minutes,
                                           seed=args.seed))
    dataset = simulation.dataset
    truth_table = simulation.truth.reward_table(dataset)  # [T, A]
    truth_taken = simulation.truth.true_reward(dataset)
    print(f"simulated {args.sessions} sessions x {args.minutes:g} min: {len(dataset)} steps, "
          f"{dataset.n_features} features, {dataset.n_actions} actions "
          f"({time.perf_counter() - started:.1f} s)")

    rows = []
    for algo in ("maxent", "iq", "bc"):
        began = time.perf_counter()
        model = train(dataset, algo=algo, gamma=GAMMA, seed=args.seed, progress=False)
        seconds = time.perf_counter() - began
        learned = model.score_actions(dataset)
        rows.append((algo, epic_on_transitions(learned, truth_table, dataset),
                     pearson(model.score(dataset), truth_taken), seconds))
    began = time.perf_counter()
    matched = feature_matching_reward(simulation, dataset)
    rows.append(("feature matching", epic_on_transitions(matched, truth_table, dataset),
                 pearson(matched, truth_taken), time.perf_counter() - began))

    print(f"\n{'reward':<18}{'EPIC to truth':>15}{'Pearson r':>12}{'train s':>10}")
    for name, epic, r, seconds in rows:
        print(f"{name:<18}{epic:>15.4f}{r:>12.4f}{seconds:>10.1f}")
    epic_of = {name: epic for name, epic, _, _ in rows}
    for algo in ("maxent", "iq"):
        verdict = "PASS" if epic_of[algo] <= 0.1 else "FAIL"
        print(f"{algo}: EPIC {epic_of[algo]:.4f} (target <= 0.1: {verdict}); ratio to bc "
              f"{epic_of[algo] / epic_of['bc']:.2f}, to feature matching "
              f"{epic_of[algo] / epic_of['feature matching']:.2f}")

    drifted = simulate(SimulationConfig(participants=args.sessions, minutes=args.minutes,
                                        seed=args.seed + 1, drift=True))
    change_s = drifted.truth.phase_starts_s[1]
    began = time.perf_counter()
    drift = reward_drift(drifted.dataset, n_windows=args.drift_windows, gamma=GAMMA,
                         refit=iq_refit(epochs=30, seed=args.seed))
    found = [p for p in drift.change_points_s if abs(p - change_s) <= drift.window_s]
    print(f"\ndrift injected at {change_s:g} s; windows of {drift.window_s:g} s; "
          f"EPIC between neighbours {np.round(drift.change_score, 3).tolist()}; "
          f"robust z {np.round(drift.robust_z, 2).tolist()}; flagged "
          f"{drift.change_points_s} ({time.perf_counter() - began:.1f} s)")
    print(f"drift found within one window: {'PASS' if found else 'FAIL'}"
          f"{' (also flagged elsewhere)' if len(drift.change_points_s) > len(found) else ''}")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
