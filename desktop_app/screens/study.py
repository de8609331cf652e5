"""The study task panel: content items to read, scroll, ask about, rate, and move past.

Every interaction becomes a marker carrying the content id and the content's on-screen region
in screen pixels (payloads as :mod:`sensing.markers` documents them; scrolling and region
changes, which have no marker kind of their own, are ``note`` markers with an ``event``).
Fusion computes review time (T_r: gaze dwell in that region), re-engagement (R_e: returns
and scroll-backs) and query depth (Q_d: follow-ups and rephrasings) from what the
participant actually did. The panel only emits markers; the app stores them through the
recorder, and drops them when the participant has not consented.

Question text is never put in a marker: only its length and whether it is a follow-up or a
rephrasing, because what someone asks can be as personal as what they type.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QPoint, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_app.study import Study, StudyItem

RATING_SCALE = 5
# Scrolling and window moves are reported once they settle, not per pixel.
SETTLE_MS = 250


class StudyPanel(QWidget):
    """Shows one study item at a time and reports each interaction as a marker."""

    marker = pyqtSignal(str, dict)  # kind, payload
    finished = pyqtSignal()

    def __init__(self, study: Study, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("study_panel")
        self.study = study
        self.index = -1
        self.started = False
        self.queries_on_item = 0
        self.task_id = study.title[:200] or "study"
        self._last_region: dict[str, int] | None = None
        self._last_scroll: tuple[float, float] | None = None

        layout = QVBoxLayout(self)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("study_progress")
        layout.addWidget(self.progress_label)
        self.title_label = QLabel()
        self.title_label.setObjectName("study_title")
        self.title_label.setWordWrap(True)
        layout.addWidget(self.title_label)
        self.content_view = QTextBrowser()
        self.content_view.setObjectName("study_content")
        self.content_view.setOpenExternalLinks(False)
        layout.addWidget(self.content_view, stretch=1)

        self.followup_row = QHBoxLayout()
        layout.addLayout(self.followup_row)
        self._followup_buttons: list[QPushButton] = []

        query_row = QHBoxLayout()
        self.query_edit = QLineEdit()
        self.query_edit.setObjectName("study_query")
        self.query_edit.setPlaceholderText("Ask a follow-up question, or rephrase your last one")
        self.query_edit.returnPressed.connect(lambda: self.submit_query(rephrase=False))
        self.query_edit.textChanged.connect(self._update_buttons)
        query_row.addWidget(self.query_edit, stretch=1)
        self.ask_button = QPushButton("Ask follow-up")
        self.ask_button.setObjectName("study_ask")
        self.ask_button.clicked.connect(lambda: self.submit_query(rephrase=False))
        query_row.addWidget(self.ask_button)
        self.rephrase_button = QPushButton("Rephrase last question")
        self.rephrase_button.setObjectName("study_rephrase")
        self.rephrase_button.clicked.connect(lambda: self.submit_query(rephrase=True))
        query_row.addWidget(self.rephrase_button)
        layout.addLayout(query_row)
        self.feedback_label = QLabel()
        self.feedback_label.setObjectName("study_feedback")
        layout.addWidget(self.feedback_label)

        rating_row = QHBoxLayout()
        rating_row.addWidget(QLabel("How useful was this text?"))
        self.rating_group = QButtonGroup(self)
        for value in range(1, RATING_SCALE + 1):
            button = QRadioButton(str(value))
            button.setObjectName(f"study_rating_{value}")
            self.rating_group.addButton(button, value)
            rating_row.addWidget(button)
        self.rating_group.idClicked.connect(self.rate)
        rating_row.addStretch(1)
        self.next_button = QPushButton("Next")
        self.next_button.setObjectName("study_next")
        self.next_button.clicked.connect(self.next_item)
        rating_row.addWidget(self.next_button)
        layout.addLayout(rating_row)

        self._scroll_timer = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._scroll_timer.timeout.connect(self._report_scroll)
        self.content_view.verticalScrollBar().valueChanged.connect(
            lambda _value: self._scroll_timer.start())
        # Window moves and resizes change the region; check it while content is shown.
        self._region_timer = QTimer(self, interval=2 * SETTLE_MS)
        self._region_timer.timeout.connect(self._check_region)
        self._update_buttons()

    # -- state ------------------------------------------------------------------------------

    @property
    def current(self) -> StudyItem | None:
        if 0 <= self.index < len(self.study.items):
            return self.study.items[self.index]
        return None

    def content_region(self) -> dict[str, int]:
        """The visible content area in pixels of the screen it is on (logical pixels, origin at
        that screen's top left), the coordinates calibrated gaze is reported in."""
        viewport = self.content_view.viewport()
        origin = viewport.mapToGlobal(QPoint(0, 0))
        screen = self.screen()
        if screen is not None:
            origin -= screen.geometry().topLeft()
        return {"x": origin.x(), "y": origin.y(), "w": viewport.width(), "h": viewport.height()}

    def scroll_fraction(self) -> tuple[float, float]:
        """Top and bottom of the visible part as fractions of the whole text."""
        bar = self.content_view.verticalScrollBar()
        total = bar.maximum() - bar.minimum() + bar.pageStep()
        if total <= 0:
            return 0.0, 1.0
        top = (bar.value() - bar.minimum()) / total
        return round(top, 4), round(min(1.0, top + bar.pageStep() / total), 4)

    def _payload(self, **extra: Any) -> dict[str, Any]:
        item = self.current
        payload: dict[str, Any] = {
            "content_id": item.id if item else None,
            "region": self.content_region(),
            "device_pixel_ratio": self.devicePixelRatioF(),
        }
        payload.update(extra)
        return payload

    def _emit(self, kind: str, **extra: Any) -> None:
        self.marker.emit(kind, self._payload(**extra))

    # -- flow -------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin the task with the first item."""
        if self.started:
            return
        self.started = True
        self.marker.emit("task_start", {"task_id": self.task_id, "items": len(self.study.items)})
        self._show(0)

    def _show(self, index: int) -> None:
        self.index = index
        item = self.study.items[index]
        self.progress_label.setText(f"Item {index + 1} of {len(self.study.items)}")
        self.title_label.setText(f"<h2>{item.title}</h2>")
        if item.is_markdown:
            self.content_view.setMarkdown(item.body)
        else:
            self.content_view.setPlainText(item.body)
        self.content_view.verticalScrollBar().setValue(0)
        for button in self._followup_buttons:
            self.followup_row.removeWidget(button)
            button.deleteLater()
        self._followup_buttons = []
        for text in item.followups:
            button = QPushButton(text)
            button.setObjectName("study_suggestion")
            button.clicked.connect(lambda _checked=False, t=text: self.query_edit.setText(t))
            self.followup_row.addWidget(button)
            self._followup_buttons.append(button)
        self.query_edit.clear()
        self.feedback_label.clear()
        self.queries_on_item = 0
        self.rating_group.setExclusive(False)
        for button in self.rating_group.buttons():
            button.setChecked(False)
        self.rating_group.setExclusive(True)
        self._update_buttons()
        self._last_region = self.content_region()
        self._last_scroll = self.scroll_fraction()
        extra = {"topic": item.topic} if item.topic else {}
        self._emit("content_shown", index=index, scroll_top=self._last_scroll[0],
                   scroll_bottom=self._last_scroll[1], **extra)
        self._region_timer.start()

    def next_item(self) -> None:
        """Hide the current item and show the next, or end the task after the last."""
        if not self.started:
            self.start()
            return
        if self.current is not None:
            self._emit("content_hidden", reason="next")
        if self.index + 1 < len(self.study.items):
            self._show(self.index + 1)
            return
        self._region_timer.stop()
        self.index = len(self.study.items)
        self.marker.emit("task_end", {"task_id": self.task_id, "completed": True})
        self.title_label.setText("<h2>Thank you: that was the last item.</h2>")
        self.content_view.setPlainText("You can stop the recording now.")
        self.progress_label.clear()
        self._update_buttons()
        self.finished.emit()

    def submit_query(self, *, rephrase: bool) -> None:
        """Report a question's length and type; the text itself is not recorded."""
        text = self.query_edit.text().strip()
        if not text or self.current is None:
            return
        if rephrase and self.queries_on_item == 0:
            rephrase = False
        self.queries_on_item += 1
        self._emit("query_submitted", text_length=len(text), is_rephrase=rephrase,
                   is_followup=not rephrase, query_index=self.queries_on_item)
        self.query_edit.clear()
        self.feedback_label.setText(
            "Rephrasing noted." if rephrase else f"Question {self.queries_on_item} noted.")
        self._update_buttons()

    def rate(self, value: int) -> None:
        if self.current is None:
            return
        self._emit("rating", value=int(value), scale=[1, RATING_SCALE])

    def _report_scroll(self) -> None:
        if self.current is None:
            return
        scroll = self.scroll_fraction()
        previous = self._last_scroll or scroll
        self._last_scroll = scroll
        if scroll == previous:
            return
        direction = "back" if scroll[0] < previous[0] else "down"
        self._emit("note", text=f"scrolled {direction}", event="content_scrolled",
                   direction=direction, scroll_top=scroll[0], scroll_bottom=scroll[1])

    def _check_region(self) -> None:
        if self.current is None or not self.isVisible():
            return
        region = self.content_region()
        if region != self._last_region:
            self._last_region = region
            self._emit("note", text="content region changed", event="content_region_changed")

    def _update_buttons(self) -> None:
        has_item = self.current is not None
        has_text = bool(self.query_edit.text().strip())
        self.ask_button.setEnabled(has_item and has_text)
        self.rephrase_button.setEnabled(has_item and has_text and self.queries_on_item > 0)
        for button in self.rating_group.buttons():
            button.setEnabled(has_item)
        self.next_button.setEnabled(self.index < len(self.study.items))
        self.next_button.setText("Start" if not self.started else
                                 "Finish" if self.index == len(self.study.items) - 1 else "Next")
        self.query_edit.setEnabled(has_item)
