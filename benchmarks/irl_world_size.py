"""What recovery the data allow when the learner sees the exact latent state, by world size.

Why: ``irl_recovery.py`` measures maxent and iq on fused features, where a simulated
participant plans on a latent state (an item's relevance and progress among it) that the
features only partly show. This script removes that part of the problem: the learner is
told the exact latent state of every step and the conditional means of the plannable
features there, so what is left is estimating the dynamics from the demonstrations.

For each latent world (sizes of relevance, difficulty, length, progress, fatigue, depth;
``prev`` is always the 7 actions) the participants of ``irl.simulate`` (same reward weights,
same soft-optimal policy, ``latent_paths``: no rendering) give ``--sessions`` x
``--minutes`` of steps. Maximum-likelihood MaxEnt (maxent's objective and priors,
``irl.maxent.fit_action_likelihood``) is fitted twice on the same steps:
- counted: transitions counted from the steps over the visited latent states, smoothed as
  maxent smooths its clusters (``irl.tabular.empirical_mdp``), which is all a learner has;
- exact: the simulator's own transitions, which no learner has.
Both EPIC columns as ``irl_recovery.py`` prints them (every action at each observed (s, s'),
then the observed transitions only). Each world runs with and without the effort costs of
``type_query`` and ``click``: with them, the behaviour features of the next state mirror the
action, so a cost on the action and a reward on the state after it are the same to behaviour
and the first EPIC column charges the difference even to the exact fit.

About 35 minutes on a 2-core machine, nearly all of it the default world (2,000 visited
states counted, 8,064 exact); the smaller worlds take seconds each.

Run: python benchmarks/irl_world_size.py [--sessions 10] [--minutes 30] [--seed 0]
                                         [--worlds 3,3,2,4,4,4 2,2,2,3,2,3 2,2,1,3,2,2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from irl_recovery import (  # sibling script in benchmarks/
    GAMMA,
    exact_mdp,
    fit_linear_head,
    world_sizes,
)

from fusion.settings import FusionSettings
from irl.metrics import recovery_epic
from irl.simulate import (
    DEFAULT_WEIGHTS,
    FACTOR_SIZES,
    N_ACTIONS,
    EngagementEnvironment,
    SimulationConfig,
    latent_paths,
)
from irl.tabular import TabularMDP, empirical_mdp


def reward_at_steps(head, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """r[T, A] of a fitted linear head at each step's state ``labels[T]``."""
    with torch.no_grad():
        return head.to(torch.float64)(torch.from_numpy(features[labels])).numpy()


def world_row(sizes: tuple[int, ...], *, effort: bool, sessions: int, minutes: float,
              seed: int) -> dict[str, float]:
    """Simulate one world and fit both ways; the figures of one printed row."""
    config = SimulationConfig(participants=sessions, minutes=minutes, seed=seed, sizes=sizes,
                              effort=effort)
    env = EngagementEnvironment(config=config, settings=FusionSettings())
    truth = env.latent_reward(env.weight_vector(DEFAULT_WEIGHTS), None,
                              env.action_bonus)  # [S, A]
    policy = env.solve(truth, config.rationality)
    latent, actions, session = latent_paths(env, policy, np.random.default_rng(seed),
                                            sessions=sessions)
    _, z = env.standardised_means()
    visited, labels = np.unique(latent, return_inverse=True)
    row: dict[str, float] = {"states": float(env.n_latent), "visited": float(visited.size)}

    began = time.perf_counter()
    transitions, initial = empirical_mdp(labels, actions, session, n_states=visited.size,
                                         n_actions=N_ACTIONS)
    head = fit_linear_head(TabularMDP(transitions, initial, torch.from_numpy(z[visited])),
                           labels, actions)
    counted = reward_at_steps(head, z[visited], labels)
    row["counted"], row["counted_observed"] = recovery_epic(
        counted, truth[latent], session, actions, gamma=GAMMA)
    row["counted_s"] = time.perf_counter() - began

    exact = reward_at_steps(fit_linear_head(exact_mdp(env, z), latent, actions), z, latent)
    row["exact"], row["exact_observed"] = recovery_epic(exact, truth[latent], session, actions,
                                                        gamma=GAMMA)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    default_world = ",".join(str(size) for size in FACTOR_SIZES[:-1])
    parser.add_argument("--worlds", nargs="+", type=world_sizes,
                        default=[world_sizes(text) for text in
                                 (default_world, "2,2,2,3,2,3", "2,2,1,3,2,2")],
                        help="sizes of relevance,difficulty,length,progress,fatigue,depth")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    print(f"{args.sessions} sessions x {args.minutes:g} min per world, seed {args.seed}; "
          f"the learner is told the exact latent state")
    print(f"\n{'world':<14}{'effort':>7}{'states':>8}{'visited':>9}{'counted':>10}"
          f"{'observed':>10}{'exact':>9}{'observed':>10}{'counted s':>11}")
    for sizes in args.worlds:
        world = ",".join(str(size) for size in sizes[:-1])
        for effort in (False, True):
            row = world_row(sizes, effort=effort, sessions=args.sessions,
                            minutes=args.minutes, seed=args.seed)
            print(f"{world:<14}{'yes' if effort else 'no':>7}{row['states']:>8.0f}"
                  f"{row['visited']:>9.0f}{row['counted']:>10.4f}"
                  f"{row['counted_observed']:>10.4f}{row['exact']:>9.4f}"
                  f"{row['exact_observed']:>10.4f}{row['counted_s']:>11.1f}", flush=True)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
