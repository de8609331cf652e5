"""The seeded mini-batch loop shared by IQ-Learn and behaviour cloning, single or data-parallel.

Every process draws the same permutation of the items (one seeded generator), cuts the same
global batches, and takes every ``world_size``-th item of each batch. A batch loss is the sum
of per-item losses over the process's items, divided by the global batch size and scaled by
the world size; DistributedDataParallel averages the gradients, which then equal the
single-process full-batch gradient, so one and N processes follow the same trajectory up to
float rounding.

Progress goes to a tqdm bar (``progress=True``, for the command line) and/or to an
``on_progress`` callback (for a caller with its own display), on process 0 only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from irl import distributed

log = logging.getLogger(__name__)

BatchLoss = Callable[[nn.Module, torch.Tensor], torch.Tensor]
ProgressCallback = Callable[[dict[str, Any]], None]


def train_minibatches(
    module: nn.Module,
    batch_loss: BatchLoss,
    n_items: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    progress: bool = False,
    desc: str = "train",
    stop_tol: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[dict[str, float]]:
    """Adam over ``epochs`` passes; ``batch_loss(model, index[b])`` sums per-item losses.

    Returns the curve, one ``{"epoch", "loss", "seconds"}`` per epoch (loss = mean per item
    over all processes). With ``stop_tol`` training stops once the epoch loss changes by less
    than that fraction of its size. ``on_progress`` (process 0 only) receives after each
    epoch ``{"algo": desc, "step": epochs done, "total": epochs, "loss": the epoch's mean
    loss, "metric": "loss"}``.
    """
    model: nn.Module = module
    if distributed.is_distributed():
        model = DistributedDataParallel(module)
    optimiser = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    world, rank = distributed.world_size(), distributed.rank()
    curve: list[dict[str, float]] = []
    # disable=None: tqdm hides the bar when stderr is not a terminal (batch jobs, log files).
    bar = tqdm(range(epochs), desc=desc, disable=None if progress and rank == 0 else True,
               leave=False)
    started = time.perf_counter()
    for epoch in bar:
        order = torch.randperm(n_items, generator=generator)  # same on every process
        total = torch.zeros(1, dtype=torch.float64)
        for start in range(0, n_items, batch_size):
            batch = order[start: start + batch_size]
            mine = batch[rank::world]
            summed = batch_loss(model, mine)
            loss = summed * (world / batch.shape[0])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(summed.detach())
        mean_loss = float(distributed.all_reduce_sum(total)) / max(n_items, 1)
        curve.append({"epoch": float(epoch), "loss": mean_loss,
                      "seconds": time.perf_counter() - started})
        bar.set_postfix(loss=f"{mean_loss:.4f}")
        if on_progress is not None and rank == 0:
            on_progress({"algo": desc, "step": epoch + 1, "total": epochs, "loss": mean_loss,
                         "metric": "loss"})
        if stop_tol is not None and len(curve) > 1:
            previous = curve[-2]["loss"]
            if abs(previous - mean_loss) <= stop_tol * max(abs(mean_loss), 1e-8):
                log.info("%s converged after %d epochs", desc, epoch + 1)
                break
    return curve
