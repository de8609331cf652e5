"""Windowed sums and sample-and-hold: the building blocks every feature rests on."""

from __future__ import annotations

import numpy as np

from fusion.align import StepGrid, grid_windows, hold, merge_intervals, overlaps, windows


def test_window_sums_equal_a_brute_force_sum_over_each_window() -> None:
    rng = np.random.default_rng(3)
    t_ns = np.sort(rng.integers(0, 10_000, 500))
    values = rng.normal(size=500)
    grid = StepGrid(step_ns=250, window_ns=1000, n_steps=40)
    sums = windows(t_ns, grid.starts_ns, grid.ends_ns).sum(values)
    brute = [values[(t_ns >= s) & (t_ns < e)].sum()
             for s, e in zip(grid.starts_ns, grid.ends_ns, strict=True)]
    np.testing.assert_allclose(sums, brute, atol=1e-9)


def test_a_row_at_the_end_of_a_step_belongs_to_the_next_step() -> None:
    grid = StepGrid(step_ns=100, window_ns=100, n_steps=3)
    counts = windows(np.array([100]), grid.starts_ns, grid.ends_ns).count
    assert counts.tolist() == [0, 1, 0]


def test_values_are_held_only_while_the_last_row_is_within_the_gap_limit() -> None:
    ends = np.array([100, 200, 300, 400])
    values, valid = hold(np.array([5.0, 0.0, 0.0, 0.0]), np.array([True, False, False, False]),
                         last_row_t_ns=np.array([90, 90, 90, 90]), ends_ns=ends,
                         max_gap_ns=150)
    assert valid.tolist() == [True, True, False, False]
    assert values.tolist() == [5.0, 5.0, 0.0, 0.0]


def test_overlapping_intervals_merge_and_mark_the_windows_they_touch() -> None:
    intervals = merge_intervals([(150, 260), (200, 300), (900, 950)])
    assert intervals.tolist() == [[150, 300], [900, 950]]
    marked = overlaps(intervals, np.array([0, 100, 300, 800]), np.array([100, 200, 400, 900]))
    assert marked.tolist() == [False, True, False, False]


def test_grid_windows_by_bincount_equal_binary_search() -> None:
    rng = np.random.default_rng(5)
    t_ns = np.sort(np.r_[rng.integers(0, 12_000, 800), [0, 250, 250, 500]])  # some on ends
    for window_ns in (250, 750, 600):
        grid = StepGrid(step_ns=250, window_ns=window_ns, n_steps=44)
        fast = grid_windows(t_ns, grid)
        slow = windows(t_ns, grid.starts_ns, grid.ends_ns)
        np.testing.assert_array_equal(fast.lo, slow.lo)
        np.testing.assert_array_equal(fast.hi, slow.hi)


def test_last_time_where_finds_the_last_marked_row_before_each_end() -> None:
    grid = StepGrid(step_ns=100, window_ns=100, n_steps=4)
    t_ns = np.array([10, 50, 120, 250, 260])
    mask = np.array([True, False, True, False, True])
    last = grid_windows(t_ns, grid).last_time_where(t_ns, mask)
    assert last.tolist() == [10, 120, 260, 260]
