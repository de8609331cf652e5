"""The One Euro filter, for smoothing a gaze point on screen (display only, never stored).

Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy
Input in Interactive Systems", CHI 2012. An exponential low-pass filter whose cutoff rises
with the signal's speed: slow movements (a fixation's jitter) are smoothed hard, fast ones
(a saccade) pass with little lag. With sample interval ``dt`` and cutoff ``fc`` the
smoothing factor is ``alpha = 1 / (1 + tau / dt)``, ``tau = 1 / (2 pi fc)``, and the cutoff is
``fc = min_cutoff + beta * |dx_hat|`` where ``dx_hat`` is the derivative, itself low-passed
at ``d_cutoff``.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: float, dt_s: float | np.ndarray) -> float | np.ndarray:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One Euro filter over a vector signal (each component filtered independently).

    Call with a time in seconds and a value (scalar or ``[D]``); returns the filtered value.
    Non-finite input resets the filter and is returned as it is, so a lost face does not
    drag the smoothed point across the screen when it comes back.
    """

    def __init__(
        self, *, min_cutoff_hz: float = 1.0, beta: float = 0.007, d_cutoff_hz: float = 1.0
    ) -> None:
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.reset()

    def reset(self) -> None:
        self._t_s: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, t_s: float, value: float | np.ndarray) -> np.ndarray:
        x = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if not np.all(np.isfinite(x)):
            self.reset()
            return x
        if self._x is None or self._t_s is None or self._x.shape != x.shape:
            self._t_s, self._x, self._dx = t_s, x, np.zeros_like(x)
            return x.copy()
        if t_s <= self._t_s:  # a repeated or older sample carries no new timing
            return self._x.copy()
        dt = t_s - self._t_s
        dx = (x - self._x) / dt
        assert self._dx is not None
        dx_hat = self._dx + _alpha(self.d_cutoff_hz, dt) * (dx - self._dx)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(dx_hat)
        a = 1.0 / (1.0 + (1.0 / (2.0 * math.pi * cutoff)) / dt)
        x_hat = self._x + a * (x - self._x)
        self._t_s, self._x, self._dx = t_s, x_hat, dx_hat
        return x_hat.copy()
