"""Keyboard, mouse and scroll capture with pynput: classes and timings, never characters.

Each event is stamped on the session clock in the listener thread, as close to the
observation as the operating system lets us, and handed to a sink (normally the recorder's
writer) that must not block. What is stored:

- ``key_down`` / ``key_up``: ``key_class`` is one of :data:`sensing.records.KEY_CLASSES`.
  The character and the key code are read only to pick the class and are never stored,
  logged or kept in memory beyond the callback (the ActivityWatch input watcher counts keys
  for the same reason).
- ``button_down`` / ``button_up``: ``x_px``, ``y_px`` where the button changed; ``key_class``
  names the button (``left``, ``right``, ``middle`` or ``other``).
- ``scroll``: ``x_px``, ``y_px`` and the wheel steps ``dx``, ``dy`` as pynput reports them.
- ``move``: pointer motion thinned to at most one event per ``move_interval_s`` (60 Hz by
  default; X11 reports a sample per pixel, which would swamp the store with no gain for
  engagement features). Thinning keeps the path length exact: a kept move carries
  ``x_px``, ``y_px`` = the pointer position at its last merged sample, ``dx`` = the path
  length in pixels travelled since the previous kept move (the sum of the Euclidean lengths
  of every raw segment merged into it, so summing ``dx`` over a session gives the exact raw
  path length), and ``dy`` = how many raw samples were merged (at least 1). ``t_ns`` is the
  time of the last merged sample. A move still pending when the pointer stops is flushed by
  :meth:`InputCapture.flush_pending`, by the next button or scroll event, and at stop.

Each stream (keyboard, mouse, scroll) starts only when its consent is given. Pausing
(:meth:`InputCapture.set_paused`) stops storing anything; a global pause hotkey
(e.g. ``"<ctrl>+<alt>+p"``, pynput's HotKey syntax) calls back the owner, which records the
pause as a marker. Where pynput cannot listen (no X display, a Wayland session, macOS
without the accessibility permission) :attr:`InputCapture.unavailable_reason` says why, a
warning is logged once, and the other streams of the recording keep going.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sensing.clock import SessionClock
from sensing.records import InputEvent

log = logging.getLogger(__name__)

INPUT_STREAMS: tuple[str, ...] = ("keyboard", "mouse", "scroll")
DEFAULT_MOVE_INTERVAL_S = 1 / 60

_KEY_NAME_CLASSES: dict[str, str] = {
    "space": "space",
    "backspace": "backspace", "delete": "backspace",
    "enter": "enter",
    "tab": "tab",
    "shift": "modifier", "shift_l": "modifier", "shift_r": "modifier",
    "ctrl": "modifier", "ctrl_l": "modifier", "ctrl_r": "modifier",
    "alt": "modifier", "alt_l": "modifier", "alt_r": "modifier", "alt_gr": "modifier",
    "cmd": "modifier", "cmd_l": "modifier", "cmd_r": "modifier",
    "caps_lock": "modifier", "num_lock": "modifier",
    "up": "navigation", "down": "navigation", "left": "navigation", "right": "navigation",
    "home": "navigation", "end": "navigation", "page_up": "navigation",
    "page_down": "navigation", "insert": "navigation",
}


def classify_key(char: str | None, name: str | None) -> str:
    """The stored class of a key from its character (if any) or its pynput key name.

    Only the class leaves this function; callers must not keep ``char`` or ``name``.
    """
    if name:
        if name in _KEY_NAME_CLASSES:
            return _KEY_NAME_CLASSES[name]
        if name[0] == "f" and name[1:].isdigit():
            return "function"
        return "other"
    if not char or len(char) != 1:
        return "other"
    if char.isalpha():
        return "letter"
    if char.isdigit():
        return "digit"
    if char == " ":
        return "space"
    if char in "\r\n":
        return "enter"
    if char == "\t":
        return "tab"
    if char.isprintable():
        return "punctuation"
    return "other"


def classify_pynput_key(key: Any) -> str:
    """Class of a pynput ``Key`` or ``KeyCode`` without keeping the key."""
    name = getattr(key, "name", None)
    if name is not None and not isinstance(name, str):
        name = None
    char = None if name else getattr(key, "char", None)
    return classify_key(char, name)


def listening_problem() -> str | None:
    """Why pynput cannot listen on this machine, or None when it should work."""
    if sys.platform.startswith("linux"):
        if os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland" and not os.environ.get(
            "DISPLAY"
        ):
            return ("this is a Wayland session without XWayland: pynput cannot see input "
                    "events; log in to an X11 session to record keyboard and mouse")
        if not os.environ.get("DISPLAY"):
            return ("no X display (DISPLAY is not set): keyboard and mouse cannot be recorded "
                    "on a headless machine; run under a desktop session or Xvfb")
    return None


def _wake_xorg_listener(listener: Any) -> None:
    """End an X11 listener thread now rather than at the next input event.

    pynput's X11 ``stop`` sends the record-disable request on the connection its thread is
    blocked reading, where it can sit unsent; sending it on the listener's second connection
    (the one pynput itself uses for this when its thread ends) releases the thread at once.
    """
    display = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if display is None or context is None:
        return
    try:
        display.record_disable_context(context)
        display.flush()
    except Exception as error:  # the thread may have closed the connection already
        log.debug("X11 listener already stopped: %s", error)


@dataclass
class _PendingMove:
    t_ns: int
    x_px: float
    y_px: float
    path_px: float
    samples: int


class InputCapture:
    """pynput listeners for the consented input streams, feeding a non-blocking sink.

    ``sink(event) -> bool`` is called on the listener thread; it returns False when the event
    was dropped (a full queue), which is counted here too. ``on_hotkey`` is called on the
    listener thread when the pause hotkey is pressed. ``on_press``, ``on_release``,
    ``on_move``, ``on_click`` and ``on_scroll`` have pynput's callback signatures; besides the
    listeners, a load generator may call them to inject events through the same path.
    """

    def __init__(
        self,
        clock: SessionClock,
        sink: Callable[[InputEvent], bool],
        *,
        consent: Mapping[str, bool],
        move_interval_s: float = DEFAULT_MOVE_INTERVAL_S,
        pause_hotkey: str | None = None,
        on_hotkey: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._sink = sink
        self._streams = {s: bool(consent.get(s, False)) for s in INPUT_STREAMS}
        self._move_interval_ns = int(move_interval_s * 1e9)
        self._pause_hotkey = pause_hotkey
        self._on_hotkey = on_hotkey
        self._paused = False
        self._lock = threading.Lock()
        self._pending: _PendingMove | None = None
        self._last_move: tuple[float, float] | None = None
        self._last_kept_ns = -(1 << 62)
        self._keyboard_listener: Any = None
        self._mouse_listener: Any = None
        self._hotkey: Any = None
        self.unavailable_reason: str | None = None
        self.counts: dict[str, dict[str, int]] = {
            s: {"received": 0, "sunk": 0, "dropped": 0, "paused": 0} for s in INPUT_STREAMS
        }
        self.raw_moves = 0

    @property
    def streams(self) -> dict[str, bool]:
        """The streams this capture records (consented), by name."""
        return dict(self._streams)

    @property
    def listening(self) -> bool:
        return self._keyboard_listener is not None or self._mouse_listener is not None

    def start(self) -> bool:
        """Start the listeners the consent allows; False (with a reason) when pynput cannot."""
        want_keyboard = self._streams["keyboard"] or self._pause_hotkey is not None
        want_mouse = self._streams["mouse"] or self._streams["scroll"]
        if not (want_keyboard or want_mouse):
            return True
        problem = listening_problem()
        if problem is None:
            try:
                from pynput import keyboard, mouse
            except ImportError as error:
                problem = f"pynput cannot listen here ({str(error).splitlines()[0]})"
        if problem is not None:
            self.unavailable_reason = problem
            what = ("input not recorded" if any(self._streams.values())
                    else "pause hotkey not available")
            log.warning("%s: %s", what, problem)
            return False

        if self._pause_hotkey:
            self._hotkey = keyboard.HotKey(keyboard.HotKey.parse(self._pause_hotkey),
                                           self._hotkey_pressed)
        if want_keyboard:
            self._keyboard_listener = keyboard.Listener(
                on_press=self.on_press, on_release=self.on_release
            )
        if want_mouse:
            self._mouse_listener = mouse.Listener(
                on_move=self.on_move if self._streams["mouse"] else None,
                on_click=self.on_click if self._streams["mouse"] else None,
                on_scroll=self.on_scroll if self._streams["scroll"] else None,
            )
        for listener in (self._keyboard_listener, self._mouse_listener):
            if listener is not None:
                listener.daemon = True
                listener.start()
        for listener in (self._keyboard_listener, self._mouse_listener):
            if listener is not None:
                listener.wait()
        if sys.platform == "darwin" and not all(
            getattr(listener, "IS_TRUSTED", True)
            for listener in (self._keyboard_listener, self._mouse_listener) if listener
        ):
            self.unavailable_reason = ("macOS has not granted this program the accessibility "
                                       "(input monitoring) permission; grant it in System "
                                       "Settings > Privacy & Security and restart")
            log.warning("input not recorded: %s", self.unavailable_reason)
            self.stop()
            return False
        log.info("input listeners started: %s",
                 ", ".join(s for s, on in self._streams.items() if on) or "hotkey only")
        return True

    def stop(self) -> None:
        """Stop the listeners and flush a pending move."""
        for listener in (self._keyboard_listener, self._mouse_listener):
            if listener is not None:
                listener.stop()
                _wake_xorg_listener(listener)
        for listener in (self._keyboard_listener, self._mouse_listener):
            if listener is not None and listener.is_alive():
                listener.join(timeout=2.0)
        self._keyboard_listener = None
        self._mouse_listener = None
        self.flush_pending(force=True)

    def set_paused(self, paused: bool) -> None:
        """While paused nothing is stored; a pending move is dropped, not stored late."""
        with self._lock:
            self._paused = paused
            self._pending = None
            self._last_move = None

    def set_consent(self, stream: str, granted: bool) -> None:
        """Withdraw (or restore) one stream mid-session; listeners keep running, storing less.

        Restoring a stream whose listener was never started does not start it.
        """
        if stream in self._streams:
            with self._lock:
                self._streams[stream] = granted
                if stream == "mouse" and not granted:
                    self._pending = None

    def flush_pending(self, *, force: bool = False) -> None:
        """Store a thinned-away move once the pointer has rested for one interval."""
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            if not force and self._clock.now_ns() - pending.t_ns < self._move_interval_ns:
                return
            self._flush_locked()

    # Every event is stamped and handed to the sink while holding ``_lock``, so events from
    # the keyboard and mouse threads reach the store in time order (the store checks it).

    def _flush_locked(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._last_kept_ns = pending.t_ns
        self._emit("mouse", InputEvent(pending.t_ns, "move", None, pending.x_px, pending.y_px,
                                       pending.path_px, float(pending.samples)))

    def _emit(self, stream: str, event: InputEvent) -> None:
        outcome = "sunk" if self._sink(event) else "dropped"
        self.counts[stream][outcome] += 1

    def _accept(self, stream: str) -> bool:
        counts = self.counts[stream]
        counts["received"] += 1
        if self._paused:
            counts["paused"] += 1
            return False
        return self._streams[stream]

    def _hotkey_pressed(self) -> None:
        if self._on_hotkey is not None:
            try:
                self._on_hotkey()
            except Exception:  # a failing callback must not kill the listener thread
                log.exception("pause hotkey handler failed")

    def _feed_hotkey(self, key: Any, down: bool) -> None:
        if self._hotkey is None or self._keyboard_listener is None:
            return
        canonical = self._keyboard_listener.canonical(key)
        if down:
            self._hotkey.press(canonical)
        else:
            self._hotkey.release(canonical)

    def _on_key(self, key: Any, kind: str) -> None:
        with self._lock:
            t_ns = self._clock.now_ns()
            key_class = classify_pynput_key(key)
            if self._streams["keyboard"] and self._accept("keyboard"):
                self._flush_locked()
                self._emit("keyboard", InputEvent(t_ns, kind, key_class))
        self._feed_hotkey(key, kind == "key_down")

    def on_press(self, key: Any) -> None:
        self._on_key(key, "key_down")

    def on_release(self, key: Any) -> None:
        self._on_key(key, "key_up")

    def on_move(self, x: float, y: float) -> None:
        with self._lock:
            t_ns = self._clock.now_ns()
            self.raw_moves += 1
            if not self._accept("mouse"):
                return
            last = self._last_move
            step = 0.0 if last is None else math.hypot(x - last[0], y - last[1])
            self._last_move = (float(x), float(y))
            pending = self._pending
            if pending is None:
                self._pending = _PendingMove(t_ns, float(x), float(y), step, 1)
            else:
                self._pending = _PendingMove(t_ns, float(x), float(y), pending.path_px + step,
                                             pending.samples + 1)
            if t_ns - self._last_kept_ns >= self._move_interval_ns:
                self._flush_locked()

    def on_click(self, x: float, y: float, button: Any, pressed: bool) -> None:
        with self._lock:
            t_ns = self._clock.now_ns()
            if not self._accept("mouse"):
                return
            self._flush_locked()
            kind = "button_down" if pressed else "button_up"
            self._emit("mouse", InputEvent(t_ns, kind, None, float(x), float(y)))

    def on_scroll(self, x: float, y: float, dx: float, dy: float) -> None:
        with self._lock:
            t_ns = self._clock.now_ns()
            if not self._accept("scroll"):
                return
            self._flush_locked()
            self._emit("scroll", InputEvent(t_ns, "scroll", None, float(x), float(y),
                                            float(dx), float(dy)))
