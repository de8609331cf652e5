"""Fusion settings: the knobs of alignment, feature extraction and engagement, validated.

A settings object travels with every dataset (``FusedDataset.settings``) and every export,
so a dataset says how it was made. Settings come from keyword arguments or a config file
(JSON, or TOML by suffix); an unknown key is an error, never silently ignored, because a
misspelt knob would otherwise change nothing and look as if it had.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fusion.engagement import EngagementConfig
from sensing.errors import EngageError


class FusionSettingsError(EngageError):
    """A fusion setting or config file is invalid."""


@dataclass(frozen=True)
class FusionSettings:
    """How streams become fixed-step states.

    ``step_s``: step length; ``window_s``: trailing window each state summarises (None: the
    step itself); ``max_gap_s``: the longest time a face-derived value is held after its
    last row (never held across a longer gap); ``velocity_max_interval_s``: I-VT velocities
    are only computed between gaze rows closer than this; ``saccade_velocity_deg_s``: the
    I-VT threshold (Salvucci & Goldberg 2000 use 20-40 deg/s; Komogortsev et al. 2010 ~30);
    ``screen_mm_per_px`` and ``viewing_distance_mm`` convert screen pixels to visual angle
    (the per-row distance estimate is used when known); ``min_streams``: how many of the
    face, input and marker streams a session must hold to be fused (fewer is an error).
    """

    step_s: float = 0.25
    window_s: float | None = None
    max_gap_s: float = 1.0
    velocity_max_interval_s: float = 0.1
    saccade_velocity_deg_s: float = 30.0
    screen_mm_per_px: float = 0.2646
    viewing_distance_mm: float = 600.0
    blink_threshold: float = 0.5
    burst_gap_s: float = 1.0
    burst_min_keys: int = 3
    scroll_px_per_unit: float = 40.0
    scroll_back_unit_px: float = 400.0
    absent_face_share: float = 0.5
    look_away_share: float = 0.5
    include_landmarks: bool = False
    min_streams: int = 2
    engagement: EngagementConfig = field(default_factory=EngagementConfig)

    def __post_init__(self) -> None:
        positive = ("step_s", "max_gap_s", "velocity_max_interval_s", "saccade_velocity_deg_s",
                    "screen_mm_per_px", "viewing_distance_mm", "burst_gap_s",
                    "scroll_px_per_unit", "scroll_back_unit_px")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) \
                    or not math.isfinite(value) or value <= 0:
                raise FusionSettingsError(f"{name} must be a positive number of its unit, "
                                          f"got {value!r}")
        if self.step_s < 1e-3:
            raise FusionSettingsError(f"step_s {self.step_s} is below 1 ms; choose a step of "
                                      "at least 0.001 s")
        if self.window_s is not None and (not math.isfinite(self.window_s)
                                          or self.window_s < self.step_s):
            raise FusionSettingsError(f"window_s must be at least step_s ({self.step_s}), "
                                      f"got {self.window_s!r}")
        for name in ("blink_threshold", "absent_face_share", "look_away_share"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise FusionSettingsError(f"{name} must lie strictly between 0 and 1, "
                                          f"got {value!r}")
        if self.min_streams not in (1, 2, 3):
            raise FusionSettingsError(f"min_streams must be 1, 2 or 3 (of face, input, "
                                      f"markers), got {self.min_streams!r}")
        if int(self.burst_min_keys) != self.burst_min_keys or self.burst_min_keys < 1:
            raise FusionSettingsError(f"burst_min_keys must be a whole number >= 1, "
                                      f"got {self.burst_min_keys!r}")

    @property
    def window(self) -> float:
        """The trailing window in seconds (``window_s`` or the step)."""
        return self.step_s if self.window_s is None else self.window_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["engagement"] = self.engagement.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: FusionSettings | None = None,
                  source: str = "settings") -> FusionSettings:
        """Settings from a mapping; unknown keys are an error naming them."""
        if not isinstance(data, dict):
            raise FusionSettingsError(f"{source}: expected a table of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FusionSettingsError(f"{source}: unknown setting(s) {', '.join(unknown)}; "
                                      f"known: {', '.join(sorted(known))}")
        values = dict(data)
        if "engagement" in values:
            values["engagement"] = EngagementConfig.from_dict(values["engagement"],
                                                              source=f"{source}: engagement")
        try:
            return replace(base or cls(), **values)
        except TypeError as error:
            raise FusionSettingsError(f"{source}: {error}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *,
                  base: FusionSettings | None = None) -> FusionSettings:
        """Settings from a JSON or TOML config file (by suffix; JSON otherwise)."""
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as error:
            raise FusionSettingsError(f"cannot read config {source}: {error.strerror}") from None
        try:
            data = tomllib.loads(text) if source.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
            raise FusionSettingsError(f"config {source} is not valid "
                                      f"{'TOML' if source.suffix == '.toml' else 'JSON'}: "
                                      f"{error}") from None
        return cls.from_dict(data, base=base, source=f"config {source}")
