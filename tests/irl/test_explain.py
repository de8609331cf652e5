"""Explaining a reward: weights with intervals, modality shares, timeline, drift, horizon."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.dataset import FusedDataset
from irl.explain import (
    ExplainError,
    chi2_quantile,
    chi2_tail,
    feature_weights,
    fit_linear,
    horizon_sensitivity,
    modality_shares,
    resample_episodes,
    reward_drift,
    reward_timeline,
    state_rewards,
)
from irl.rewards import Normaliser
from irl.simulate import SimulationConfig, simulate
from irl.train import train


class LeastSquaresReward:
    """A genuine (if simple) refit: the least-squares linear fit of a window's known reward.

    It lets drift and horizon tests know what the right answer is, which no IRL refit on a
    few minutes of data can promise.
    """

    def __init__(self, part: FusedDataset, gamma: float) -> None:
        self.gamma = gamma
        self.normaliser = Normaliser.fit(part.states, part.valid)
        x = self.normaliser.transform(part.states, part.valid).astype(np.float64)
        self.weights, self.intercept, _ = fit_linear(x, part.extras["reward_true"])

    def standardise(self, dataset: FusedDataset) -> torch.Tensor:
        return torch.from_numpy(self.normaliser.transform(dataset.states, dataset.valid))

    def score_actions(self, dataset: FusedDataset) -> np.ndarray:
        reward = self.standardise(dataset).numpy().astype(np.float64) @ self.weights
        return np.repeat(reward[:, None], dataset.n_actions, axis=1)


@pytest.fixture(scope="module")
def simulation():
    torch.set_num_threads(1)
    return simulate(SimulationConfig(participants=2, minutes=4, seed=1))


@pytest.fixture(scope="module")
def iq_model(simulation):
    return train(simulation.dataset, algo="iq", gamma=0.9, seed=0, epochs=4, progress=False)


def test_fit_linear_recovers_exact_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    weights, intercept, r_squared = fit_linear(x, x @ np.array([1.0, -2.0, 0.0, 0.5]) + 3.0)
    np.testing.assert_allclose(weights, [1.0, -2.0, 0.0, 0.5], atol=1e-4)
    assert intercept == pytest.approx(3.0, abs=1e-4)
    assert r_squared == pytest.approx(1.0)


def test_weights_have_intervals_around_them_for_a_nonlinear_reward(iq_model, simulation):
    result = feature_weights(iq_model, simulation.dataset, n_boot=50)
    assert result.n_episodes == len(np.unique(simulation.dataset.episode))
    assert (result.low <= result.weights + 1e-9).all()
    assert (result.high >= result.weights - 1e-9).all()
    assert (result.high - result.low).max() > 0
    assert result.rows()[0]["weight"] ** 2 == pytest.approx(np.max(result.weights ** 2))


def test_refit_intervals_retrain_on_episode_resamples(iq_model, simulation):
    refits = []

    def refit(part, gamma):
        refits.append(len(part))
        return train(part, algo="iq", gamma=gamma, seed=0, epochs=2, progress=False)

    result = feature_weights(iq_model, simulation.dataset, refit=refit, n_refits=3)
    assert len(refits) == 3 and result.refitted and result.n_boot == 3


def test_refit_intervals_keep_each_refit_on_its_own_scale(iq_model, simulation):
    """Refits that agree with the model in direction but are twice as large show that in the
    intervals, instead of being scaled down to the model's size."""

    class Doubled:
        def score_actions(self, dataset):
            return 2.0 * iq_model.score_actions(dataset)

    result = feature_weights(iq_model, simulation.dataset, refit=lambda part, gamma: Doubled(),
                             n_refits=3)
    np.testing.assert_allclose(result.low, 2.0 * result.weights, atol=1e-6)
    np.testing.assert_allclose(result.high, 2.0 * result.weights, atol=1e-6)
    assert result.rows()[0]["outside"]


def test_episode_resample_keeps_whole_episodes_with_unique_ids(simulation):
    part = resample_episodes(simulation.dataset, np.random.default_rng(0))
    assert len(np.unique(part.episode)) == len(np.unique(simulation.dataset.episode))
    assert (np.diff(part.episode) >= 0).all()
    part.validate()


def test_modality_shares_sum_to_one(iq_model, simulation):
    result = feature_weights(iq_model, simulation.dataset, n_boot=5)
    x, _ = state_rewards(iq_model, simulation.dataset)
    shares = modality_shares(result, x)
    assert set(shares) == {"vision", "behaviour", "content"}
    assert sum(shares.values()) == pytest.approx(1.0)


def test_timeline_pairs_the_reward_with_engagement(iq_model, simulation):
    timeline = reward_timeline(iq_model, simulation.dataset, session=1)
    assert timeline.session_id == simulation.dataset.session_ids[1]
    assert timeline.reward.shape == timeline.engagement.shape == (240,)
    assert -1.0 <= timeline.correlation <= 1.0
    with pytest.raises(ExplainError):
        reward_timeline(iq_model, simulation.dataset, session=5)


def test_refit_drift_is_flagged_at_the_injected_change():
    drifted = simulate(SimulationConfig(participants=4, minutes=8, seed=2, drift=True,
                                        drift_at=0.5)).dataset
    result = reward_drift(drifted, n_windows=8, method="refit", refit=LeastSquaresReward)
    assert result.change_points_s == [240.0]
    assert int(np.argmax(result.change_score)) == 3


def test_refit_drift_flags_nothing_without_a_change():
    steady = simulate(SimulationConfig(participants=4, minutes=8, seed=2)).dataset
    result = reward_drift(steady, n_windows=8, method="refit", refit=LeastSquaresReward)
    assert result.change_points_s == []


@pytest.mark.parametrize("seed", [2, 3])
def test_likelihood_ratio_finds_the_injected_drift_and_nothing_else(seed):
    drifted = simulate(SimulationConfig(participants=4, minutes=8, seed=seed, drift=True,
                                        drift_at=0.5)).dataset
    result = reward_drift(drifted, n_windows=4)
    assert result.method == "likelihood"
    assert result.change_points_s == [240.0]
    assert int(np.argmax(result.change_score)) == 1
    assert result.p_value[1] < 0.01 / 3
    assert result.change_score[1] > result.threshold > max(np.delete(result.change_score, 1))
    assert result.weights.shape == (4, drifted.n_features)
    # Degrees of freedom count what the likelihood can see: never-valid gaze features and
    # constant ones add none.
    x = Normaliser.fit(drifted.states, drifted.valid).transform(drifted.states, drifted.valid)
    rank = np.linalg.matrix_rank(x - x.mean(axis=0))
    assert result.degrees_of_freedom <= rank + drifted.n_actions - 1
    assert result.degrees_of_freedom < drifted.n_features + drifted.n_actions - 1 - 4
    steady = simulate(SimulationConfig(participants=4, minutes=8, seed=seed)).dataset
    calm = reward_drift(steady, n_windows=4)
    assert calm.change_points_s == []
    assert np.all(calm.p_value > 0.01 / 3)


def test_drift_rejects_an_unknown_method_and_alpha(simulation):
    with pytest.raises(ExplainError, match="drift method"):
        reward_drift(simulation.dataset, n_windows=2, method="magic")
    with pytest.raises(ExplainError, match="alpha"):
        reward_drift(simulation.dataset, n_windows=2, alpha=1.5)


def test_chi2_tail_matches_known_quantiles():
    assert chi2_tail(3.841, 1) == pytest.approx(0.05, abs=1e-3)
    assert chi2_tail(18.307, 10) == pytest.approx(0.05, abs=1e-3)
    assert chi2_tail(0.0, 5) == pytest.approx(1.0)
    assert chi2_quantile(0.05, 10) == pytest.approx(18.307, abs=1e-2)


def test_drift_refuses_data_too_short_for_two_windows(simulation):
    with pytest.raises(ExplainError, match="two windows"):
        reward_drift(simulation.dataset, n_windows=2, refit=LeastSquaresReward,
                     min_steps=10_000)


def test_horizon_compares_a_short_and_a_long_discount(simulation):
    seen = []

    def refit(part, gamma):
        seen.append(gamma)
        return LeastSquaresReward(part, gamma)

    result = horizon_sensitivity(simulation.dataset, gammas=(0.5, 0.99), refit=refit)
    assert seen == [0.5, 0.99]
    assert result.weights.shape == (2, simulation.dataset.n_features)
    assert result.epic_between == pytest.approx(0.0, abs=1e-6)
    assert result.step_reward_correlation == pytest.approx(1.0)
