"""Engagement: review time T_r, re-engagement R_e, query depth Q_d, and the composite E.

The three components follow the engagement literature that separates attention, return and
active elaboration (O'Brien & Toms 2008, "What is user engagement?"; Lalmas et al. 2014,
"Measuring user engagement"): T_r is dwell on the content (gaze inside its region when gaze
is calibrated, face present and on screen otherwise), R_e counts returns to the same or a
similar content item and scroll-backs over read text, Q_d counts queries about the content.

The composite is, by default,

    E = sum_k w_k * g_k(x_k / s_k),   g(z) = 1 - exp(-z)   ("saturating"),

with x = (T_r, R_e, Q_d), weights w = (0.5, 0.25, 0.25) and scales s = (30 s, 2, 2), so E
lies in [0, 1] and each component's first units count most. Another f is given in a config
file's ``engagement`` table: ``weights``, ``scales``, ``transforms`` (per component, one of
``saturating``, ``log1p``, ``linear``, ``logistic``) and ``bias``; unknown keys are an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensing.errors import EngageError

COMPONENTS: tuple[str, ...] = ("review_time", "reengagement", "query_depth")

TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "saturating": lambda z: 1.0 - np.exp(-z),
    "log1p": np.log1p,
    "linear": lambda z: z,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


class EngagementConfigError(EngageError):
    """The engagement composite was configured with unknown or invalid values."""


def _default_weights() -> dict[str, float]:
    return {"review_time": 0.5, "reengagement": 0.25, "query_depth": 0.25}


def _default_scales() -> dict[str, float]:
    return {"review_time": 30.0, "reengagement": 2.0, "query_depth": 2.0}


def _default_transforms() -> dict[str, str]:
    return dict.fromkeys(COMPONENTS, "saturating")


@dataclass(frozen=True)
class EngagementConfig:
    """Weights, scales and transforms of E = bias + sum_k w_k g_k(x_k / s_k)."""

    weights: dict[str, float] = field(default_factory=_default_weights)
    scales: dict[str, float] = field(default_factory=_default_scales)
    transforms: dict[str, str] = field(default_factory=_default_transforms)
    bias: float = 0.0

    def __post_init__(self) -> None:
        for table in ("weights", "scales", "transforms"):
            unknown = sorted(set(getattr(self, table)) - set(COMPONENTS))
            if unknown:
                raise EngagementConfigError(f"engagement {table}: unknown component(s) "
                                            f"{', '.join(unknown)}; known: "
                                            f"{', '.join(COMPONENTS)}")
        for name, scale in self.scales.items():
            if not float(scale) > 0:
                raise EngagementConfigError(f"engagement scale of {name} must be positive, "
                                            f"got {scale!r}")
        for name, transform in self.transforms.items():
            if transform not in TRANSFORMS:
                raise EngagementConfigError(f"engagement transform of {name}: {transform!r} is "
                                            f"not one of {', '.join(TRANSFORMS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "scales": dict(self.scales),
                "transforms": dict(self.transforms), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "engagement") -> EngagementConfig:
        """A config from a mapping; partial tables override the defaults per component."""
        if isinstance(data, EngagementConfig):
            return data
        if not isinstance(data, dict):
            raise EngagementConfigError(f"{source}: expected a table")
        unknown = sorted(set(data) - {"weights", "scales", "transforms", "bias"})
        if unknown:
            raise EngagementConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: "
                                        "weights, scales, transforms, bias")
        try:
            return cls(
                weights={**_default_weights(), **{k: float(v) for k, v
                                                  in data.get("weights", {}).items()}},
                scales={**_default_scales(), **{k: float(v) for k, v
                                                in data.get("scales", {}).items()}},
                transforms={**_default_transforms(), **dict(data.get("transforms", {}))},
                bias=float(data.get("bias", 0.0)),
            )
        except (TypeError, ValueError, AttributeError) as error:
            raise EngagementConfigError(f"{source}: {error}") from None


def engagement_score(review_time_s: np.ndarray, reengagement: np.ndarray,
                     query_depth: np.ndarray, *, config: EngagementConfig) -> np.ndarray:
    """E per step, [T] float64, from the three components, each [T]."""
    values = {"review_time": review_time_s, "reengagement": reengagement,
              "query_depth": query_depth}
    score = np.full(np.shape(review_time_s), config.bias, dtype=np.float64)
    for name in COMPONENTS:
        transform = TRANSFORMS[config.transforms[name]]
        score += config.weights[name] * transform(
            np.asarray(values[name], dtype=np.float64) / config.scales[name])
    return score
