"""A private X server (Xvfb) for tests that drive real input with xdotool.

Import the fixtures into a test module; tests using them are marked ``display``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """Start Xvfb on a free display number (chosen by Xvfb itself via -displayfd)."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("Xvfb and xdotool are needed (apt-get install xvfb xdotool)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten",
         "tcp"], pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    number = b""
    while not number.endswith(b"\n"):
        ready, _, _ = select.select([read_end], [], [], 15.0)
        chunk = os.read(read_end, 16) if ready else b""
        if not chunk:
            server.kill()
            os.close(read_end)
            pytest.fail("Xvfb did not report its display number")
        number += chunk
    os.close(read_end)
    yield f":{number.decode().strip()}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def display_env(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DISPLAY set to the private X server for this test (and its subprocesses)."""
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    return xvfb_display


def xdotool(display: str, *arguments: str) -> None:
    """Run one xdotool command against ``display``; it returns once the server has the input."""
    subprocess.run(["xdotool", *arguments], env={**os.environ, "DISPLAY": display},
                   check=True, timeout=30)
