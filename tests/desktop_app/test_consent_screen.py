"""Consent screen: opt-in per stream, nothing starts before agreement."""

from __future__ import annotations

from PyQt6.QtCore import Qt

from desktop_app.screens.consent import ConsentScreen
from sensing.records import CONSENT_STREAMS


def make(qtbot) -> ConsentScreen:
    screen = ConsentScreen("Please read this.")
    qtbot.addWidget(screen)
    return screen


def test_every_stream_starts_unticked_and_start_is_disabled(qtbot):
    screen = make(qtbot)
    assert set(screen.stream_boxes) == set(CONSENT_STREAMS)
    assert not any(box.isChecked() for box in screen.stream_boxes.values())
    assert not screen.start_button.isEnabled()


def test_start_needs_the_agreement_box(qtbot):
    screen = make(qtbot)
    screen.stream_boxes["keyboard"].setChecked(True)
    assert not screen.start_button.isEnabled()
    assert "agreement" in screen.hint_label.text()
    screen.agree_box.setChecked(True)
    assert screen.start_button.isEnabled()


def test_start_emits_the_exact_per_stream_choices(qtbot):
    screen = make(qtbot)
    for stream in ("camera", "keyboard", "markers"):
        screen.stream_boxes[stream].setChecked(True)
    screen.agree_box.setChecked(True)
    screen.participant_edit.setText("P042")
    with qtbot.waitSignal(screen.consent_given) as blocker:
        qtbot.mouseClick(screen.start_button, Qt.MouseButton.LeftButton)
    participant, consent, text = blocker.args
    assert participant == "P042"
    assert consent == {"camera": True, "video": False, "landmarks": False, "keyboard": True,
                       "mouse": False, "scroll": False, "markers": True}
    assert text == "Please read this."


def test_video_and_face_mesh_are_dropped_without_camera(qtbot):
    screen = make(qtbot)
    screen.stream_boxes["video"].setChecked(True)
    screen.stream_boxes["camera"].setChecked(False)
    assert not screen.stream_boxes["video"].isEnabled()
    assert screen.choices()["video"] is False


def test_participant_id_with_spaces_blocks_start(qtbot):
    screen = make(qtbot)
    screen.stream_boxes["mouse"].setChecked(True)
    screen.agree_box.setChecked(True)
    screen.participant_edit.setText("bad id")
    assert not screen.start_button.isEnabled()
