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

Two EPIC columns: over every action at each observed (s, s') pair (the target's figure, as
``engage irl eval`` prints it), and over the observed transitions (s, a, s') only
(:func:`irl.metrics.transition_epic`), which does not count differences behaviour cannot
reveal. Then the drift test (``irl.explain.reward_drift``, likelihood ratio per window
boundary) on the drifted simulation, and on the drift-free one to count false flags.

Reference rows, none of them a learner. Three behavioural twins of the truth
(``irl.simulate.behavioural_twins``): rewards under which the participants act exactly as they
do under the truth (the same policy at every latent state), so no method can tell them from it,
yet EPIC can; what they score is what the metric charges for choices behaviour never reveals.
And the best linear reward on the 34 fused features: the least-squares projection of the
reward the participant plans with, E[r | latent state], onto each latent state's mean
standardised features, with the true action costs; it shows whether the learner's features
can express the truth at all.

With ``--latent-oracle`` (about 3 minutes) two more reference rows are added: the same maximum-
likelihood MaxEnt run on the simulator's own latent tabular world with its exact dynamics
(the right abstraction, which no fused-data method has), with a linear reward over the
conditional feature means plus an action bias. It separates what the abstraction costs from
what the data allow: behaviour features of the next state mirror the action just taken, so a
reward on them and a bias on the action are indistinguishable from behaviour, yet EPIC
(dynamics-free) tells them apart. The second ("latent labels") is the same fit on the right
abstraction but with the dynamics counted from the data, as ``maxent`` must, and a reward
over all 34 fused features: it separates the cost of estimating the dynamics from the cost
of clustering.

``--world`` and ``--no-effort`` change the simulated world (its latent factor sizes; queries
and clicks without cost) to see how the figures move with it; the target is stated for the
default world.

Run: python benchmarks/irl_recovery.py [--sessions 10] [--minutes 30] [--seed 0]
                                       [--latent-oracle] [--world R,D,L,P,F,Q] [--no-effort]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fusion.dataset import FusedDataset
from irl.explain import reward_drift
from irl.metrics import pearson, recovery_epic
from irl.rewards import Normaliser
from irl.simulate import (
    N_ACTIONS,
    EngagementEnvironment,
    SimulationConfig,
    SimulationError,
    behavioural_twins,
    check_sizes,
    simulate,
    simulate_session,
)
from irl.train import train

GAMMA = 0.95


def epic_pair(learned: np.ndarray, truth: np.ndarray, dataset: FusedDataset
              ) -> tuple[float, float]:
    """EPIC over every action at the observed (s, s') pairs, as ``engage irl eval`` computes
    it, and over the observed transitions (s, a, s') only."""
    return recovery_epic(learned, truth, dataset.episode, dataset.actions, gamma=GAMMA)


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


def world_sizes(text: str) -> tuple[int, ...]:
    """``R,D,L,P,F,Q`` -> the latent factor sizes with ``prev``; an argparse type, so a bad
    value is one usage error (exit 2)."""
    try:
        return check_sizes((*(int(part) for part in text.split(",")), N_ACTIONS))
    except (ValueError, SimulationError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not six level counts R,D,L,P,F,Q such as 2,2,1,3,2,2 ({error})"
        ) from None


def latent_state_means(dataset: FusedDataset, x: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visited latent states, their step counts and each one's mean of ``x[T, F]``."""
    visited, inverse = np.unique(dataset.extras["latent_state"], return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    means = np.zeros((visited.size, x.shape[1]))
    np.add.at(means, inverse, x)
    return visited, counts, means / counts[:, None]


def best_linear_reward(simulation) -> np.ndarray:
    """r[T, A]: the least-squares projection of E[r | latent state] onto the latent states'
    mean standardised fused features (weighted by visits), plus the true action costs."""
    dataset, truth = simulation.dataset, simulation.truth
    env = EngagementEnvironment(config=simulation.config, settings=simulation.settings)
    x = Normaliser.fit(dataset.states, dataset.valid).transform(dataset.states, dataset.valid)
    visited, counts, means = latent_state_means(dataset, x)
    planned = env.latent_reward(truth.weights[0], truth.interaction,
                                np.zeros(N_ACTIONS))[visited, 0]  # E[r | s] [S_visited]
    design = np.c_[means, np.ones(visited.size)] * np.sqrt(counts)[:, None]
    coefficients, *_ = np.linalg.lstsq(design, planned * np.sqrt(counts), rcond=None)
    return (x @ coefficients[:-1])[:, None] + truth.action_bonus[None, :]


def fit_linear_head(mdp, labels: np.ndarray, actions: np.ndarray):
    """A linear reward head fitted on ``mdp`` (whose state features it reads) to the steps'
    states ``labels[T]`` and ``actions[T]``, with ``maxent``'s objective and priors."""
    from irl.maxent import L2_ACTION, L2_WEIGHTS, fit_action_likelihood
    from irl.rewards import LinearReward

    n_states, n_features = mdp.features.shape
    known = actions >= 0
    counts = np.bincount(labels[known] * N_ACTIONS + actions[known],
                         minlength=n_states * N_ACTIONS).reshape(n_states, N_ACTIONS)
    head = LinearReward(n_features, N_ACTIONS)
    fit_action_likelihood(mdp, torch.from_numpy(counts.astype(np.float64)), head=head,
                          gamma=GAMMA, l2=L2_WEIGHTS, l2_action=L2_ACTION)
    return head


def latent_labels_maxent(simulation) -> np.ndarray:
    """r[T, A]: ``maxent``'s fit on the exact latent states as its abstraction, with the
    transitions counted from the data and a linear reward over all standardised features."""
    from irl.tabular import TabularMDP, empirical_mdp

    dataset = simulation.dataset
    x = Normaliser.fit(dataset.states, dataset.valid).transform(dataset.states, dataset.valid)
    visited, _, means = latent_state_means(dataset, x)
    labels = np.searchsorted(visited, dataset.extras["latent_state"])
    transitions, initial = empirical_mdp(labels, dataset.actions, dataset.session,
                                         n_states=visited.size, n_actions=N_ACTIONS)
    head = fit_linear_head(TabularMDP(transitions, initial, torch.from_numpy(means)), labels,
                           dataset.actions)
    with torch.no_grad():
        return head.to(torch.float64)(torch.from_numpy(x.astype(np.float64))).numpy()


def exact_mdp(env: EngagementEnvironment, features: np.ndarray):
    """The simulator's latent MDP with its exact (sparse) transitions and ``features[S, G]``."""
    from irl.soft_bellman import SparseTransitions
    from irl.tabular import TabularMDP

    transitions = SparseTransitions(next_state=torch.from_numpy(env.next_state),
                                    prob=torch.from_numpy(env.prob))
    return TabularMDP(transitions, torch.full((env.n_latent,), 1.0 / env.n_latent,
                                              dtype=torch.float64), torch.from_numpy(features))


def latent_maxent(simulation) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood MaxEnt IRL on the simulator's latent MDP: weights [F], bias [A].

    The exact latent dynamics (8,064 states by default, successor lists) and, as features,
    E[z | latent state] of the plannable features: the right abstraction, which no fused-data
    method has.
    Fitted like ``maxent`` (every demonstrated action's likelihood under the discounted
    soft-optimal policy, L-BFGS, the same priors), so it measures what exact dynamics and
    the right states give, not an optimiser's luck.
    """
    from fusion.schema import FEATURE_NAMES

    env = EngagementEnvironment(config=simulation.config, settings=simulation.settings)
    names, z = env.standardised_means()  # z[S, G]
    columns = [FEATURE_NAMES.index(name) for name in names]
    dataset = simulation.dataset
    head = fit_linear_head(exact_mdp(env, z), dataset.extras["latent_state"], dataset.actions)
    weights = np.zeros(len(FEATURE_NAMES))
    weights[columns] = head.weight.detach().numpy()
    return weights, head.action_bias.detach().numpy().astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift-windows", type=int, default=6)
    parser.add_argument("--latent-oracle", action="store_true",
                        help="add MaxEnt on the simulator's latent world (slow, minutes)")
    parser.add_argument("--world", type=world_sizes, default=None,
                        help="latent world sizes of relevance,difficulty,length,progress,"
                             "fatigue,depth (default: the simulator's)")
    parser.add_argument("--no-effort", action="store_true",
                        help="participants whose queries and clicks cost nothing")
    args = parser.parse_args()
    world = {"effort": not args.no_effort}
    if args.world:
        world["sizes"] = args.world
    torch.set_num_threads(2)

    started = time.perf_counter()
    simulation = simulate(SimulationConfig(participants=args.sessions, minutes=args.minutes,
                                           seed=args.seed, **world))
    dataset = simulation.dataset
    truth_table = simulation.truth.reward_table(dataset)  # [T, A]
    truth_taken = simulation.truth.true_reward(dataset)
    print(f"simulated {args.sessions} sessions x {args.minutes:g} min: {len(dataset)} steps, "
          f"{dataset.n_features} features, {dataset.n_actions} actions; latent world "
          f"{simulation.config.sizes[:-1]} "
          f"({'with' if simulation.config.effort else 'without'} effort costs) "
          f"({time.perf_counter() - started:.1f} s)")

    rows = []
    for algo in ("maxent", "iq", "bc"):
        began = time.perf_counter()
        model = train(dataset, algo=algo, gamma=GAMMA, seed=args.seed, progress=False)
        seconds = time.perf_counter() - began
        learned = model.score_actions(dataset)
        rows.append((algo, *epic_pair(learned, truth_table, dataset),
                     pearson(model.score(dataset), truth_taken), seconds))
    began = time.perf_counter()
    matched = feature_matching_reward(simulation, dataset)
    rows.append(("feature matching", *epic_pair(matched, truth_table, dataset),
                 pearson(matched, truth_taken), time.perf_counter() - began))
    truth = simulation.truth
    z = (dataset.states.astype(np.float64) - truth.feature_mean) / truth.feature_scale
    taken = np.where(dataset.actions >= 0, dataset.actions, 0)
    steps = np.arange(len(dataset))
    references = []
    for name, table in behavioural_twins(simulation).items():
        references.append((f"twin: {name}", *epic_pair(table, truth_table, dataset),
                           pearson(table[steps, taken], truth_taken), 0.0))
    began = time.perf_counter()
    projected = best_linear_reward(simulation)
    references.append(("best linear reward", *epic_pair(projected, truth_table, dataset),
                       pearson(projected[steps, taken], truth_taken),
                       time.perf_counter() - began))
    if args.latent_oracle:
        began = time.perf_counter()
        labelled = latent_labels_maxent(simulation)
        references.append(("latent labels", *epic_pair(labelled, truth_table, dataset),
                           pearson(labelled[steps, taken], truth_taken),
                           time.perf_counter() - began))
        began = time.perf_counter()
        weights, bias = latent_maxent(simulation)
        oracle = (z @ weights)[:, None] + bias[None, :]
        references.append(("latent maxent", *epic_pair(oracle, truth_table, dataset),
                           pearson(oracle[steps, taken], truth_taken),
                           time.perf_counter() - began))

    print(f"\n{'reward':<24}{'EPIC to truth':>15}{'EPIC observed':>15}{'Pearson r':>12}"
          f"{'train s':>10}")
    for name, epic, observed, r, seconds in rows:
        print(f"{name:<24}{epic:>15.4f}{observed:>15.4f}{r:>12.4f}{seconds:>10.1f}")
    print("references (not learners; twins act exactly like the truth):")
    for name, epic, observed, r, seconds in references:
        print(f"{name:<24}{epic:>15.4f}{observed:>15.4f}{r:>12.4f}{seconds:>10.1f}")
    epic_of = {name: epic for name, epic, *_ in rows}
    observed_of = {name: observed for name, _, observed, *_ in rows}
    for algo in ("maxent", "iq"):
        verdict = "PASS" if epic_of[algo] <= 0.1 else "FAIL"
        print(f"{algo}: EPIC {epic_of[algo]:.4f} (target <= 0.1: {verdict}); ratio to bc "
              f"{epic_of[algo] / epic_of['bc']:.2f}, to feature matching "
              f"{epic_of[algo] / epic_of['feature matching']:.2f}; on observed transitions "
              f"{observed_of[algo]:.4f}")
    twin_epic = {name: epic for name, epic, *_ in references}["twin: both"]
    print(f"twin 'both' acts exactly like the truth yet scores EPIC {twin_epic:.4f}: to meet "
          f"<= 0.1 a learner must also make the choices behaviour never shows as the truth does")

    drifted = simulate(SimulationConfig(participants=args.sessions, minutes=args.minutes,
                                        seed=args.seed + 1, drift=True, **world))
    change_s = drifted.truth.phase_starts_s[1]
    for label, data in (("drift injected", drifted.dataset), ("no drift", dataset)):
        began = time.perf_counter()
        drift = reward_drift(data, n_windows=args.drift_windows, gamma=GAMMA, seed=args.seed)
        print(f"\n{label}: windows of {drift.window_s:g} s; likelihood ratio between "
              f"neighbours {np.round(drift.change_score, 1).tolist()} "
              f"(chi2, {drift.degrees_of_freedom} df); p {np.round(drift.p_value, 4).tolist()}; "
              f"flagged {drift.change_points_s} ({time.perf_counter() - began:.1f} s)")
        if label == "drift injected":
            found = [p for p in drift.change_points_s if abs(p - change_s) <= drift.window_s]
            extra = len(drift.change_points_s) - len(found)
            print(f"drift at {change_s:g} s found within one window: "
                  f"{'PASS' if found else 'FAIL'}"
                  f"{f' ({extra} flagged elsewhere)' if extra else ''}")
        else:
            verdict = "PASS" if not drift.change_points_s else "FAIL"
            print(f"false change points on the drift-free simulation: "
                  f"{len(drift.change_points_s)} ({verdict})")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
