"""Data-parallel plumbing for training under ``torchrun``: sharding and collective sums.

Every helper is the identity in a single process, so the algorithms call them
unconditionally. Sharding cuts the dataset at episode boundaries, so no transition is split
between processes (``session_shard`` cuts only where a session ends too, for ``maxent``,
which counts moves across item ends within a session), and losses are written as global
sums divided by the global count: DistributedDataParallel averages gradients over
processes, so each process scales its shard loss by the world size and the averaged gradient
equals the full-batch one.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_environment() -> bool:
    """Join the process group ``torchrun`` describes in the environment; False if none."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or is_distributed():
        return is_distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    log.info("joined process group: rank %d of %d (%s)", rank(), world_size(), backend)
    return True


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over processes (a new tensor; the input is left as it was)."""
    if not is_distributed():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of ``tensor`` over processes."""
    if not is_distributed():
        return tensor
    largest = tensor.clone()
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    return largest


def all_gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Concatenate each process's rows[n_i, ...] in rank order: [sum n_i, ...]."""
    if not is_distributed():
        return rows
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([rows.shape[0]], dtype=torch.int64))
    largest = int(max(int(size) for size in sizes))
    padded = torch.zeros((largest, *rows.shape[1:]), dtype=rows.dtype)
    padded[: rows.shape[0]] = rows
    gathered = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(gathered, padded)
    return torch.cat([part[: int(size)] for part, size in zip(gathered, sizes, strict=True)])


def episode_shard(episode: np.ndarray) -> np.ndarray:
    """Boolean mask[T] of the steps this process owns: whole episodes, contiguous, balanced."""
    if not is_distributed() or len(episode) == 0:
        return np.ones(len(episode), dtype=bool)
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    bounds = np.r_[starts, len(episode)]
    cut_steps = np.linspace(0, len(episode), world_size() + 1)
    cut_episodes = np.searchsorted(bounds, cut_steps)  # episode index per cut
    cut_episodes[0], cut_episodes[-1] = 0, len(starts)
    first, last = cut_episodes[rank()], cut_episodes[rank() + 1]
    mask = np.zeros(len(episode), dtype=bool)
    mask[bounds[first]: bounds[last]] = True
    return mask


def session_shard(session: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Boolean mask[T] of whole sessions this process owns (see :func:`episode_shard`).

    A cut falls only where both the session and the episode change, so neither a move
    within a session nor an episode's first step depends on how many processes run. With
    fewer such runs than processes some masks are all False: callers sum over processes,
    so those add nothing and every collective still sees each process once.
    """
    session, episode = np.asarray(session), np.asarray(episode)
    if not is_distributed() or len(session) == 0:
        return np.ones(len(session), dtype=bool)
    cut = (session[1:] != session[:-1]) & (episode[1:] != episode[:-1])
    return episode_shard(np.cumsum(np.r_[False, cut]))  # [T] id of each uncuttable run
