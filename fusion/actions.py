"""Actions: what the participant did in each step, by the precedence of :mod:`fusion.schema`.

Evidence is read over each step itself (``[end - step, end)``, not the trailing feature
window) and the action paired with the state of step ``t`` is the evidence of step ``t + 1``:
the state is what the participant saw, the action what they did next, as in a logged MDP
(s_t, a_t). The last step of a session, paused steps and steps followed by a paused step
get ``NO_ACTION``: a paused state holds no valid feature, so the action taken on resuming
would be paired with the features' mean, a state the participant was never in.
"""

from __future__ import annotations

import numpy as np

from fusion.align import StepGrid, grid_windows
from fusion.dataset import NO_ACTION
from fusion.schema import ACTION_PRECEDENCE, action_index
from fusion.settings import FusionSettings


def step_evidence(face: dict[str, np.ndarray], events: dict[str, np.ndarray],
                  query_t_ns: np.ndarray, grid: StepGrid, *, settings: FusionSettings,
                  camera_off: np.ndarray, input_off: np.ndarray) -> np.ndarray:
    """The action each step's own evidence shows, [T] int64 (indices into ``ACTIONS``)."""
    in_step = grid_windows(events["t_ns"], grid, window_ns=grid.step_ns)
    kind = events["kind"]
    keys = in_step.count_where(kind == "key_down")
    queries = grid_windows(query_t_ns, grid, window_ns=grid.step_ns).count
    clicks = in_step.count_where(kind == "button_down")
    net_dy = in_step.sum(np.where(kind == "scroll", np.nan_to_num(events["dy"]), 0.0))

    face_step = grid_windows(face["t_ns"], grid, window_ns=grid.step_ns)
    present = face["present"].astype(bool)
    rows = face_step.count
    faces = face_step.count_where(present)
    on_screen = face["on_screen"]
    says = face_step.count_where(present & np.isfinite(on_screen))
    away = face_step.count_where(present & (on_screen == 0.0))
    camera_on = ~camera_off & (rows > 0)
    face_share = np.where(rows > 0, faces / np.maximum(rows, 1), 0.0)
    away_share = np.where(says > 0, away / np.maximum(says, 1), 0.0)

    evidence = {
        "type_query": ((keys > 0) & ~input_off) | (queries > 0),
        "click": (clicks > 0) & ~input_off,
        "scroll_back": (net_dy > 0) & ~input_off,
        "scroll_down": (net_dy < 0) & ~input_off,
        "absent": camera_on & (face_share < settings.absent_face_share),
        "look_away": camera_on & (face_share >= settings.absent_face_share)
        & (says > 0) & (away_share >= settings.look_away_share),
        "read": np.ones(grid.n_steps, dtype=bool),
    }
    action = np.full(grid.n_steps, action_index("read"), dtype=np.int64)
    for name in reversed(ACTION_PRECEDENCE):  # lowest precedence first, higher ones overwrite
        action[evidence[name]] = action_index(name)
    return action


def next_step_actions(evidence: np.ndarray, paused: np.ndarray) -> np.ndarray:
    """Pair each state with the following step's evidence, [T] int64."""
    actions = np.full(evidence.shape[0], NO_ACTION, dtype=np.int64)
    actions[:-1] = np.where(paused[1:] | paused[:-1], NO_ACTION, evidence[1:])
    return actions
