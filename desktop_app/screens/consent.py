"""Consent: the study text and one plainly worded checkbox per stream, before anything starts.

Nothing is captured until the participant ticks the agreement box and presses Start; the
screen then hands the per-stream choices to the app, which creates the session with them.
Every stream is opt-in (all boxes start empty), so consent is an action, not a default.
"""

from __future__ import annotations

import re

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from sensing.records import CONSENT_STREAMS

# What each stream records, in words a participant understands.
STREAM_WORDING: dict[str, tuple[str, str]] = {
    "camera": ("Camera features",
               "The camera image is turned into numbers on this computer: whether a face is "
               "there, head direction, where on the screen you look, and expression scores. "
               "The image itself is not kept."),
    "video": ("Raw video",
              "The camera images themselves are saved next to the session so they can be "
              "analysed again later. Needs camera features."),
    "landmarks": ("Face mesh",
                  "478 points tracing the shape of your face in every frame. This is "
                  "biometric data. Needs camera features."),
    "keyboard": ("Keyboard timing",
                 "When keys go down and up and which kind of key it was (letter, space, "
                 "backspace...). Never which character you typed."),
    "mouse": ("Mouse", "Where the pointer is, how it moves, and when you click."),
    "scroll": ("Scroll", "How far and in which direction you scroll."),
    "markers": ("Study events",
                "Which text is shown and where on the screen, when you ask a question (its "
                "length, not its words), your ratings, pauses and resumes."),
}

# Streams that only make sense with the camera running.
NEEDS_CAMERA = ("video", "landmarks")

PARTICIPANT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConsentScreen(QWidget):
    """Shows the consent text and collects the per-stream choices."""

    consent_given = pyqtSignal(str, dict, str)  # participant, {stream: granted}, consent text

    def __init__(self, consent_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("consent_screen")
        layout = QVBoxLayout(self)

        heading = QLabel("<h2>Before we start</h2>")
        layout.addWidget(heading)
        self.text_view = QTextBrowser()
        self.text_view.setObjectName("consent_text")
        self.text_view.setOpenExternalLinks(False)
        layout.addWidget(self.text_view, stretch=2)

        streams_box = QGroupBox("What may be recorded (tick what you agree to)")
        streams_layout = QVBoxLayout(streams_box)
        self.stream_boxes: dict[str, QCheckBox] = {}
        for stream in CONSENT_STREAMS:
            title, words = STREAM_WORDING[stream]
            box = QCheckBox(f"{title}: {words}")
            box.setObjectName(f"consent_{stream}")
            box.setToolTip(words)
            box.toggled.connect(self._update_state)
            self.stream_boxes[stream] = box
            streams_layout.addWidget(box)
        layout.addWidget(streams_box, stretch=1)

        form = QFormLayout()
        self.participant_edit = QLineEdit("P001")
        self.participant_edit.setObjectName("participant_id")
        self.participant_edit.textChanged.connect(self._update_state)
        form.addRow("Participant id", self.participant_edit)
        layout.addLayout(form)

        self.agree_box = QCheckBox("I have read the text above and agree to take part.")
        self.agree_box.setObjectName("consent_agree")
        self.agree_box.toggled.connect(self._update_state)
        layout.addWidget(self.agree_box)

        row = QHBoxLayout()
        self.hint_label = QLabel()
        self.hint_label.setObjectName("consent_hint")
        row.addWidget(self.hint_label, stretch=1)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("consent_start")
        self.start_button.clicked.connect(self._start)
        row.addWidget(self.start_button)
        layout.addLayout(row)

        self.set_consent_text(consent_text)
        self._update_state()

    def set_consent_text(self, text: str) -> None:
        """Show a study's consent text (plain text or Markdown)."""
        self.consent_text = text
        self.text_view.setMarkdown(text)

    def choices(self) -> dict[str, bool]:
        """The current per-stream choices, camera-dependent streams cleared without camera."""
        chosen = {stream: box.isChecked() for stream, box in self.stream_boxes.items()}
        if not chosen["camera"]:
            for stream in NEEDS_CAMERA:
                chosen[stream] = False
        return chosen

    def problem(self) -> str:
        """Why Start is not possible yet, or "" when it is."""
        if not PARTICIPANT_PATTERN.match(self.participant_edit.text().strip()):
            return "Enter a participant id: letters, digits, dot, dash or underscore."
        if not any(self.choices().values()):
            return "Tick at least one stream to record."
        if not self.agree_box.isChecked():
            return "Tick the agreement box to start."
        return ""

    def _update_state(self) -> None:
        camera = self.stream_boxes["camera"].isChecked()
        for stream in NEEDS_CAMERA:
            self.stream_boxes[stream].setEnabled(camera)
        problem = self.problem()
        self.hint_label.setText(problem)
        self.start_button.setEnabled(not problem)

    def _start(self) -> None:
        if self.problem():
            return
        self.consent_given.emit(self.participant_edit.text().strip(), self.choices(),
                                self.consent_text)

    def reset(self) -> None:
        """Clear the agreement so the next participant must agree again."""
        self.agree_box.setChecked(False)
