"""Our vectorised MaxEnt IRL against the `imitation` library's MCEIRL, side by side.

Random tabular MDPs (states x actions, horizon 50, linear state features); an expert acts
soft-optimally for a linear reward; the same sampled demonstrations go to both learners,
each with its own default optimiser settings (ours: Adam lr 0.1; imitation: Adam lr 0.01,
its defaults), the same iteration cap and an equivalent gradient stopping rule. Printed per
MDP: wall time, iterations, ms per iteration, EPIC distance and Pearson r to the true
reward, expected value difference, and the wall-time ratio.

`imitation` is a benchmark-only dependency, installed in a separate virtual environment that
sees the system packages (so torch stays the system's 2.13.0)::

    python -m venv --system-site-packages /work/venvs/imitation
    /work/venvs/imitation/bin/pip install -c <(echo torch==2.13.0) imitation
    /work/venvs/imitation/bin/python benchmarks/irl_vs_imitation.py

Usage: python benchmarks/irl_vs_imitation.py [--sizes 64x4,256x6,1024x8] [--max-iter 300]
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


def run_ours(mdp, demos, max_iter: int) -> tuple[np.ndarray, float, int]:
    torch.manual_seed(0)
    head = LinearReward(FEATURES, mdp.n_actions, action_terms="none")
    started = time.perf_counter()
    fit = mce_irl(mdp, demos, head=head, horizon=HORIZON, lr=0.1, iterations=max_iter, tol=TOL)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        reward = head(mdp.features.float())[:, 0].double().numpy()
    return reward, seconds, len(fit.curve)


def run_imitation(mdp, states_full, actions, max_iter: int) -> tuple[np.ndarray, float, int]:
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
                         use_action=False, use_next_state=False, use_done=False)
    # Equivalent stopping rule: our relative feature gap TOL times the occupancy mass.
    learner = MCEIRL(trajectories, env, net, rng=np.random.default_rng(0), discount=1.0,
                     grad_l2_eps=TOL * (HORIZON + 1), log_interval=None)
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
    return reward, seconds, iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64x4,256x6,1024x8")
    parser.add_argument("--max-iter", type=int, default=300)
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
    header = (f"{'MDP':>9} {'learner':>10} {'wall_s':>8} {'iters':>6} {'ms/iter':>8} "
              f"{'EPIC':>7} {'pearson':>8} {'EVD':>8}")
    print(header)
    for size in args.sizes.split(","):
        n_states, n_actions = (int(v) for v in size.split("x"))
        mdp = random_mdp(n_states, n_actions, FEATURES, seed=n_states + n_actions)
        rng = np.random.default_rng(n_states)
        true_weights = torch.from_numpy(rng.normal(size=FEATURES))
        true_reward = mdp.features @ true_weights  # r[s]
        expert = soft_value_iteration(true_reward, mdp.transitions, horizon=HORIZON + 1)
        sampled = sample_demonstrations(mdp, expert.policy, n_episodes=EPISODES,
                                        horizon=HORIZON + 1, seed=1)
        demos = Demonstrations(sampled.states[:, :HORIZON], sampled.actions[:, :HORIZON])
        results = {"ours": run_ours(mdp, demos, args.max_iter)}
        if version:
            results["imitation"] = run_imitation(mdp, sampled.states,
                                                 sampled.actions[:, :HORIZON], args.max_iter)
        for name, (reward, seconds, iterations) in results.items():
            epic = epic_distance(reward, true_reward.numpy(), gamma=1.0)
            evd = expected_value_difference(true_reward, torch.from_numpy(reward),
                                            mdp.transitions, mdp.initial, horizon=HORIZON)
            print(f"{size:>9} {name:>10} {seconds:8.2f} {iterations:6d} "
                  f"{1000 * seconds / iterations:8.1f} {epic:7.4f} "
                  f"{pearson(reward, true_reward.numpy()):8.4f} {evd:8.4f}")
        if "imitation" in results:
            ratio = results["imitation"][1] / results["ours"][1]
            per_iter = ((results["imitation"][1] / results["imitation"][2])
                        / (results["ours"][1] / results["ours"][2]))
            print(f"{size:>9} speed-up (imitation wall / ours): {ratio:.1f}x total, "
                  f"{per_iter:.1f}x per iteration")


if __name__ == "__main__":
    main()
