"""IQ-Learn at scale on CPU: one million transitions with 32 features.

Synthetic soft-optimal-looking data (a linear-softmax policy over 32 standardised features,
7 actions, 100-step episodes) are fed to `irl.train.train(algo="iq")`. Printed: seconds per
epoch (each epoch one pass over all transitions) and the time and epochs until the epoch
loss changes by less than --stop-tol of its size (or the epoch cap), with the baseline of
one pass of the same network's forward and backward without optimisation for scale.

Usage: python benchmarks/irl_scale.py [--steps 1000000] [--epochs 6] [--batch-size 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fusion.dataset import DatasetSchema, FeatureSpec, FusedDataset
from irl.train import train


def synthetic(steps: int, features: int, actions: int, *, seed: int) -> FusedDataset:
    rng = np.random.default_rng(seed)
    states = np.empty((steps, features), dtype=np.float32)
    states[0] = rng.normal(size=features)
    noise = rng.normal(size=(steps, features)).astype(np.float32)
    states[1:] = noise[1:]
    states = states + 0.5 * np.roll(states, 1, axis=0)  # some temporal correlation
    weights = rng.normal(size=(features, actions)).astype(np.float32) / np.sqrt(features)
    logits = states @ weights  # [T, A]
    gumbel = -np.log(-np.log(rng.random(size=logits.shape)))
    chosen = (logits + gumbel).argmax(axis=1)
    schema = DatasetSchema("scale", "1", tuple(
        FeatureSpec(f"f{i}", "z", ("vision", "behaviour", "content")[i % 3], "synthetic")
        for i in range(features)), tuple(f"a{i}" for i in range(actions)))
    return FusedDataset(t_s=np.arange(steps, dtype=np.float64), states=states,
                        valid=np.ones_like(states, dtype=bool), actions=chosen,
                        episode=np.arange(steps) // 100, session=np.zeros(steps, np.int32),
                        schema=schema, session_ids=("synthetic",), participants=("p",))


def bare_pass(data: FusedDataset, batch_size: int) -> float:
    """Seconds for one pass of the same IQ networks' forward and backward over every
    transition, in order, with a trivial loss and no optimiser: the compute floor an epoch
    is measured against."""
    from irl.iq import IQNetworks

    torch.manual_seed(0)
    networks = IQNetworks(data.n_features, data.n_actions)
    states = torch.from_numpy(data.states)
    index = torch.arange(len(data) - 1)
    started = time.perf_counter()
    for first in range(0, len(index), batch_size):
        steps = index[first:first + batch_size]
        q_now, q_next, g_now = networks(states[steps], states[steps + 1])
        (q_now.sum() + q_next.sum() + g_now.sum()).backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--stop-tol", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = synthetic(args.steps, 32, 7, seed=0)
    started = time.perf_counter()
    model = train(data, algo="iq", gamma=0.9, seed=0, epochs=args.epochs,
                  batch_size=args.batch_size, lr=3e-3, stop_tol=args.stop_tol, progress=False)
    total = time.perf_counter() - started
    curve = model.curve
    per_epoch = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + curve[:-1],
                                                              curve, strict=True)]
    print(f"iq on {args.steps} steps x 32 features, 7 actions, batch {args.batch_size}, "
          f"threads {args.threads}")
    for row, seconds in zip(curve, per_epoch, strict=True):
        print(f"epoch {int(row['epoch']) + 1}: loss {row['loss']:.5f}  {seconds:.1f} s")
    converged = len(curve) < args.epochs
    floor = bare_pass(data, args.batch_size)
    print(f"seconds per epoch (mean): {np.mean(per_epoch):.1f}; baseline (same run): one bare "
          f"forward+backward pass of the networks {floor:.1f} s; ratio epoch / bare pass "
          f"{np.mean(per_epoch) / floor:.2f}")
    print(f"time to converge (loss change < {args.stop_tol:g}): "
          f"{curve[-1]['seconds']:.1f} s over {len(curve)} epochs"
          + ("" if converged else " (epoch cap reached, not converged)"))
    print(f"total train() wall time incl. normalisation and linear read-out: {total:.1f} s")


if __name__ == "__main__":
    main()
