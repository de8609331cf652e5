"""Qt set-up for the desktop app tests: offscreen unless a test starts its own display."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
