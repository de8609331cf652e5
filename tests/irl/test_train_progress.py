"""`train(..., on_progress=...)` reports each curve entry as it is made, and only observes."""

from __future__ import annotations

import math

import pytest
import torch

from irl.simulate import SimulationConfig, simulate
from irl.train import train

EPOCHS = {"maxent": 30, "iq": 5, "bc": 5}
METRIC = {"maxent": "nll", "iq": "loss", "bc": "loss"}


@pytest.fixture(scope="module")
def dataset():
    torch.set_num_threads(1)
    return simulate(SimulationConfig(participants=2, minutes=2, seed=0)).dataset


def _train(dataset, algo: str, on_progress=None):
    return train(dataset, algo=algo, epochs=EPOCHS[algo], seed=3, progress=False,
                 on_progress=on_progress)


@pytest.mark.parametrize("algo", ["maxent", "iq", "bc"])
def test_callback_gets_one_item_per_curve_entry_with_increasing_steps(dataset, algo):
    items: list[dict] = []
    model = _train(dataset, algo, items.append)
    assert [item["step"] for item in items] == list(range(1, len(model.curve) + 1))
    assert {item["algo"] for item in items} == {algo}
    assert {item["total"] for item in items} == {EPOCHS[algo]}
    assert {item["metric"] for item in items} == {METRIC[algo]}


@pytest.mark.parametrize("algo", ["maxent", "iq", "bc"])
def test_reported_losses_are_finite_and_match_the_curve(dataset, algo):
    items: list[dict] = []
    model = _train(dataset, algo, items.append)
    losses = [item["loss"] for item in items]
    assert len(losses) > 1 and all(math.isfinite(loss) for loss in losses)
    assert losses == [point[METRIC[algo]] for point in model.curve]
    assert losses[-1] < losses[0]   # training lowers what it reports


@pytest.mark.parametrize("algo", ["maxent", "iq", "bc"])
def test_training_with_a_callback_gives_the_same_weights_as_without(dataset, algo):
    watched = _train(dataset, algo, lambda item: None)
    plain = _train(dataset, algo)
    assert watched.networks.keys() == plain.networks.keys()
    for name, network in plain.networks.items():
        expected = network.state_dict()
        observed = watched.networks[name].state_dict()
        assert expected.keys() == observed.keys()
        assert all(torch.equal(expected[key], observed[key]) for key in expected), name
    assert _without_timings(watched.curve) == _without_timings(plain.curve)


def _without_timings(curve: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{key: value for key, value in point.items() if key != "seconds"} for point in curve]
