"""Fusion settings and the engagement config: validated, unknown keys refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusion.engagement import EngagementConfig, EngagementConfigError, engagement_score
from fusion.settings import FusionSettings, FusionSettingsError


@pytest.mark.parametrize("step", [0.0, -0.25, float("nan")])
def test_a_step_that_is_not_positive_is_refused(step: float) -> None:
    with pytest.raises(FusionSettingsError, match="step_s"):
        FusionSettings(step_s=step)


def test_a_window_shorter_than_the_step_is_refused() -> None:
    with pytest.raises(FusionSettingsError, match="window_s"):
        FusionSettings(step_s=0.5, window_s=0.25)


def test_a_config_file_with_an_unknown_key_names_it(tmp_path) -> None:
    config = tmp_path / "fusion.json"
    config.write_text(json.dumps({"step_s": 0.5, "stepsize": 1}))
    with pytest.raises(FusionSettingsError, match="unknown setting.*stepsize"):
        FusionSettings.from_file(config)


def test_an_unknown_engagement_component_is_refused(tmp_path) -> None:
    config = tmp_path / "fusion.toml"
    config.write_text("[engagement.weights]\nreview_time = 1.0\ndwell = 2.0\n")
    with pytest.raises(EngagementConfigError, match="dwell"):
        FusionSettings.from_file(config)


def test_a_toml_config_sets_step_and_engagement_weights(tmp_path) -> None:
    config = tmp_path / "fusion.toml"
    config.write_text("step_s = 0.5\n[engagement.weights]\nquery_depth = 1.0\n")
    settings = FusionSettings.from_file(config)
    assert settings.step_s == 0.5
    assert settings.engagement.weights == {"review_time": 0.5, "reengagement": 0.25,
                                           "query_depth": 1.0}


def test_settings_survive_a_round_trip_through_a_dict() -> None:
    settings = FusionSettings(step_s=0.1, max_gap_s=2.0,
                              engagement=EngagementConfig.from_dict({"bias": 0.5}))
    assert FusionSettings.from_dict(settings.to_dict()) == settings


def test_default_engagement_is_the_documented_saturating_sum() -> None:
    score = engagement_score(np.array([30.0]), np.array([2.0]), np.array([0.0]),
                             config=EngagementConfig())
    expected = 0.5 * (1 - np.exp(-1)) + 0.25 * (1 - np.exp(-1))
    assert score[0] == pytest.approx(expected)


def test_engagement_transforms_and_weights_come_from_the_config() -> None:
    config = EngagementConfig.from_dict({"transforms": {"review_time": "linear"},
                                         "weights": {"reengagement": 0, "query_depth": 0},
                                         "scales": {"review_time": 10}})
    score = engagement_score(np.array([5.0]), np.array([9.0]), np.array([9.0]), config=config)
    assert score[0] == pytest.approx(0.25)
