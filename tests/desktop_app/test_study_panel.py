"""Study task panel: each interaction is a marker with content id and on-screen region."""

from __future__ import annotations

import json

from PyQt6.QtCore import Qt

from desktop_app.screens.study import StudyPanel
from desktop_app.study import parse_study
from sensing.markers import validate_payload

STUDY = parse_study("\n".join(json.dumps(obj) for obj in (
    {"id": "one", "title": "One", "text": "\n\n".join(["A paragraph of text."] * 80),
     "followups": ["Why?"]},
    {"id": "two", "title": "Two", "markdown": "# Two\n\nShort."},
)))


def make(qtbot) -> tuple[StudyPanel, list[tuple[str, dict]]]:
    panel = StudyPanel(STUDY)
    panel.resize(600, 400)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    seen: list[tuple[str, dict]] = []
    panel.marker.connect(lambda kind, payload: seen.append((kind, payload)))
    return panel, seen


def test_start_reports_task_start_then_first_content_with_its_region(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    assert [kind for kind, _ in seen] == ["task_start", "content_shown"]
    payload = seen[1][1]
    assert payload["content_id"] == "one"
    viewport = panel.content_view.viewport()
    assert payload["region"]["w"] == viewport.width() > 0
    assert payload["region"]["h"] == viewport.height() > 0


def test_query_marker_has_length_and_kind_but_never_the_text(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    qtbot.keyClicks(panel.query_edit, "what about the moon")
    qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(panel.query_edit, "moon again?")
    qtbot.mouseClick(panel.rephrase_button, Qt.MouseButton.LeftButton)
    queries = [payload for kind, payload in seen if kind == "query_submitted"]
    assert [(q["text_length"], q["is_followup"], q["is_rephrase"]) for q in queries] == [
        (19, True, False), (11, False, True)]
    assert "moon" not in json.dumps(seen)


def test_rephrase_is_disabled_before_a_first_question(qtbot):
    panel, _ = make(qtbot)
    panel.start()
    qtbot.keyClicks(panel.query_edit, "hello")
    assert panel.ask_button.isEnabled() and not panel.rephrase_button.isEnabled()


def test_rating_reports_value_and_scale(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    qtbot.mouseClick(panel.rating_group.button(4), Qt.MouseButton.LeftButton)
    assert seen[-1][0] == "rating"
    assert (seen[-1][1]["value"], seen[-1][1]["scale"], seen[-1][1]["content_id"]) == (
        4, [1, 5], "one")


def test_scrolling_reports_once_settled_with_direction(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    bar = panel.content_view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    qtbot.waitUntil(lambda: any(p.get("event") == "content_scrolled" for _, p in seen))
    bar.setValue(0)
    qtbot.waitUntil(lambda: sum(p.get("event") == "content_scrolled" for _, p in seen) == 2)
    scrolls = [p for _, p in seen if p.get("event") == "content_scrolled"]
    assert [s["direction"] for s in scrolls] == ["down", "back"]
    assert scrolls[0]["scroll_top"] > 0.3 and scrolls[1]["scroll_top"] == 0.0


def test_next_hides_current_then_shows_next_and_ends_after_last(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    with qtbot.waitSignal(panel.finished):
        panel.next_item()
        panel.next_item()
    kinds = [(kind, payload.get("content_id")) for kind, payload in seen]
    assert kinds == [("task_start", None), ("content_shown", "one"), ("content_hidden", "one"),
                     ("content_shown", "two"), ("content_hidden", "two"), ("task_end", None)]
    assert not panel.next_button.isEnabled()


def test_every_marker_passes_the_marker_validator(qtbot):
    panel, seen = make(qtbot)
    panel.start()
    qtbot.keyClicks(panel.query_edit, "why")
    panel.submit_query(rephrase=False)
    panel.rate(3)
    bar = panel.content_view.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: seen[-1][0] == "note")
    panel.next_item()
    panel.next_item()
    assert len(seen) == 9
    for kind, payload in seen:
        assert validate_payload(kind, payload) == payload
