"""The HTML report: one self-contained file with every section and readable plots."""

from __future__ import annotations

import base64
import re

import pytest
import torch

from irl.explain import ExplainError
from irl.report import write_report
from irl.simulate import SimulationConfig, simulate
from irl.train import train
from tests.irl.test_explain import LeastSquaresReward


@pytest.fixture(scope="module")
def simulated():
    torch.set_num_threads(1)
    return simulate(SimulationConfig(participants=2, minutes=6, seed=5))


@pytest.fixture(scope="module")
def model(simulated):
    return train(simulated.dataset, algo="iq", gamma=0.9, seed=0, epochs=3, progress=False)


@pytest.fixture(scope="module")
def report_html(simulated, model, tmp_path_factory, output_dir):
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(model, simulated.dataset, path, refit=LeastSquaresReward,
                 recovery=[{"algorithm": "iq", "EPIC to truth": 0.5}])
    (output_dir / "irl-report.html").write_text(path.read_text())
    return path.read_text()


def test_report_has_every_section(report_html):
    for heading in ("Recovery against the known reward", "What the reward weighs",
                    "Share of the reward by modality", "Reward along a session",
                    "Drift: the reward in consecutive windows", "Horizon sensitivity", "Training"):
        assert heading in report_html
    assert "likelihood ratio" in report_html and "Change points flagged" in report_html
    assert "cosine distance of weights" in report_html
    # Two sessions of 6 minutes: nothing is flagged, and the report says what that is worth.
    assert "Change points flagged: <b>none</b>" in report_html
    assert "The strongest boundary" in report_html and "weak evidence" in report_html
    assert "120 steps per window" in report_html


def test_report_is_self_contained_with_inlined_png_plots(report_html):
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report_html)
    assert len(images) >= 5
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', report_html)


def test_report_lists_every_feature_of_the_schema(report_html, simulated):
    for name in simulated.dataset.schema.feature_names:
        assert f"<td>{name}</td>" in report_html


def test_report_without_refits_says_so(simulated, model, tmp_path):
    path = write_report(model, simulated.dataset, tmp_path / "quick.html", drift=False,
                        horizon=False)
    text = path.read_text()
    assert "not computed (drift=False)" in text and "not computed (horizon=False)" in text
    assert not (tmp_path / ".quick.html.partial").exists()


def test_report_needs_a_dataset(model, tmp_path):
    with pytest.raises(ExplainError, match="needs the dataset"):
        write_report(model, None, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
