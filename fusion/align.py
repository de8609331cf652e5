"""Fixed-step causal alignment of irregular streams, by prefix sums and binary search.

Step ``t`` of a session ends at ``end_t = (t + 1) * step_ns`` (integer nanoseconds of session
time) and summarises the trailing window ``[end_t - window_ns, end_t)``. A stream's rows
falling in each window are found with two ``searchsorted`` calls over the stream's sorted
times, and any per-row quantity is summed over every window at once as the difference of its
prefix sum at the two bounds: O(N + T) for N rows and T steps, with no Python loop over steps
and arbitrary (even overlapping) windows. Only rows with ``t_ns < end_t`` are ever read, so
every state is causal by construction.

Values are held (sample-and-hold, never interpolated) from the last window that had rows only
while that row is at most ``max_gap_ns`` old; beyond that the value is invalid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepGrid:
    """The steps of one session: ``ends_ns[T]`` and ``starts_ns[T]`` (window starts)."""

    step_ns: int
    window_ns: int
    n_steps: int

    @classmethod
    def for_duration(cls, duration_ns: int, *, step_s: float, window_s: float) -> StepGrid:
        """Enough steps to cover ``duration_ns`` (the last step may end after it)."""
        step_ns = max(1, round(step_s * 1e9))
        window_ns = max(step_ns, round(window_s * 1e9))
        n_steps = int(-(-max(int(duration_ns), 0) // step_ns))
        return cls(step_ns=step_ns, window_ns=window_ns, n_steps=n_steps)

    @property
    def ends_ns(self) -> np.ndarray:
        """End of each step, [T] int64."""
        return (np.arange(1, self.n_steps + 1, dtype=np.int64) * self.step_ns)

    @property
    def starts_ns(self) -> np.ndarray:
        """Start of each step's window, [T] int64 (may be negative for the first steps)."""
        return self.ends_ns - self.window_ns

    def step_starts_ns(self) -> np.ndarray:
        """Start of each step itself, [T] int64."""
        return self.ends_ns - self.step_ns


@dataclass(frozen=True)
class Windows:
    """Row index bounds ``lo[T]``, ``hi[T]`` of each window over one sorted stream."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """Rows per window, [T] int64."""
        return self.hi - self.lo

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values[N]`` over each window, [T] float64 (NaN-free input expected)."""
        prefix = prefix_sum(values)
        return prefix[self.hi] - prefix[self.lo]

    def count_where(self, mask: np.ndarray) -> np.ndarray:
        """Rows with ``mask[N]`` true per window, [T] int64 (exact)."""
        prefix = np.zeros(mask.shape[0] + 1, dtype=np.int64)
        np.cumsum(mask, out=prefix[1:])
        return prefix[self.hi] - prefix[self.lo]


    def last_time_where(self, t_ns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Time of the last row with ``mask`` before each window's end, [T]; -1 where none."""
        positions = np.flatnonzero(mask)
        prefix = np.zeros(mask.shape[0] + 1, dtype=np.int64)
        np.cumsum(mask, out=prefix[1:])
        before = prefix[self.hi]  # rows with mask true before the end
        if positions.size == 0:
            return np.full(before.shape, -1, dtype=np.int64)
        return np.where(before > 0, t_ns[positions[np.maximum(before - 1, 0)]], -1)


def prefix_sum(values: np.ndarray) -> np.ndarray:
    """``[0, v0, v0+v1, ...]``, [N + 1] float64."""
    prefix = np.zeros(values.shape[0] + 1, dtype=np.float64)
    np.cumsum(values, out=prefix[1:])
    return prefix


def windows(t_ns: np.ndarray, starts_ns: np.ndarray, ends_ns: np.ndarray) -> Windows:
    """Rows of a sorted stream within ``[start, end)`` of each window."""
    return Windows(lo=np.searchsorted(t_ns, starts_ns, side="left"),
                   hi=np.searchsorted(t_ns, ends_ns, side="left"))


def grid_windows(t_ns: np.ndarray, grid: StepGrid, *, window_ns: int | None = None) -> Windows:
    """Rows of a sorted stream within each step's trailing window of ``window_ns`` (default:
    the grid's window).

    When the window is a whole number of steps the bounds come from one ``bincount`` of the
    rows' step indices (O(N + T)); otherwise from binary search.
    """
    window_ns = grid.window_ns if window_ns is None else window_ns
    ends = grid.ends_ns
    if window_ns % grid.step_ns or (t_ns.size and t_ns[0] < 0):
        return windows(t_ns, ends - window_ns, ends)
    steps_back = window_ns // grid.step_ns
    step_index = np.minimum(t_ns // grid.step_ns, grid.n_steps)  # [N]; past the end -> T
    hi = np.cumsum(np.bincount(step_index, minlength=grid.n_steps + 1)[:grid.n_steps])
    lo = np.zeros_like(hi)
    lo[steps_back:] = hi[:grid.n_steps - steps_back] if steps_back < grid.n_steps else 0
    return Windows(lo=lo, hi=hi)


def last_before(t_ns: np.ndarray, ends_ns: np.ndarray) -> np.ndarray:
    """Index of the last row strictly before each end, [T] int64; -1 where none."""
    return np.searchsorted(t_ns, ends_ns, side="left") - 1


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, else 0, [T] float64."""
    out = np.zeros(np.shape(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)
    return out


def hold(values: np.ndarray, has_data: np.ndarray, last_row_t_ns: np.ndarray,
         ends_ns: np.ndarray, *, max_gap_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample-and-hold over windows without rows, bounded by ``max_gap_ns``.

    ``values[T]`` are valid where ``has_data[T]``; elsewhere the last valid step's value is
    carried forward if the last contributing row (``last_row_t_ns[T]``, -1 if none) is at most
    ``max_gap_ns`` before the step's end. Returns (values[T], valid[T]); invalid values are 0.
    """
    index = np.where(has_data, np.arange(values.shape[0]), -1)
    np.maximum.accumulate(index, out=index)
    fresh = (last_row_t_ns >= 0) & (ends_ns - last_row_t_ns <= max_gap_ns)
    valid = has_data | ((index >= 0) & fresh)
    held = np.where(valid, values[np.maximum(index, 0)], 0.0) if values.size else values
    return held, valid


def last_true_time(t_ns: np.ndarray, mask: np.ndarray, ends_ns: np.ndarray) -> np.ndarray:
    """Time of the last row with ``mask`` true strictly before each end, [T]; -1 where none."""
    times = t_ns[mask]
    index = np.searchsorted(times, ends_ns, side="left") - 1
    return np.where(index >= 0, times[np.maximum(index, 0)] if times.size else -1, -1)


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> np.ndarray:
    """Sorted, disjoint ``[start, end)`` intervals, [K, 2] int64, from any overlapping set."""
    ordered = sorted((int(a), int(b)) for a, b in intervals if b > a)
    merged: list[list[int]] = []
    for start, end in ordered:  # a handful of pauses and gaps per session, not per step
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


def overlaps(intervals: np.ndarray, starts_ns: np.ndarray, ends_ns: np.ndarray) -> np.ndarray:
    """Whether each window ``[start, end)`` overlaps any of the disjoint sorted intervals."""
    if intervals.shape[0] == 0:
        return np.zeros(starts_ns.shape[0], dtype=bool)
    began = np.searchsorted(intervals[:, 0], ends_ns, side="left")
    finished = np.searchsorted(intervals[:, 1], starts_ns, side="right")
    return began > finished


def state_at(change_t_ns: np.ndarray, ends_ns: np.ndarray) -> np.ndarray:
    """Index of the last change strictly before each end, [T] int64; -1 before the first."""
    return np.searchsorted(change_t_ns, ends_ns, side="left") - 1
