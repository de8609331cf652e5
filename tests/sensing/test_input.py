"""Input capture: key classes never characters, exact path length under thinning, consent,
pause, headless reporting, and real pynput listeners driven by xdotool on Xvfb."""

from __future__ import annotations

import logging
import math
import os
import string

import pytest

from sensing.clock import SessionClock
from sensing.input import InputCapture, classify_key, classify_pynput_key
from sensing.records import KEY_CLASSES, InputEvent
from tests.sensing.display import display_env, xdotool, xvfb_display  # noqa: F401
from tests.sensing.waiting import wait_until

ALL_INPUT = {"keyboard": True, "mouse": True, "scroll": True}


class SteppedClock(SessionClock):
    """A session clock the test advances by hand, so thinning is deterministic."""

    def __init__(self) -> None:
        super().__init__()
        self.t_ns = 0

    def now_ns(self) -> int:
        return self.t_ns


class FakeKey:
    """Stands in for a pynput KeyCode (a character) or Key (a name)."""

    def __init__(self, char: str | None = None, name: str | None = None) -> None:
        self.char = char
        if name is not None:
            self.name = name


def capture_into(events: list[InputEvent], clock: SessionClock | None = None,
                 **consent: bool) -> InputCapture:
    def sink(event: InputEvent) -> bool:
        events.append(event)
        return True

    return InputCapture(clock or SessionClock(), sink, consent={**ALL_INPUT, **consent})


@pytest.mark.parametrize(("char", "name", "expected"), [
    ("a", None, "letter"), ("Z", None, "letter"), ("é", None, "letter"), ("7", None, "digit"),
    (" ", None, "space"), (",", None, "punctuation"), ("?", None, "punctuation"),
    (None, "space", "space"), (None, "backspace", "backspace"), (None, "delete", "backspace"),
    (None, "enter", "enter"), (None, "tab", "tab"), (None, "shift_r", "modifier"),
    (None, "ctrl_l", "modifier"), (None, "cmd", "modifier"), (None, "left", "navigation"),
    (None, "page_down", "navigation"), (None, "f5", "function"), (None, "f12", "function"),
    (None, "esc", "other"), (None, "media_play_pause", "other"), (None, None, "other"),
])
def test_keys_map_to_their_class(char, name, expected):
    assert classify_key(char, name) == expected


def test_every_printable_character_maps_to_a_class_not_to_itself():
    for char in string.printable:
        key_class = classify_key(char, None)
        assert key_class in KEY_CLASSES
        assert key_class != char


def test_pynput_key_objects_are_classified_by_name_before_character():
    assert classify_pynput_key(FakeKey(char="q")) == "letter"
    assert classify_pynput_key(FakeKey(name="enter")) == "enter"


def test_key_events_carry_the_class_and_no_position():
    events: list[InputEvent] = []
    capture = capture_into(events)
    capture.on_press(FakeKey(char="x"))
    capture.on_release(FakeKey(char="x"))
    assert [(e.kind, e.key_class, e.x_px) for e in events] == [
        ("key_down", "letter", None), ("key_up", "letter", None)]


def test_thinned_moves_keep_the_exact_path_length_and_sample_count():
    clock = SteppedClock()
    events: list[InputEvent] = []
    capture = capture_into(events, clock)
    raw_path = 0.0
    previous = None
    for step in range(1000):  # 1 kHz pointer for one second along a spiral
        clock.t_ns = step * 1_000_000
        x, y = 400 + step * 0.3 * math.cos(step / 20), 300 + step * 0.3 * math.sin(step / 20)
        if previous is not None:
            raw_path += math.hypot(x - previous[0], y - previous[1])
        previous = (x, y)
        capture.on_move(x, y)
    capture.flush_pending(force=True)

    moves = [e for e in events if e.kind == "move"]
    assert 55 <= len(moves) <= 62  # about 60 Hz out of 1000 samples
    assert sum(e.dx for e in moves) == pytest.approx(raw_path, rel=1e-12)
    assert sum(e.dy for e in moves) == 1000
    assert (moves[-1].x_px, moves[-1].y_px) == pytest.approx(previous)


def test_a_resting_pointer_is_flushed_after_one_interval_at_its_own_time():
    clock = SteppedClock()
    events: list[InputEvent] = []
    capture = capture_into(events, clock)
    capture.on_move(10, 10)
    clock.t_ns = 5_000_000
    capture.on_move(13, 14)
    capture.flush_pending()
    assert len(events) == 1
    clock.t_ns = 40_000_000
    capture.flush_pending()
    assert [(e.t_ns, e.x_px, e.dx, e.dy) for e in events][-1] == (5_000_000, 13.0, 5.0, 1.0)


def test_a_button_press_flushes_the_pending_move_first():
    clock = SteppedClock()
    events: list[InputEvent] = []
    capture = capture_into(events, clock)
    capture.on_move(0, 0)
    clock.t_ns = 1_000_000
    capture.on_move(3, 4)
    clock.t_ns = 2_000_000
    capture.on_click(3, 4, object(), True)
    assert [e.kind for e in events] == ["move", "move", "button_down"]
    assert [e.t_ns for e in events] == sorted(e.t_ns for e in events)


def test_scroll_events_keep_position_and_steps():
    events: list[InputEvent] = []
    capture = capture_into(events)
    capture.on_scroll(100, 200, 0, -2)
    assert [(e.kind, e.x_px, e.y_px, e.dx, e.dy) for e in events] == [
        ("scroll", 100.0, 200.0, 0.0, -2.0)]


def test_unconsented_streams_store_nothing():
    events: list[InputEvent] = []
    capture = capture_into(events, keyboard=False, scroll=False)
    capture.on_press(FakeKey(char="a"))
    capture.on_scroll(1, 1, 0, 1)
    capture.on_click(1, 1, object(), True)
    assert [e.kind for e in events] == ["button_down"]


def test_paused_capture_stores_nothing_and_counts_what_it_ignored():
    events: list[InputEvent] = []
    capture = capture_into(events)
    capture.set_paused(True)
    capture.on_press(FakeKey(char="a"))
    capture.on_move(5, 5)
    capture.set_paused(False)
    capture.on_press(FakeKey(char="b"))
    assert [e.kind for e in events] == ["key_down"]
    assert capture.counts["keyboard"]["paused"] == 1
    assert capture.counts["mouse"]["paused"] == 1


def test_a_full_sink_is_counted_as_dropped():
    capture = InputCapture(SessionClock(), lambda event: False, consent=ALL_INPUT)
    capture.on_press(FakeKey(char="a"))
    assert capture.counts["keyboard"] == {"received": 1, "sunk": 0, "dropped": 1, "paused": 0}


def test_without_a_display_capture_says_why_once_and_does_not_start(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    capture = capture_into([])
    with caplog.at_level(logging.WARNING, logger="sensing.input"):
        assert capture.start() is False
    assert "DISPLAY" in capture.unavailable_reason
    assert len([r for r in caplog.records if r.name == "sensing.input"]) == 1
    assert not capture.listening


@pytest.mark.display
@pytest.mark.usefixtures("display_env")
def test_real_listeners_record_xdotool_typing_as_classes():
    display = os.environ["DISPLAY"]
    events: list[InputEvent] = []
    capture = capture_into(events)
    assert capture.start()
    try:
        xdotool(display, "type", "--delay", "5", "ab1,")
        xdotool(display, "key", "Return", "F3")
        xdotool(display, "mousemove", "50", "60", "click", "3", "click", "5")
        wait_until(lambda: len([e for e in events if e.kind != "move"]) >= 15,
                   what="15 key/button/scroll events")
    finally:
        capture.stop()
    keys = [(e.kind, e.key_class) for e in events if e.kind.startswith("key")]
    assert [k for k in keys if k[0] == "key_down"] == [
        ("key_down", c) for c in ("letter", "letter", "digit", "punctuation", "enter",
                                  "function")]
    assert [e.kind for e in events if e.kind in ("button_down", "button_up", "scroll")] == [
        "button_down", "button_up", "scroll"]
    assert [(e.dx, e.dy) for e in events if e.kind == "scroll"] == [(0.0, -1.0)]
    assert [e.t_ns for e in events] == sorted(e.t_ns for e in events)


@pytest.mark.display
@pytest.mark.usefixtures("display_env")
def test_the_pause_hotkey_calls_back_without_keyboard_consent():
    display = os.environ["DISPLAY"]
    events: list[InputEvent] = []
    pressed: list[int] = []
    capture = InputCapture(SessionClock(), lambda e: events.append(e) or True,
                           consent={"keyboard": False}, pause_hotkey="<ctrl>+<alt>+p",
                           on_hotkey=lambda: pressed.append(1))
    assert capture.start()
    try:
        xdotool(display, "key", "ctrl+alt+p")
        wait_until(lambda: pressed, what="the hotkey callback")
    finally:
        capture.stop()
    assert pressed == [1]
    assert events == []
