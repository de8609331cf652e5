"""The default feature schema and action set of a fused dataset (``engage.default``).

Every column of a fused state vector is named here with its unit, modality and the formula
that produces it, so that a model trained on one dataset can check another, and so that the
simulator (``irl/simulate.py``) can write raw sessions whose fusion lands on the same names.

Windows. The state of step ``t`` covers the half-open session-time interval
``[end_t - window_s, end_t)`` where ``end_t = (t + 1) * step_s`` and ``window_s`` defaults to
``step_s`` (see :class:`fusion.settings.FusionSettings`). Only data strictly before
``end_t`` is read, which makes every feature causal. Rates are counts divided by
``window_s``; shares are counts divided by the number of rows of the stream in the window.

Validity. A feature is invalid (mask False, value a neutral fill of 0) when its stream was not
consented, the session was paused (``pause`` .. ``resume`` markers) or the stream has a
recorded gap, when no face was seen in the window and the last face row is older than
``max_gap_s`` (no hold across longer gaps), and, for gaze features, when gaze was not
calibrated.

Marker payload keys that fusion reads (others are ignored):
``content_shown``: ``content_id`` (str, required for content features), ``region``
(on-screen rectangle in px as ``[left, top, width, height]`` or a dict with ``x``/``left``,
``y``/``top``, ``w``/``width``, ``h``/``height``), optional ``topic`` (contents sharing a
topic count as similar for re-engagement). ``content_hidden``: optional ``content_id``.
``query_submitted``: optional ``content_id`` (defaults to the content shown); other keys
(``follow_up``, ``rephrasing``, text length) are kept in the session but do not change Q_d.
``pause``/``resume``: no payload; everything between them is invalid.

Actions. The action of step ``t`` is what the participant did in step ``t + 1`` (the step
that follows the state), decided from that step's raw evidence by this precedence, the most
specific evidence first and ``read`` the default:

1. ``type_query``: a key press (``key_down``) or a ``query_submitted`` marker in the step;
2. ``click``: a mouse button press (``button_down``);
3. ``scroll_back``: scroll with net ``dy > 0`` (towards the top: pynput's sign convention);
4. ``scroll_down``: scroll with net ``dy < 0``;
5. ``absent``: camera consented and a face in fewer than ``absent_face_share`` (half) of the
   step's face rows (a step without face rows is no evidence either way);
6. ``look_away``: face present, but gaze (calibrated) or head-pose attention estimate
   (uncalibrated) off screen in at least half of the rows that say either way;
7. ``read``: none of the above: face present and looking at the screen, or no camera.

The last step of a session, paused steps and steps whose following step is paused get
``NO_ACTION`` (-1).

Action indices follow :data:`ACTIONS`, which is deliberately not the precedence order:
``absent`` is 0 and ``read`` is 6.
"""

from __future__ import annotations

from fusion.dataset import DatasetSchema, FeatureSpec

SCHEMA_NAME = "engage.default"
SCHEMA_VERSION = "1.0"

ACTIONS: tuple[str, ...] = (
    "absent", "look_away", "type_query", "click", "scroll_back", "scroll_down", "read",
)

# Highest precedence first; `read` is the default when nothing else matches.
ACTION_PRECEDENCE: tuple[str, ...] = (
    "type_query", "click", "scroll_back", "scroll_down", "absent", "look_away", "read",
)

# Key classes (sensing.records.KEY_CLASSES) grouped for rate features.
TEXT_KEY_CLASSES: tuple[str, ...] = ("letter", "digit", "space", "punctuation")
EDIT_KEY_CLASSES: tuple[str, ...] = ("backspace",)
NAVIGATION_KEY_CLASSES: tuple[str, ...] = ("navigation", "tab", "enter")

_V, _B, _C = "vision", "behaviour", "content"

FEATURES: tuple[FeatureSpec, ...] = (
    # Vision: from face rows in the window.
    FeatureSpec("face_present_share", "fraction", _V,
                "rows with a face present / face rows in the window"),
    FeatureSpec("head_yaw_mean_deg", "deg", _V,
                "mean head yaw over rows with a face (positive: turned to the camera's left)"),
    FeatureSpec("head_pitch_mean_deg", "deg", _V,
                "mean head pitch over rows with a face (positive: looking up)"),
    FeatureSpec("head_motion_deg", "deg", _V,
                "head pose variability: sqrt(var(yaw) + var(pitch)) over rows with a face"),
    FeatureSpec("distance_mean_mm", "mm", _V,
                "mean estimated eye-to-camera distance over rows with a face"),
    FeatureSpec("gaze_on_screen_share", "fraction", _V,
                "rows whose gaze (calibrated) or head-pose attention estimate is on screen / "
                "rows that say either way"),
    FeatureSpec("gaze_dispersion_deg", "deg", _V,
                "calibrated gaze dispersion: sqrt(var(x) + var(y)) of gaze points in the window, "
                "converted to visual angle at the viewing distance"),
    FeatureSpec("fixation_share", "fraction", _V,
                "I-VT (Salvucci & Goldberg 2000): calibrated gaze rows whose angular velocity "
                "from the previous row is below saccade_velocity_deg_s / calibrated rows"),
    FeatureSpec("saccade_rate_hz", "1/s", _V,
                "I-VT saccade onsets (velocity rising above the threshold) / window_s"),
    FeatureSpec("dwell_content_share", "fraction", _V,
                "calibrated gaze rows inside the current content's on-screen region / "
                "calibrated rows"),
    FeatureSpec("blink_rate_hz", "1/s", _V,
                "blink onsets (mean eyeBlink blendshape rising above blink_threshold) / window_s"),
    FeatureSpec("eye_closure_share", "fraction", _V,
                "rows with a face whose mean eyeBlink blendshape is above blink_threshold "
                "(PERCLOS-like) / rows with a face"),
    FeatureSpec("smile", "score 0-1", _V,
                "mean of (mouthSmileLeft + mouthSmileRight) / 2 over rows with a face"),
    FeatureSpec("brow_raise", "score 0-1", _V,
                "mean of (browInnerUp + browOuterUpLeft + browOuterUpRight) / 3"),
    FeatureSpec("brow_lower", "score 0-1", _V,
                "mean of (browDownLeft + browDownRight) / 2 over rows with a face"),
    FeatureSpec("jaw_open", "score 0-1", _V, "mean jawOpen blendshape over rows with a face"),
    # Behaviour: from input events in the window.
    FeatureSpec("key_rate_hz", "1/s", _B, "key presses (key_down, any class) / window_s"),
    FeatureSpec("text_key_rate_hz", "1/s", _B,
                "key presses of class letter, digit, space or punctuation / window_s"),
    FeatureSpec("navigation_key_rate_hz", "1/s", _B,
                "key presses of class navigation, tab or enter / window_s"),
    FeatureSpec("backspace_share", "fraction", _B,
                "backspace presses / key presses in the window (0 without key presses)"),
    FeatureSpec("typing_burst", "flag", _B,
                "1 if a key press in the window is at least the burst_min_keys-th of a run "
                "whose inter-press gaps are all below burst_gap_s (causal: only earlier presses)"),
    FeatureSpec("mouse_path_px", "px", _B,
                "sum of straight-line distances between consecutive pointer positions (move, "
                "button events), each segment counted at its later event; a thinned move "
                "counts the exact path since the previous move that it carries in dx"),
    FeatureSpec("mouse_speed_px_s", "px/s", _B, "mouse_path_px / window_s"),
    FeatureSpec("clicks", "count", _B, "mouse button presses (button_down) in the window"),
    FeatureSpec("scroll_down_px", "px", _B,
                "sum of -dy over scroll events with dy < 0, times scroll_px_per_unit"),
    FeatureSpec("scroll_up_px", "px", _B,
                "sum of dy over scroll events with dy > 0, times scroll_px_per_unit"),
    FeatureSpec("idle_s", "s", _B,
                "end of the step minus the time of the last input event before it (or minus the "
                "session start when there was none)"),
    # Content and engagement: from markers and the features above.
    FeatureSpec("content_shown", "flag", _C, "1 while a content item is shown"),
    FeatureSpec("time_on_content_s", "s", _C,
                "end of the step minus the time the current content was last shown"),
    FeatureSpec("content_revisits", "count", _C,
                "earlier content_shown markers of the same content id or topic, this session"),
    FeatureSpec("review_time_s", "s", _C,
                "T_r: cumulative review time of the current content id this session; per step "
                "step_s x dwell_content_share when gaze is calibrated, else step_s x "
                "face_present_share x gaze_on_screen_share"),
    FeatureSpec("reengagement", "count", _C,
                "R_e: content_revisits + (scroll-up px within the current content id, this "
                "session) / scroll_back_unit_px"),
    FeatureSpec("query_depth", "count", _C,
                "Q_d: query_submitted markers about the current content id so far this "
                "session (payload content_id, else the content shown); each query counts 1"),
    FeatureSpec("engagement", "score 0-1", _C,
                "E = f(T_r, R_e, Q_d): by default sum_k w_k * (1 - exp(-x_k / scale_k)) with "
                "weights 0.5/0.25/0.25 (fusion.engagement, configurable)"),
)

DEFAULT_SCHEMA = DatasetSchema(
    name=SCHEMA_NAME, version=SCHEMA_VERSION, features=FEATURES, actions=ACTIONS,
)

FEATURE_NAMES: tuple[str, ...] = DEFAULT_SCHEMA.feature_names


def action_index(name: str) -> int:
    """Index of an action name in :data:`ACTIONS`."""
    return ACTIONS.index(name)


def default_schema() -> DatasetSchema:
    """The schema every fusion run produces unless told otherwise."""
    return DEFAULT_SCHEMA
