"""Where Engage keeps its files: the data folder, its sessions and logs, with private modes.

The folder is, in order: an explicit path (``--data-dir``), ``ENGAGE_DATA_DIR``, the
platform's user data folder. Folders are created 0700 and session files 0600 because they
hold behavioural data about one person.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "engage"
DIR_MODE = 0o700
FILE_MODE = 0o600


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder to use, without creating it."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get("ENGAGE_DATA_DIR")
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make the folder itself 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def sessions_dir(data_dir: Path) -> Path:
    """Folder holding one ``<session id>.sqlite`` per session."""
    return data_dir / "sessions"


def logs_dir(data_dir: Path) -> Path:
    return data_dir / "logs"


def user_cache_dir() -> Path:
    """Per-user cache (face models); not the data folder, since it holds nothing personal."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
