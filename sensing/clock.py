"""The session clock: one monotonic time base for every stream of a session.

Every row carries ``t_ns``, integer nanoseconds since the session started, read from
``time.monotonic_ns``. The wall clock is read once, next to the monotonic clock, and stored
as an anchor pair so that any ``t_ns`` maps to wall time without trusting the wall clock
during the recording (it can jump; the monotonic clock cannot).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClockAnchor:
    """A monotonic reading and a wall-clock reading taken back to back."""

    monotonic_ns: int
    wall_ns: int

    def to_dict(self) -> dict[str, int]:
        return {"monotonic_ns": self.monotonic_ns, "wall_ns": self.wall_ns}


def read_anchor() -> ClockAnchor:
    """Read both clocks, keeping the pair whose bracketing monotonic reads are closest."""
    best: tuple[int, ClockAnchor] | None = None
    for _ in range(5):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        spread = after - before
        anchor = ClockAnchor(monotonic_ns=(before + after) // 2, wall_ns=wall)
        if best is None or spread < best[0]:
            best = (spread, anchor)
    assert best is not None
    return best[1]


@dataclass
class SessionClock:
    """Monotonic nanoseconds since the session started.

    ``now_ns`` is cheap and thread-safe; call it on the thread that observes an event, as
    close to the observation as possible.
    """

    anchor: ClockAnchor = field(default_factory=read_anchor)

    @property
    def start_monotonic_ns(self) -> int:
        return self.anchor.monotonic_ns

    def now_ns(self) -> int:
        """Nanoseconds since session start on the monotonic clock."""
        return time.monotonic_ns() - self.anchor.monotonic_ns

    def from_monotonic_ns(self, monotonic_ns: int) -> int:
        """Session time of a reading already taken from ``time.monotonic_ns``."""
        return monotonic_ns - self.anchor.monotonic_ns

    def to_wall_ns(self, t_ns: int) -> int:
        """Wall-clock nanoseconds since the Unix epoch for a session time."""
        return self.anchor.wall_ns + t_ns
