"""Offline IQ-Learn: a soft Q whose policy imitates, and a reward read out of it."""

from __future__ import annotations

import numpy as np

from irl.iq import transitions_of
from irl.metrics import action_nll
from irl.train import train


def test_transitions_leave_out_episode_ends_and_missing_actions():
    actions = np.array([0, 1, -1, 2, 0, 1])
    episode = np.array([0, 0, 0, 1, 1, 2])
    assert transitions_of(actions, episode).tolist() == [0, 1, 3]


def test_session_ids_let_moves_cross_item_ends():
    # A click ends an item; with session ids its step keeps the next item's first step.
    actions = np.array([0, 3, 1, 2, 0])
    episode = np.array([0, 0, 1, 1, 2])
    session = np.array([0, 0, 0, 0, 1])
    assert transitions_of(actions, episode).tolist() == [0, 2]
    assert transitions_of(actions, session).tolist() == [0, 1, 2]


def test_iq_policy_predicts_actions_about_as_well_as_behaviour_cloning(participant):
    data = participant.dataset
    iq = train(data, algo="iq", gamma=0.9, seed=0, progress=False, epochs=30)
    bc = train(data, algo="bc", gamma=0.9, seed=0, progress=False, epochs=30)
    iq_nll = action_nll(iq.action_log_probs(data), data.actions)
    bc_nll = action_nll(bc.action_log_probs(data), data.actions)
    assert iq_nll < np.log(data.n_actions) - 0.05
    assert iq_nll < bc_nll + 0.05


def test_read_out_reward_covers_every_action_and_has_a_linear_summary(participant):
    data = participant.dataset
    model = train(data, algo="iq", gamma=0.9, seed=0, progress=False, epochs=5)
    table = model.score_actions(data)
    summary = model.linear_weights()
    assert table.shape == (len(data), data.n_actions)
    assert np.isfinite(table).all()
    assert len(summary["weights"]) == data.n_features
    assert 0.0 <= summary["explained_variance"] <= 1.0


def test_same_seed_gives_identical_rewards(participant):
    data = participant.dataset
    first = train(data, algo="iq", gamma=0.9, seed=1, progress=False, epochs=3)
    second = train(data, algo="iq", gamma=0.9, seed=1, progress=False, epochs=3)
    assert np.array_equal(first.score(data), second.score(data))
