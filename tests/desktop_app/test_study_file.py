"""The study file format: JSON Lines of items, an optional header, and errors that say where."""

from __future__ import annotations

import json

import pytest

from desktop_app.study import StudyError, example_study, load_study, parse_study


def lines(*objects: dict) -> str:
    return "\n".join(json.dumps(obj) for obj in objects)


def test_items_keep_their_order_ids_and_followups():
    study = parse_study(lines(
        {"id": "a", "title": "A", "text": "alpha", "followups": ["why?"]},
        {"id": "b", "title": "B", "markdown": "# beta"},
    ))
    assert [item.id for item in study.items] == ["a", "b"]
    assert study.items[0].followups == ("why?",)
    assert study.items[1].is_markdown and not study.items[0].is_markdown


def test_header_line_sets_title_and_consent_text():
    study = parse_study(lines({"type": "study", "title": "T", "consent_text": "We ask..."},
                              {"id": "a", "text": "x"}))
    assert (study.title, study.consent_text) == ("T", "We ask...")


def test_invalid_json_names_the_line():
    with pytest.raises(StudyError, match="line 2: not valid JSON"):
        parse_study('{"id": "a", "text": "x"}\n{"id": "b", text}', source="s.jsonl")


def test_duplicate_ids_are_refused_with_both_lines():
    with pytest.raises(StudyError, match="line 2: item id 'a' already used on line 1"):
        parse_study(lines({"id": "a", "text": "x"}, {"id": "a", "text": "y"}))


def test_item_needs_exactly_one_of_text_or_markdown():
    with pytest.raises(StudyError, match="exactly one of"):
        parse_study(lines({"id": "a", "text": "x", "markdown": "y"}))


def test_unknown_keys_are_refused_not_ignored():
    with pytest.raises(StudyError, match=r"unknown keys \['colour'\]"):
        parse_study(lines({"id": "a", "text": "x", "colour": "red"}))


def test_empty_study_is_refused():
    with pytest.raises(StudyError, match="no content items"):
        parse_study("// only a comment\n\n")


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nope.jsonl")


def test_example_study_ships_with_several_items():
    study = example_study()
    assert len(study.items) >= 3
    assert any(item.followups for item in study.items)
    assert "withdraw" in study.consent_text


def test_optional_topic_is_kept_and_must_be_text():
    study = parse_study(lines({"id": "a", "text": "x", "topic": "oceans"}))
    assert study.items[0].topic == "oceans"
    with pytest.raises(StudyError, match="topic"):
        parse_study(lines({"id": "a", "text": "x", "topic": 3}))
