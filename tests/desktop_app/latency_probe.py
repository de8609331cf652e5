"""Event-loop responsiveness: how late a short periodic timer fires on the GUI thread."""

from __future__ import annotations

import time

from PyQt6.QtCore import QObject, Qt, QTimer


class LatencyProbe(QObject):
    """Samples the event loop: each tick records how much later than due it ran, in ms."""

    def __init__(self, interval_ms: int = 20) -> None:
        super().__init__()
        self.interval_ms = interval_ms
        self.lateness_ms: list[float] = []
        self._last = 0.0
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.lateness_ms = []
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000 - self.interval_ms))
        self._last = now

    @property
    def worst_ms(self) -> float:
        return max(self.lateness_ms, default=0.0)

    def share_later_than(self, limit_ms: float) -> float:
        """Share of ticks that ran more than ``limit_ms`` late."""
        if not self.lateness_ms:
            return 1.0
        return sum(late > limit_ms for late in self.lateness_ms) / len(self.lateness_ms)
