"""Behaviour features from input events: keys by class, bursts, pointer path, clicks, scroll.

Key presses are counted by class only (the store never holds characters). Typing bursts
follow the inter-key-interval segmentation common in keystroke-dynamics work (e.g. Epp et
al. 2011): a run of presses whose gaps stay below ``burst_gap_s``; a press is "in a burst"
once it is at least the ``burst_min_keys``-th of its run, which needs only earlier presses,
so the flag is causal. Scroll ``dy`` follows pynput's sign (positive towards the top) and is
converted to pixels with ``scroll_px_per_unit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion.align import StepGrid, grid_windows, safe_ratio
from fusion.schema import NAVIGATION_KEY_CLASSES, TEXT_KEY_CLASSES
from fusion.settings import FusionSettings

POINTER_KINDS: tuple[str, ...] = ("move", "button_down", "button_up")


@dataclass
class BehaviourResult:
    """Behaviour columns ``values[name][T]`` and ``valid[name][T]``."""

    values: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]


def burst_positions(key_t_ns: np.ndarray, *, gap_ns: int) -> np.ndarray:
    """Position of each key press within its run of presses closer than ``gap_ns``, [K]."""
    if key_t_ns.size == 0:
        return np.zeros(0, dtype=np.int64)
    index = np.arange(key_t_ns.size)
    run_start = np.where(np.r_[True, np.diff(key_t_ns) >= gap_ns], index, 0)
    np.maximum.accumulate(run_start, out=run_start)
    return index - run_start


def idle_seconds(t_ns: np.ndarray, ends_ns: np.ndarray) -> np.ndarray:
    """Seconds from the last event strictly before each end (or session start), [T]."""
    last = np.searchsorted(t_ns, ends_ns, side="left") - 1
    last_t = np.where(last >= 0, t_ns[np.maximum(last, 0)] if t_ns.size else 0, 0)
    return (ends_ns - last_t) / 1e9


def behaviour_features(events: dict[str, np.ndarray], grid: StepGrid, *,
                       settings: FusionSettings, keyboard_off: np.ndarray,
                       mouse_off: np.ndarray, scroll_off: np.ndarray) -> BehaviourResult:
    """Behaviour columns of the schema from ``Session.input_events()`` arrays.

    ``*_off[T]`` mark steps whose stream was not consented, paused or in a recorded gap.
    """
    t_ns = events["t_ns"]
    kind = events["kind"]
    key_class = events["key_class"]
    window_s = settings.window
    ends = grid.ends_ns
    window = grid_windows(t_ns, grid)

    key_down = kind == "key_down"
    values: dict[str, np.ndarray] = {
        "key_rate_hz": window.count_where(key_down) / window_s,
        "text_key_rate_hz": window.count_where(
            key_down & np.isin(key_class, TEXT_KEY_CLASSES)) / window_s,
        "navigation_key_rate_hz": window.count_where(
            key_down & np.isin(key_class, NAVIGATION_KEY_CLASSES)) / window_s,
        "backspace_share": safe_ratio(window.count_where(key_down & (key_class == "backspace")),
                                      window.count_where(key_down)),
    }
    key_rows = np.flatnonzero(key_down)
    in_burst = np.zeros(t_ns.shape[0], dtype=bool)
    in_burst[key_rows] = burst_positions(
        t_ns[key_rows], gap_ns=round(settings.burst_gap_s * 1e9)) >= settings.burst_min_keys - 1
    values["typing_burst"] = (window.count_where(in_burst) > 0).astype(np.float64)

    pointer = np.isin(kind, POINTER_KINDS) & np.isfinite(events["x_px"]) \
        & np.isfinite(events["y_px"])
    rows = np.flatnonzero(pointer)
    segment = np.zeros(t_ns.shape[0])  # [M] path length ending at each pointer event
    if rows.size > 1:
        segment[rows[1:]] = np.hypot(np.diff(events["x_px"][rows]), np.diff(events["y_px"][rows]))
    # A thinned move from sensing.input carries in dx the exact path travelled since the
    # previous kept move; pending moves are flushed before buttons, so a button adds ~0.
    thinned = (kind == "move") & np.isfinite(events["dx"])
    segment[thinned] = events["dx"][thinned]
    values["mouse_path_px"] = window.sum(segment)
    values["mouse_speed_px_s"] = values["mouse_path_px"] / window_s
    values["clicks"] = window.count_where(kind == "button_down").astype(np.float64)

    dy = np.where(kind == "scroll", np.nan_to_num(events["dy"]), 0.0)
    values["scroll_down_px"] = window.sum(np.maximum(-dy, 0.0)) * settings.scroll_px_per_unit
    values["scroll_up_px"] = window.sum(np.maximum(dy, 0.0)) * settings.scroll_px_per_unit

    values["idle_s"] = idle_seconds(t_ns, ends)

    keyboard_on, mouse_on, scroll_on = ~keyboard_off, ~mouse_off, ~scroll_off
    valid = {
        "key_rate_hz": keyboard_on, "text_key_rate_hz": keyboard_on,
        "navigation_key_rate_hz": keyboard_on, "backspace_share": keyboard_on,
        "typing_burst": keyboard_on, "mouse_path_px": mouse_on, "mouse_speed_px_s": mouse_on,
        "clicks": mouse_on, "scroll_down_px": scroll_on, "scroll_up_px": scroll_on,
        "idle_s": keyboard_on | mouse_on | scroll_on,
    }
    values = {name: np.where(valid[name], v, 0.0) for name, v in values.items()}
    return BehaviourResult(values=values, valid={k: v.copy() for k, v in valid.items()})
