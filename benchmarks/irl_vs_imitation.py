"""Our vectorised MaxEnt IRL against the `imitation` library's MCEIRL, side by side.

Random tabular MDPs (states x actions, horizon 50, linear state features, each (s, a)
reaching 5 random states); an expert acts soft-optimally for a linear reward over a 50-step
horizon; the same sampled demonstrations (200 episodes: 50 states with their actions, plus
the state reached after the last action, which imitation's Trajectory format requires and
ours ignores) go to both learners.

Fairness. Both learners run to the stopping rule `imitation` implements: the Euclidean norm
of the feature-expectation gap (= the gradient of the MCE objective for a linear reward) at
most TOL x the occupancy mass (H + 1 = 51 for imitation, which counts the final state; 50 for
ours, which counts steps with an action), ours with a 10 times smaller TOL (more work for
ours, never less). imitation's second,
state-occupancy L-inf rule is disabled (linf_eps=0) so that it cannot stop earlier on a
looser criterion. Each uses its own default optimiser (ours: L-BFGS on the convex dual, see
irl/maxent.py; imitation: Adam lr 0.01) and its default evaluation cap (1000; imitation's
`train(max_iter=1000)`). A learner that reaches the cap is marked "no" under conv: its wall
time is then a lower bound on its time to converge, and the speed-up a lower bound too; its
EPIC is then that of an early-stopped iterate, which may land nearer or farther from the truth
than the optimum both learners aim at (at 256x6 its iterate at the cap scored EPIC 0.0167
against ours 0.0168; run to its own rule with ``--max-iter 6000`` it converged in 1,342
iterations at 0.0169).
"evals" counts evaluations of the objective's gradient (one soft backward pass and one
forward pass each; imitation does exactly one per iteration, L-BFGS one per line-search
trial). Both learners are warmed up once on a small MDP before anything is timed, both
work in float64 on one thread. Wall time excludes building the MDP and demonstrations,
includes everything each learner does with them (ours: converting P to successor lists).

`imitation` is a benchmark-only dependency, installed in a separate virtual environment that
sees the system packages (so torch stays the system's 2.13.0)::

    python -m venv --system-site-packages /work/venvs/imitation
    /work/venvs/imitation/bin/pip install -c <(echo torch==2.13.0) imitation
    /work/venvs/imitation/bin/python benchmarks/irl_vs_imitation.py

Usage: python benchmarks/irl_vs_imitation.py [--sizes 64x4,256x6,1024x8] [--max-iter 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from irl.maxent import mce_irl
from irl.metrics import epic_distance, expected_value_difference, pearson
from irl.rewards import LinearReward
from irl.soft_bellman import soft_value_iteration
from irl.tabular import Demonstrations, random_mdp, sample_demonstrations

HORIZON = 50
FEATURES = 8
EPISODES = 200
TOL = 1e-4
# Ours stops at a 10 times tighter gap than imitation's rule: more work for ours, never less,
# so that a learner stopped early cannot lose recovery to one that ran on to its cap.
OUR_TOL = TOL / 10


Result = tuple[np.ndarray, float, int, bool]  # reward[S], wall seconds, evaluations, converged


def run_ours(mdp, demos, max_iter: int) -> Result:
    torch.manual_seed(0)
    head = LinearReward(FEATURES, mdp.n_actions, action_terms="none")
    started = time.perf_counter()
    fit = mce_irl(mdp, demos, head=head, horizon=HORIZON, iterations=max_iter, tol=OUR_TOL)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        reward = head(mdp.features.float())[:, 0].double().numpy()
    return reward, seconds, len(fit.curve), fit.curve[-1]["gap"] < OUR_TOL


def run_imitation(mdp, states_full, actions, max_iter: int) -> Result:
    from imitation.algorithms.mce_irl import MCEIRL
    from imitation.data.types import Trajectory
    from imitation.rewards.reward_nets import BasicRewardNet
    from seals.base_envs import TabularModelPOMDP

    env = TabularModelPOMDP(
        transition_matrix=mdp.transitions.numpy(),
        observation_matrix=mdp.features.numpy().astype(np.float32),
        reward_matrix=np.zeros(mdp.n_states), horizon=HORIZON,
        initial_state_dist=mdp.initial.numpy())
    trajectories = [Trajectory(obs=states_full[i], acts=actions[i], infos=None, terminal=True)
                    for i in range(states_full.shape[0])]
    torch.manual_seed(0)
    net = BasicRewardNet(env.observation_space, env.action_space, hid_sizes=[],
                         use_action=False, use_next_state=False, use_done=False).double()
    # The same stopping rule: relative feature gap TOL times imitation's occupancy mass.
    learner = MCEIRL(trajectories, env, net, rng=np.random.default_rng(0), discount=1.0,
                     grad_l2_eps=TOL * (HORIZON + 1), linf_eps=0.0, log_interval=None)
    iterations = 0
    original_step = learner._train_step

    def counted(*args, **kwargs):
        nonlocal iterations
        iterations += 1
        return original_step(*args, **kwargs)

    learner._train_step = counted
    started = time.perf_counter()
    learner.train(max_iter=max_iter)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        obs = torch.as_tensor(env.observation_matrix, dtype=net.dtype)
        reward = net(obs, None, None, None).reshape(-1).double().numpy()
    gradient = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    return reward, seconds, iterations, float(gradient.norm()) <= TOL * (HORIZON + 1)


def problem(n_states: int, n_actions: int):
    """The MDP, the true state reward r[S] and the expert demonstrations of one size."""
    mdp = random_mdp(n_states, n_actions, FEATURES, seed=n_states + n_actions)
    rng = np.random.default_rng(n_states)
    true_weights = torch.from_numpy(rng.normal(size=FEATURES))
    true_reward = mdp.features @ true_weights  # r[s]
    # The expert plans exactly HORIZON steps; one more (uniform, discarded) step only adds
    # the state after the last action, which imitation's trajectories carry.
    expert = soft_value_iteration(true_reward, mdp.transitions, horizon=HORIZON)
    after_last = torch.full((1, n_states, n_actions), 1.0 / n_actions, dtype=torch.float64)
    sampled = sample_demonstrations(mdp, torch.cat([expert.policy, after_last]),
                                    n_episodes=EPISODES, horizon=HORIZON + 1, seed=1)
    demos = Demonstrations(sampled.states[:, :HORIZON], sampled.actions[:, :HORIZON])
    return mdp, true_reward, demos, sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64x4,256x6,1024x8")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import imitation
        version = imitation.__version__
    except ImportError:
        version = None
    print(f"imitation: {version or 'NOT INSTALLED'}; torch {torch.__version__}; "
          f"threads {args.threads}; horizon {HORIZON}; features {FEATURES}; "
          f"episodes {EPISODES}; max iterations {args.max_iter}")
    mdp, _, demos, sampled = problem(16, 3)  # warm-up, untimed
    run_ours(mdp, demos, 5)
    if version:
        run_imitation(mdp, sampled.states, sampled.actions[:, :HORIZON], 5)
    header = (f"{'MDP':>9} {'learner':>10} {'wall_s':>8} {'evals':>6} {'conv':>5} "
              f"{'ms/eval':>8} {'EPIC':>7} {'pearson':>8} {'EVD':>8}")
    print(header)
    for size in args.sizes.split(","):
        n_states, n_actions = (int(v) for v in size.split("x"))
        mdp, true_reward, demos, sampled = problem(n_states, n_actions)
        results = {"ours": run_ours(mdp, demos, args.max_iter)}
        if version:
            results["imitation"] = run_imitation(mdp, sampled.states,
                                                 sampled.actions[:, :HORIZON], args.max_iter)
        epics = {}
        for name, (reward, seconds, evaluations, converged) in results.items():
            epics[name] = epic_distance(reward, true_reward.numpy(), gamma=1.0)
            evd = expected_value_difference(true_reward, torch.from_numpy(reward),
                                            mdp.transitions, mdp.initial, horizon=HORIZON)
            print(f"{size:>9} {name:>10} {seconds:8.2f} {evaluations:6d} "
                  f"{'yes' if converged else 'no':>5} {1000 * seconds / evaluations:8.1f} "
                  f"{epics[name]:7.4f} {pearson(reward, true_reward.numpy()):8.4f} {evd:8.4f}",
                  flush=True)
        if "imitation" in results:
            ours, theirs = results["ours"], results["imitation"]
            bound = "" if theirs[3] else " (imitation hit its cap: a lower bound)"
            verdict = "at least equal" if epics["ours"] <= epics["imitation"] + 1e-4 else "WORSE"
            if not theirs[3]:
                # An iterate stopped short of the optimum can land nearer the truth by chance.
                verdict += " (against imitation's unconverged iterate)"
            print(f"{size:>9} speed-up (imitation wall / ours): {theirs[1] / ours[1]:.1f}x"
                  f"{bound}; {(theirs[1] / theirs[2]) / (ours[1] / ours[2]):.1f}x per "
                  f"evaluation; recovery {verdict} (EPIC {epics['ours']:.4f} vs "
                  f"{epics['imitation']:.4f})", flush=True)


if __name__ == "__main__":
    main()
