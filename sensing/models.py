"""Where the Face Landmarker model comes from: an explicit path, the environment, the cache.

Resolution is explicit and never downloads: an argument (``--model``), then the
``ENGAGE_FACE_MODEL`` environment variable, then ``face_landmarker.task`` in the user cache.
:func:`fetch_face_model` is the only code that touches the network; it runs when a person
types ``engage models fetch``, downloads MediaPipe's official bundle and keeps it only if its
sha256 matches the pinned one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sensing.datadir import user_cache_dir
from sensing.errors import EngageError, ModelNotFoundError

log = logging.getLogger(__name__)

MODEL_ENV = "ENGAGE_FACE_MODEL"
MODEL_FILENAME = "face_landmarker.task"
OFFICIAL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
    "float16/1/face_landmarker.task"
)
OFFICIAL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"

HOW_TO_PROVIDE = (
    f"pass --model PATH, set {MODEL_ENV}=PATH, or run `engage models fetch` to download "
    f"the official bundle into the user cache"
)


class ModelFetchError(EngageError):
    """The model could not be downloaded, or what came was not the pinned bundle."""


def cached_model_path() -> Path:
    """Where ``engage models fetch`` puts the bundle and resolution looks last."""
    return user_cache_dir() / "models" / MODEL_FILENAME


def resolve_face_model(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model file to use: ``explicit``, then ``$ENGAGE_FACE_MODEL``, then the cache.

    A path that is given but missing is an error, not a reason to fall through, so a typo in
    ``--model`` is reported rather than silently replaced by another model.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"face model {path} (from --model) is not a file; "
                                     f"{HOW_TO_PROVIDE}")
        return path
    from_env = os.environ.get(MODEL_ENV)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"face model {path} (from {MODEL_ENV}) is not a file; "
                                     f"{HOW_TO_PROVIDE}")
        return path
    cached = cached_model_path()
    if cached.is_file():
        return cached
    raise ModelNotFoundError(f"no face model found: {HOW_TO_PROVIDE}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_face_model(
    dest: str | os.PathLike[str] | None = None,
    *,
    url: str = OFFICIAL_URL,
    sha256: str = OFFICIAL_SHA256,
    timeout_s: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download the Face Landmarker bundle to ``dest`` (default: the user cache) and verify it.

    The bytes go to ``<dest>.part`` first; only a file whose sha256 equals ``sha256`` is
    renamed into place, so a failed or tampered download never leaves a file that
    resolution would pick up. ``progress(done_bytes, total_bytes_or_None)`` is called as
    blocks arrive. ``dest`` may be a folder. Raises :class:`ModelFetchError` on any failure.
    """
    target = Path(dest).expanduser() if dest else cached_model_path()
    # A folder (existing, or a new name without a suffix) receives the bundle's own name.
    if target.is_dir() or not target.suffix:
        target = target / MODEL_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    log.info("downloading face model from %s to %s", url, target)
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            length = getattr(response, "headers", {}).get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with partial.open("wb") as handle:
                for block in iter(lambda: response.read(1 << 16), b""):
                    handle.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise ModelFetchError(f"could not download the face model from {url}: {reason}; "
                              "check the network, or download it yourself and pass "
                              f"--model PATH or set {MODEL_ENV}") from error
    actual = digest.hexdigest()
    if actual != sha256:
        partial.unlink(missing_ok=True)
        raise ModelFetchError(f"downloaded face model from {url} has sha256 {actual}, not the "
                              f"expected {sha256}; nothing was kept (is the URL the official "
                              "bundle?)")
    partial.replace(target)
    log.info("face model saved to %s (%d bytes, sha256 ok)", target, done)
    return target


class ModelLoadError(EngageError):
    """A model file exists but MediaPipe cannot load it (damaged, or not a Face Landmarker)."""
