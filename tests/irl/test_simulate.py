"""Simulated participants: schema, determinism, soft-optimality, truth, and raw sessions."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from fusion.dataset import NO_ACTION, FusedDataset
from fusion.fuse import fuse_sessions
from fusion.schema import ACTIONS, DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from irl.metrics import epic_distance, transition_epic
from irl.simulate import (
    DEFAULT_ACTION_BONUS,
    DEFAULT_WEIGHTS,
    DRIFT_WEIGHTS,
    FACTOR_SIZES,
    FACTORS,
    N_LATENT,
    EngagementEnvironment,
    SimulationConfig,
    SimulationError,
    behavioural_twins,
    effort_after_action,
    latent_paths,
    simulate,
    soft_value_iteration_sparse,
    write_simulation,
)
from irl.soft_bellman import soft_value_iteration
from irl.tabular import random_mdp
from irl.truth import TruthError, load_truth


@pytest.fixture(scope="module")
def small():
    return simulate(SimulationConfig(participants=2, minutes=1.5, seed=3))


def test_dataset_has_the_fusion_schema_and_at_least_16_features(small):
    dataset = small.dataset
    assert dataset.schema.fingerprint() == DEFAULT_SCHEMA.fingerprint()
    assert dataset.n_features >= 16 and dataset.n_actions == len(ACTIONS) == 7
    assert len(dataset) == 2 * 90
    dataset.validate()


def test_each_session_ends_without_an_action(small):
    dataset = small.dataset
    last_steps = [s.stop - 1 for s in _session_slices(dataset)]
    assert all(dataset.actions[i] == NO_ACTION for i in last_steps)
    assert (dataset.actions[dataset.actions != NO_ACTION] >= 0).all()


def _session_slices(dataset):
    bounds = np.flatnonzero(np.r_[True, dataset.session[1:] != dataset.session[:-1], True])
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def test_same_seed_gives_identical_data_and_other_seed_differs(small):
    again = simulate(SimulationConfig(participants=2, minutes=1.5, seed=3))
    other = simulate(SimulationConfig(participants=2, minutes=1.5, seed=4))
    np.testing.assert_array_equal(again.dataset.states, small.dataset.states)
    np.testing.assert_array_equal(again.dataset.actions, small.dataset.actions)
    assert not np.array_equal(other.dataset.actions, small.dataset.actions)


def test_sparse_soft_value_iteration_matches_the_dense_one():
    mdp = random_mdp(20, 4, 3, seed=0, branching=3)
    reward = np.random.default_rng(0).normal(size=(20, 4))
    dense = mdp.transitions.numpy()  # P[s, a, s']
    width = int((dense > 0).sum(axis=2).max())
    order = np.argsort(-dense, axis=2)[:, :, :width]
    prob = np.take_along_axis(dense, order, axis=2)
    q, policy = soft_value_iteration_sparse(reward, order, prob, gamma=0.9, tol=1e-10)
    expected = soft_value_iteration(torch.from_numpy(reward), mdp.transitions, gamma=0.9,
                                    tol=1e-10)
    np.testing.assert_allclose(q, expected.Q.numpy(), atol=1e-6)
    np.testing.assert_allclose(policy, expected.policy.numpy(), atol=1e-6)


def test_lower_rationality_gives_more_varied_actions():
    def entropy(beta):
        data = simulate(SimulationConfig(participants=2, minutes=3, seed=0,
                                         rationality=beta)).dataset
        counts = np.bincount(data.actions[data.actions >= 0], minlength=7) + 1e-9
        share = counts / counts.sum()
        return float(-(share * np.log(share)).sum())

    assert entropy(0.2) > entropy(3.0) + 0.2


def test_true_reward_is_weighted_standardised_features_plus_action_effort(small):
    truth, dataset = small.truth, small.dataset
    expected = np.zeros(len(dataset))
    for name, weight in DEFAULT_WEIGHTS.items():
        column = dataset.schema.feature_index(name)
        expected += weight * (dataset.states[:, column] - truth.feature_mean[column]) \
            / truth.feature_scale[column]
    known = dataset.actions != NO_ACTION
    expected[known] += [DEFAULT_ACTION_BONUS.get(ACTIONS[a], 0.0) for a in dataset.actions[known]]
    np.testing.assert_allclose(truth.true_reward(dataset), expected, atol=1e-5)
    np.testing.assert_allclose(dataset.extras["reward_true"], expected, atol=1e-5)
    assert truth.reward_table(dataset).shape == (len(dataset), 7)


def test_drift_switches_to_the_second_weights_at_drift_at():
    drifted = simulate(SimulationConfig(participants=1, minutes=2, seed=0, drift=True,
                                        drift_at=0.25))
    truth = drifted.truth
    assert truth.phase_starts_s == (0.0, 30.0)
    assert truth.weights_standardised(1)["smile"] == DRIFT_WEIGHTS["smile"]
    phase = drifted.dataset.extras["reward_phase"]
    assert phase[:29].max() == 0 and phase[30:].min() == 1


def test_truth_scores_each_step_with_the_weights_the_participant_chose_with():
    drifted = simulate(SimulationConfig(participants=2, minutes=2, seed=1, drift=True))
    dataset = drifted.dataset
    np.testing.assert_array_equal(drifted.truth.phase_of(dataset.t_s),
                                  dataset.extras["reward_phase"])


def test_truth_round_trips_through_its_file(small, tmp_path):
    path = small.truth.save(tmp_path / "truth.json")
    loaded = load_truth(tmp_path)
    np.testing.assert_array_equal(loaded.true_reward(small.dataset),
                                  small.truth.true_reward(small.dataset))
    assert json.loads(path.read_text())["seed"] == 3


def _without_face_values(dataset: FusedDataset, names: tuple[str, ...]) -> FusedDataset:
    """The dataset with ``names`` marked invalid (and zeroed, as fusion does) in every step."""
    columns = [dataset.schema.feature_index(name) for name in names]
    states, valid = dataset.states.copy(), dataset.valid.copy()
    states[:, columns], valid[:, columns] = 0.0, False
    return FusedDataset(
        t_s=dataset.t_s, states=states, valid=valid, actions=dataset.actions,
        episode=dataset.episode, session=dataset.session, schema=dataset.schema,
        session_ids=dataset.session_ids, participants=dataset.participants)


def test_truth_scores_an_unseen_face_feature_as_the_participant_planned_it(small):
    truth = small.truth
    column = DEFAULT_SCHEMA.feature_index("smile")
    assert truth.missing_value[column] == pytest.approx(0.05)
    blind = _without_face_values(small.dataset, ("smile",))
    z_planned = (0.05 - truth.feature_mean[column]) / truth.feature_scale[column]
    assert z_planned < -0.4  # well below the mean: the missing value is not z = 0
    z_seen = (small.dataset.states[:, column] - truth.feature_mean[column]) \
        / truth.feature_scale[column]
    np.testing.assert_allclose(truth.state_reward(blind) - truth.state_reward(small.dataset),
                               DEFAULT_WEIGHTS["smile"] * (z_planned - z_seen), atol=1e-5)


def test_truth_file_without_missing_values_scores_them_as_the_mean(small, tmp_path):
    data = small.truth.to_dict()
    assert len(data.pop("missing_value")) == len(DEFAULT_SCHEMA.feature_names)
    (tmp_path / "truth.json").write_text(json.dumps(data))
    older = load_truth(tmp_path)
    column = DEFAULT_SCHEMA.feature_index("smile")
    blind = _without_face_values(small.dataset, ("smile",))
    z_seen = (small.dataset.states[:, column] - older.feature_mean[column]) \
        / older.feature_scale[column]
    np.testing.assert_allclose(older.state_reward(blind) - older.state_reward(small.dataset),
                               -DEFAULT_WEIGHTS["smile"] * z_seen, atol=1e-5)


def test_truth_refuses_a_dataset_without_its_features(small):
    narrow = FusedDataset(
        t_s=small.dataset.t_s, states=small.dataset.states[:, :3],
        valid=small.dataset.valid[:, :3], actions=small.dataset.actions,
        episode=small.dataset.episode, session=small.dataset.session,
        schema=type(DEFAULT_SCHEMA)(name="narrow", version="1",
                                    features=DEFAULT_SCHEMA.features[:3],
                                    actions=DEFAULT_SCHEMA.actions),
        session_ids=small.dataset.session_ids, participants=small.dataset.participants)
    with pytest.raises(TruthError, match="lacks feature"):
        small.truth.true_reward(narrow)


def test_raw_sessions_fuse_back_to_the_simulated_states_and_actions(small, tmp_path):
    paths = write_simulation(small, tmp_path / "sim")
    sessions = sorted(paths["sessions"].glob("*.sqlite"))
    assert len(sessions) == 2
    fused, failures = fuse_sessions(sessions, settings=FusionSettings(step_s=1.0),
                                    processes=1, progress=False)
    assert not failures
    np.testing.assert_array_equal(fused.actions, small.dataset.actions)
    np.testing.assert_array_equal(fused.valid, small.dataset.valid)
    np.testing.assert_allclose(fused.states, small.dataset.states, atol=1e-4)


def test_write_simulation_refuses_a_folder_with_earlier_outputs(small, tmp_path):
    write_simulation(small, tmp_path / "sim", raw_sessions=False)
    with pytest.raises(SimulationError, match="already exists"):
        write_simulation(small, tmp_path / "sim", raw_sessions=False)


@pytest.mark.parametrize("knobs", [{"participants": 0}, {"minutes": -1.0}, {"gamma": 1.0},
                                   {"rationality": 0.0}, {"drift_at": 1.5},
                                   {"sizes": (2, 2, 1, 3, 2, 2)}, {"sizes": (2, 2, 1, 3, 2, 2, 5)},
                                   {"sizes": (2, 2, 1, 1, 2, 2, 7)}])
def test_impossible_configs_are_refused(knobs):
    with pytest.raises(SimulationError):
        SimulationConfig(**knobs)


def test_booking_effort_on_the_next_state_leaves_the_participant_policy_unchanged(small):
    env = EngagementEnvironment(config=small.config, settings=small.settings)
    truth = small.truth
    reward = env.latent_reward(truth.weights[0], truth.interaction, truth.action_bonus)
    prev = np.unravel_index(np.arange(N_LATENT), FACTOR_SIZES)[FACTORS.index("prev")]
    twin = effort_after_action(reward, truth.action_bonus, prev, gamma=small.config.gamma)
    assert np.abs(twin - reward).max() > 0.4
    np.testing.assert_allclose(env.solve(twin, 1.0), env.solve(reward, 1.0), atol=1e-9)


def test_effort_twin_is_invisible_on_observed_transitions_but_not_to_every_action_epic():
    simulation = simulate(SimulationConfig(participants=2, minutes=4, seed=5))
    dataset, gamma = simulation.dataset, simulation.config.gamma
    truth = simulation.truth.reward_table(dataset)
    twin = behavioural_twins(simulation)["effort after"]
    has_next = np.flatnonzero(np.r_[dataset.episode[1:] == dataset.episode[:-1], False])
    known = has_next[dataset.actions[has_next] >= 0]
    assert transition_epic(twin, truth, dataset.actions, known, gamma=gamma) < 1e-6
    every = epic_distance(twin[has_next], truth[has_next], gamma=gamma,
                          next_a=twin[has_next + 1], next_b=truth[has_next + 1])
    assert every > 0.03


def test_conditional_mean_twin_differs_from_the_truth_only_by_rendering_noise(small):
    twins = behavioural_twins(small)
    truth = small.truth.reward_table(small.dataset)
    difference = twins["conditional mean"] - truth  # [T, A]
    # The noise is a state term: equal for every action of a step.
    np.testing.assert_allclose(difference, difference[:, :1].repeat(difference.shape[1], 1),
                               atol=1e-9)
    assert 0 < np.abs(difference).mean() < 0.5 * np.abs(truth - truth.mean()).mean()


def test_behavioural_twins_refuse_a_dataset_without_latent_states(small):
    extras = {k: v for k, v in small.dataset.extras.items() if k != "latent_state"}
    stripped = dataclasses.replace(small, dataset=dataclasses.replace(small.dataset,
                                                                      extras=extras))
    with pytest.raises(SimulationError, match="latent states"):
        behavioural_twins(stripped)


SMALL_WORLD = (2, 2, 1, 3, 2, 2, 7)


def test_a_smaller_world_has_proper_dynamics_and_keeps_the_default_scales():
    config = SimulationConfig(participants=1, minutes=1, sizes=SMALL_WORLD)
    env = EngagementEnvironment(config=config, settings=FusionSettings())
    assert env.n_latent == int(np.prod(SMALL_WORLD)) == env.next_state.shape[0]
    np.testing.assert_allclose(env.prob.sum(axis=2), 1.0, atol=1e-12)
    assert env.next_state.max() < env.n_latent
    default = EngagementEnvironment(config=SimulationConfig(), settings=FusionSettings())
    for name in ("smile", "brow_lower", "head_pitch_mean_deg"):  # extremes mean the same
        assert env.means[name].min() == pytest.approx(default.means[name].min())
        assert env.means[name].max() == pytest.approx(default.means[name].max())


def test_latent_paths_follow_the_policy_and_the_dynamics():
    config = SimulationConfig(participants=3, minutes=2, sizes=SMALL_WORLD)
    env = EngagementEnvironment(config=config, settings=FusionSettings())
    policy = np.zeros((env.n_latent, 7))
    policy[:, ACTIONS.index("scroll_down")] = 1.0  # always scroll down: progress only rises
    latent, actions, session = latent_paths(env, policy, np.random.default_rng(0), sessions=3)
    assert latent.shape == actions.shape == session.shape == (3 * config.steps,)
    last = np.r_[session[1:] != session[:-1], True]
    assert (actions[last] == NO_ACTION).all() and (actions[~last] >= 0).all()
    progress = np.unravel_index(latent, SMALL_WORLD)[FACTORS.index("progress")]
    assert progress.max() == 2 and (np.diff(progress)[session[1:] == session[:-1]] >= 0).all()
    again = latent_paths(env, policy, np.random.default_rng(0), sessions=3)
    np.testing.assert_array_equal(again[0], latent)


def test_a_smaller_world_renders_sessions_that_fuse_back(tmp_path):
    simulation = simulate(SimulationConfig(participants=1, minutes=1, seed=2, sizes=SMALL_WORLD))
    assert simulation.truth.parameters["latent_factors"]["progress"] == 3
    paths = write_simulation(simulation, tmp_path / "sim")
    fused, failures = fuse_sessions(sorted(paths["sessions"].glob("*.sqlite")),
                                    settings=FusionSettings(step_s=1.0), processes=1,
                                    progress=False)
    assert not failures
    np.testing.assert_array_equal(fused.actions, simulation.dataset.actions)
    np.testing.assert_allclose(fused.states, simulation.dataset.states, atol=1e-4)


def test_without_effort_queries_and_clicks_cost_nothing():
    simulation = simulate(SimulationConfig(participants=1, minutes=1, seed=0, effort=False))
    assert not simulation.truth.action_bonus.any()
    table = simulation.truth.reward_table(simulation.dataset)
    np.testing.assert_array_equal(table, table[:, :1].repeat(table.shape[1], axis=1))
