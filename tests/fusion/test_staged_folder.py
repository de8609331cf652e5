"""Outputs appear whole or not at all: datasets, models and exports share one staging rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.dataset import DatasetError, staged_folder


def test_a_failed_write_leaves_the_old_output_and_no_staging_behind(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "dataset.json").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target, replaceable="dataset.json") as s:
        (s / "dataset.json").write_text("half")
        raise RuntimeError("disk full")
    assert (target / "dataset.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_earlier_output_of_the_same_kind_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "dataset.json").write_text("old")
    (target / "stale.npz").write_text("old")
    with staged_folder(target, replaceable="dataset.json") as staging:
        (staging / "dataset.json").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["dataset.json"]
    assert (target / "dataset.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_holding_something_else_is_refused_before_any_work(tmp_path: Path) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"\xff")
    with pytest.raises(DatasetError, match="not empty"), staged_folder(
            target, replaceable="dataset.json"):
        pytest.fail("the body must not run")
    assert (target / "holiday.jpg").exists()
