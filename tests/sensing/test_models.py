"""Face model resolution order and the hash-checked fetch (served from 127.0.0.1 only)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensing.errors import ModelNotFoundError
from sensing.models import (
    MODEL_ENV,
    ModelFetchError,
    cached_model_path,
    fetch_face_model,
    resolve_face_model,
    sha256_of,
)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user cache with no model in it, and no model in the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder; yields (base URL, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def test_an_explicit_path_wins_over_the_environment(face_model, tmp_path, empty_cache,
                                                    monkeypatch):
    other = tmp_path / "other.task"
    other.write_bytes(b"x")
    monkeypatch.setenv(MODEL_ENV, str(other))
    assert resolve_face_model(face_model) == face_model
    assert resolve_face_model() == other


def test_the_user_cache_is_used_last(face_model, empty_cache):
    cached = cached_model_path()
    assert str(cached).startswith(str(empty_cache))
    cached.parent.mkdir(parents=True)
    shutil.copyfile(face_model, cached)
    assert resolve_face_model() == cached


def test_a_missing_model_names_the_three_ways_to_provide_one(empty_cache):
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_face_model()
    message = str(raised.value)
    assert "\n" not in message
    assert "--model" in message and MODEL_ENV in message and "engage models fetch" in message


def test_a_mistyped_explicit_path_is_an_error_not_a_fall_through(face_model, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(face_model))
    with pytest.raises(ModelNotFoundError, match="typo.task"):
        resolve_face_model(tmp_path / "typo.task")


def test_fetch_over_http_keeps_a_bundle_whose_hash_matches(face_model, served, tmp_path):
    base, folder = served
    shutil.copyfile(face_model, folder / "face_landmarker.task")
    path = fetch_face_model(tmp_path / "models", url=f"{base}/face_landmarker.task")
    assert path == tmp_path / "models" / "face_landmarker.task"
    assert sha256_of(path) == sha256_of(face_model)


def test_fetch_refuses_a_file_with_the_wrong_hash_and_keeps_nothing(served, tmp_path):
    base, folder = served
    (folder / "face_landmarker.task").write_bytes(b"not the official model")
    dest = tmp_path / "face_landmarker.task"
    with pytest.raises(ModelFetchError, match="sha256"):
        fetch_face_model(dest, url=f"{base}/face_landmarker.task")
    assert list(tmp_path.iterdir()) == [folder.parent / "served"]


def test_fetch_of_an_unreachable_url_is_one_clear_error(tmp_path):
    with pytest.raises(ModelFetchError, match="could not download"):
        fetch_face_model(tmp_path / "m.task", url=(tmp_path / "absent.task").as_uri())
    assert not (tmp_path / "m.task").exists()


def test_models_fetch_and_path_commands(face_model, tmp_path, empty_cache):
    command = [sys.executable, "-m", "desktop_app.cli", "--data-dir", str(tmp_path / "data")]
    missing = subprocess.run(command + ["models", "path"], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    fetched = subprocess.run(command + ["models", "fetch", "--url", face_model.as_uri()],
                             capture_output=True, text=True)
    assert fetched.returncode == 0, fetched.stderr
    assert Path(fetched.stdout.strip()) == cached_model_path()
    found = subprocess.run(command + ["models", "path"], capture_output=True, text=True)
    assert found.returncode == 0 and Path(found.stdout.strip()) == cached_model_path()
