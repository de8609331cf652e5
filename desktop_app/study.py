"""The study file: what a participant reads during a session, as JSON Lines.

One JSON object per line. An optional first line with ``"type": "study"`` describes the
study as a whole (``title``, ``consent_text``); every other line is one content item::

    {"type": "study", "title": "Reading study", "consent_text": "We study how ..."}
    {"id": "intro", "title": "Why sleep matters", "markdown": "# Sleep\\n...",
     "followups": ["What happens without REM sleep?"]}
    {"id": "tides", "title": "Tides", "text": "Plain text is shown as it is."}

An item has exactly one of ``text`` (plain) or ``markdown``; ``followups`` are optional
suggestions the participant may pick or rewrite; an optional ``topic`` groups items that
fusion counts as similar content for re-engagement. Ids must be unique because fusion groups
the participant's reading, re-reading and questions by content id (T_r, R_e and Q_d).
Blank lines and lines starting with ``//`` are ignored so a study author can annotate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sensing.errors import EngageError

EXAMPLE_STUDY_NAME = "example_study.jsonl"

DEFAULT_CONSENT_TEXT = (
    "This study looks at how people read and ask about short texts on a screen. While you "
    "take part, Engage records only the streams you tick below, on this computer, in a file "
    "that only your user account can open. Nothing is sent anywhere. Key presses are kept as "
    "kinds of key (letter, space, backspace...) and their timing, never as the characters you "
    "type. You can pause at any time, and you can withdraw: recording stops and you may "
    "delete everything recorded in this session on the spot."
)

ITEM_KEYS = frozenset({"id", "title", "text", "markdown", "followups", "topic", "type"})
HEADER_KEYS = frozenset({"type", "title", "consent_text", "description"})


class StudyError(EngageError):
    """A study file cannot be read or is not a valid study."""


@dataclass(frozen=True)
class StudyItem:
    """One piece of content the participant reads and may ask about."""

    id: str
    title: str
    body: str
    is_markdown: bool = False
    followups: tuple[str, ...] = ()
    topic: str = ""


@dataclass(frozen=True)
class Study:
    """The items of a study in the order they are shown, with its consent text."""

    title: str
    items: tuple[StudyItem, ...]
    consent_text: str = DEFAULT_CONSENT_TEXT
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def item_index(self, item_id: str) -> int:
        for index, item in enumerate(self.items):
            if item.id == item_id:
                return index
        raise StudyError(f"study {self.title!r} has no item with id {item_id!r}")


def _where(source: str, line_no: int) -> str:
    return f"{source}, line {line_no}"


def _parse_item(data: dict[str, Any], where: str) -> StudyItem:
    unknown = set(data) - ITEM_KEYS
    if unknown:
        raise StudyError(f"{where}: unknown keys {sorted(unknown)}; an item has id, title, "
                         "text or markdown, and optional followups")
    item_id = data.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise StudyError(f"{where}: every item needs a non-empty string \"id\"")
    title = data.get("title", item_id)
    if not isinstance(title, str):
        raise StudyError(f"{where}: \"title\" must be a string")
    has_text, has_markdown = "text" in data, "markdown" in data
    if has_text == has_markdown:
        raise StudyError(f"{where}: item {item_id!r} needs exactly one of \"text\" or "
                         "\"markdown\"")
    body = data["markdown"] if has_markdown else data["text"]
    if not isinstance(body, str) or not body.strip():
        raise StudyError(f"{where}: item {item_id!r} has an empty body")
    followups = data.get("followups", [])
    if not isinstance(followups, list) or not all(isinstance(f, str) for f in followups):
        raise StudyError(f"{where}: \"followups\" of item {item_id!r} must be a list of "
                         "strings")
    topic = data.get("topic", "")
    if not isinstance(topic, str):
        raise StudyError(f"{where}: \"topic\" of item {item_id!r} must be a string")
    return StudyItem(id=item_id.strip(), title=title.strip() or item_id, body=body,
                     is_markdown=has_markdown, followups=tuple(followups),
                     topic=topic.strip())


def parse_study(text: str, *, source: str = "<study>") -> Study:
    """Parse the JSON Lines text of a study; errors name the line and what to fix."""
    header: dict[str, Any] = {}
    items: list[StudyItem] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        where = _where(source, line_no)
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise StudyError(f"{where}: not valid JSON ({error.msg} at column "
                             f"{error.colno}); each line must be one JSON object") from None
        if not isinstance(data, dict):
            raise StudyError(f"{where}: expected a JSON object, found "
                             f"{type(data).__name__}")
        if data.get("type") == "study":
            if items or header:
                raise StudyError(f"{where}: the \"type\": \"study\" line must come first "
                                 "and only once")
            unknown = set(data) - HEADER_KEYS
            if unknown:
                raise StudyError(f"{where}: unknown study keys {sorted(unknown)}; use title, "
                                 "consent_text, description")
            header = data
            continue
        if data.get("type", "item") != "item":
            raise StudyError(f"{where}: unknown line type {data.get('type')!r}")
        item = _parse_item(data, where)
        if item.id in seen:
            raise StudyError(f"{where}: item id {item.id!r} already used on line "
                             f"{seen[item.id]}; ids must be unique")
        seen[item.id] = line_no
        items.append(item)
    if not items:
        raise StudyError(f"{source}: the study has no content items; add one JSON object "
                         "per line with id, title and text")
    consent = header.get("consent_text") or DEFAULT_CONSENT_TEXT
    if not isinstance(consent, str):
        raise StudyError(f"{source}: \"consent_text\" must be a string")
    title = header.get("title") or Path(source).stem
    return Study(title=str(title), items=tuple(items), consent_text=consent, source=source,
                 extra={"description": header.get("description", "")})


def load_study(path: str | os.PathLike[str]) -> Study:
    """Read a study file from disk."""
    file = Path(path).expanduser()
    if not file.exists():
        raise StudyError(f"study file {file} does not exist; pass an existing .jsonl file "
                         "or leave it out to use the example study")
    if file.is_dir():
        raise StudyError(f"{file} is a folder; a study is one .jsonl file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StudyError(f"study file {file} cannot be read: {error}") from None
    return parse_study(text, source=str(file))


def example_study() -> Study:
    """The small study shipped with the app, used when none is chosen."""
    resource = resources.files("desktop_app.resources").joinpath(EXAMPLE_STUDY_NAME)
    return parse_study(resource.read_text(encoding="utf-8"), source=EXAMPLE_STUDY_NAME)
