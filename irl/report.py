"""One self-contained HTML report of a reward model on a dataset.

Everything a reader needs sits in one file they can mail or archive: tables, and plots drawn
with matplotlib's Agg backend (no display needed) and inlined as base64 PNGs. The sections
follow :mod:`irl.explain`: feature weights with intervals, modality shares, the reward along
a session beside engagement E, drift across windows, horizon sensitivity, the training
curve, and, when the true reward is known (a simulation), recovery against it.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fusion.dataset import FusedDataset  # noqa: E402
from irl.explain import (  # noqa: E402
    DriftResult,
    ExplainError,
    FeatureWeights,
    HorizonResult,
    Refit,
    Timeline,
    feature_weights,
    horizon_sensitivity,
    iq_refit,
    modality_shares,
    reward_drift,
    reward_timeline,
    state_rewards,
)
from irl.model_io import RewardModel  # noqa: E402
from sensing import __version__  # noqa: E402

log = logging.getLogger(__name__)

MODALITY_COLOURS = {"vision": "#3b75af", "behaviour": "#e0803a", "content": "#519e3e"}
# Drift windows with fewer steps than this get the caution on power measured in simulations.
SMALL_WINDOW_STEPS = 1000


@dataclass
class ReportSections:
    """What a report shows; ``None`` sections are left out with a line saying why."""

    weights: FeatureWeights
    shares: dict[str, float]
    timeline: Timeline
    drift: DriftResult | None
    drift_note: str
    horizon: HorizonResult | None
    horizon_note: str
    recovery: list[dict[str, Any]] | None


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_weights(weights: FeatureWeights, *, top: int = 20) -> plt.Figure:
    """Horizontal bars of the largest weights with their 95 % intervals, by modality colour."""
    rows = weights.rows()[:top][::-1]
    figure, axis = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.2))
    values = np.array([r["weight"] for r in rows])
    errors = np.array([[r["weight"] - r["low"], r["high"] - r["weight"]] for r in rows]).T
    colours = [MODALITY_COLOURS.get(r["modality"], "grey") for r in rows]
    axis.barh(range(len(rows)), values, xerr=np.maximum(errors, 0), color=colours,
              error_kw={"elinewidth": 1, "capsize": 2})
    axis.set_yticks(range(len(rows)), [r["feature"] for r in rows], fontsize=8)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("weight on standardised feature (reward per SD)")
    axis.set_title(f"Reward weights, 95 % bootstrap over {weights.n_episodes} episodes "
                   f"(R² of linear description {weights.r_squared:.2f})", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in MODALITY_COLOURS.values()]
    axis.legend(handles, list(MODALITY_COLOURS), fontsize=7, loc="lower right")
    return figure


def plot_shares(shares: dict[str, float]) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(4.5, 2.2))
    names = list(shares)
    axis.barh(names, [shares[n] for n in names],
              color=[MODALITY_COLOURS.get(n, "grey") for n in names])
    axis.set_xlim(0, 1)
    axis.set_xlabel("share of |reward| from the modality")
    for index, name in enumerate(names):
        axis.text(shares[name] + 0.01, index, f"{shares[name]:.0%}", va="center", fontsize=8)
    return figure


def plot_timeline(timeline: Timeline) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(8.5, 3.0))
    minutes = timeline.t_s / 60.0
    reward = timeline.reward
    window = max(1, len(reward) // 120)
    smooth = np.convolve(reward, np.ones(window) / window, mode="same")
    axis.plot(minutes, reward, color="#3b75af", alpha=0.25, linewidth=0.6)
    axis.plot(minutes, smooth, color="#3b75af", linewidth=1.4,
              label=f"learned reward ({window}-step mean)")
    axis.set_xlabel("session time (min)")
    axis.set_ylabel("reward", color="#3b75af")
    if timeline.engagement is not None:
        twin = axis.twinx()
        twin.plot(minutes, timeline.engagement, color="#c0392b", linewidth=1.0,
                  label="engagement E")
        twin.set_ylabel("engagement E", color="#c0392b")
        twin.set_ylim(-0.02, 1.02)
    title = f"Session {timeline.session_id}"
    if timeline.correlation is not None:
        title += f": Pearson(reward, E) = {timeline.correlation:.2f}"
    axis.set_title(title, fontsize=9)
    axis.legend(loc="upper left", fontsize=7)
    return figure


def plot_drift(drift: DriftResult) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7.0, 2.8))
    boundaries = (drift.starts_s[1:]) / 60.0
    if drift.method == "likelihood":
        axis.plot(boundaries, drift.change_score, marker="o", color="#3b75af",
                  label="likelihood ratio (same reward on both sides?)")
        axis.axhline(drift.threshold, color="#c0392b", linestyle=":", linewidth=1.0,
                     label="flagging level (Bonferroni)")
        axis.set_ylabel("likelihood-ratio statistic")
    else:
        axis.plot(boundaries, drift.change_score, marker="o", color="#3b75af",
                  label="change score (EPIC distance)")
        axis.plot(boundaries, drift.cosine_distance, marker="s", color="#999999",
                  linestyle="--", label="cosine distance of linear weights")
        axis.set_ylabel("distance between neighbouring windows")
    for point in drift.change_points_s:
        axis.axvline(point / 60.0, color="#c0392b", linewidth=1.5)
    axis.set_xlabel("window boundary, session time (min)")
    axis.set_title(f"Fits in {len(drift.starts_s)} windows of {drift.window_s / 60:.1f} min; "
                   f"red: flagged change points", fontsize=9)
    axis.legend(fontsize=7)
    return figure


def plot_curve(curve: list[dict[str, float]]) -> plt.Figure | None:
    if not curve:
        return None
    keys = [k for k in curve[0] if k not in ("epoch", "iteration", "step")]
    if not keys:
        return None
    key = keys[0]
    figure, axis = plt.subplots(figsize=(5.5, 2.5))
    axis.plot([row.get(key, np.nan) for row in curve], color="#3b75af")
    axis.set_xlabel("iteration / epoch")
    axis.set_ylabel(key)
    axis.set_title("Training curve", fontsize=9)
    return figure


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if np.isfinite(value) else "–"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(encoded: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def explain_all(model: RewardModel, dataset: FusedDataset, *, drift: bool = True,
                horizon: bool = True, refit: Refit | None = None, n_boot: int = 200,
                seed: int = 0, recovery: list[dict[str, Any]] | None = None,
                drift_windows: int = 6, refit_intervals: bool = False,
                n_refits: int = 20) -> ReportSections:
    """Compute every section (drift and horizon refit the reward, so they can be skipped)."""
    weights = feature_weights(model, dataset, n_boot=n_boot, seed=seed,
                              refit=(refit or iq_refit()) if refit_intervals else None,
                              n_refits=n_refits)
    x, _ = state_rewards(model, dataset)
    shares = modality_shares(weights, x)
    timeline = reward_timeline(model, dataset, session=0)
    drift_result, drift_note = None, "not computed (drift=False)"
    if drift:
        try:
            # The likelihood-ratio test: the method measured to find an injected drift
            # without flagging a drift-free simulation (benchmarks/irl_recovery.py).
            drift_result = reward_drift(dataset, n_windows=drift_windows, gamma=model.gamma,
                                        seed=seed)
            drift_note = ""
        except ExplainError as error:
            drift_note = str(error)
    horizon_result, horizon_note = None, "not computed (horizon=False)"
    if horizon:
        try:
            horizon_result = horizon_sensitivity(dataset, refit=refit)
            horizon_note = ""
        except ExplainError as error:
            horizon_note = str(error)
    return ReportSections(weights=weights, shares=shares, timeline=timeline,
                          drift=drift_result, drift_note=drift_note, horizon=horizon_result,
                          horizon_note=horizon_note, recovery=recovery)


STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 980px; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #666; font-size: 0.85em; }
"""


def render_html(model: RewardModel, dataset: FusedDataset, sections: ReportSections) -> str:
    """The report as one HTML string."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Engage reward report"
             f"</title><style>{STYLE}</style></head><body>",
             "<h1>Engage reward report</h1>",
             f"<p>Model <b>{html.escape(model.algo)}</b> (gamma {model.gamma:g}, schema "
             f"{html.escape(model.schema.name)} v{html.escape(model.schema.version)}) on "
             f"{len(dataset)} steps, {len(dataset.session_ids)} session(s), "
             f"{len(np.unique(dataset.episode))} episodes. Written "
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by Engage {__version__}.</p>"]
    if sections.recovery:
        parts.append("<h2>Recovery against the known reward</h2>")
        headers = list(sections.recovery[0])
        parts.append(_table(headers, [[row[h] for h in headers] for row in sections.recovery]))
        parts.append("<p class='note'>EPIC distance (Gleave et al. 2021): 0 = same reward up to "
                     "shaping and scale, 1 = opposite. Lower is better.</p>")
    weights = sections.weights
    parts.append("<h2>What the reward weighs</h2>")
    parts.append(_image(_png(plot_weights(weights)), "feature weights"))
    parts.append(_table(["feature", "modality", "weight", "95 % low", "95 % high", "≠ 0"],
                        [[r["feature"], r["modality"], r["weight"], r["low"], r["high"],
                          "yes" if r["excludes_zero"] else ""] for r in weights.rows()]))
    parts.append(f"<p class='note'>Linear description r ≈ w·x + b of the action-averaged "
                 f"reward over standardised features, R² = {weights.r_squared:.3f}; intervals "
                 f"from {weights.n_boot} bootstrap resamples of episodes "
                 + ("(the reward retrained per resample, on its own scale)."
                    if weights.refitted else
                    "(the model is not retrained per resample, so a linear model shows "
                    "intervals of zero width).") + "</p>")
    outside = [r["feature"] for r in weights.rows() if r["outside"]]
    if outside:
        parts.append("<p class='note'>The full-data weight lies outside its own interval for "
                     f"{html.escape(', '.join(outside))}: the retrained rewards disagree with "
                     "the full fit there (too few resamples, or a fit that is unstable in "
                     "those features), so read those weights with care.</p>")
    parts.append("<h2>Share of the reward by modality</h2>")
    parts.append(_image(_png(plot_shares(sections.shares)), "modality shares"))
    parts.append(_table(["modality", "share"], [[k, v] for k, v in sections.shares.items()]))
    parts.append("<h2>Reward along a session, beside engagement E</h2>")
    parts.append(_image(_png(plot_timeline(sections.timeline)), "timeline"))
    parts.append("<h2>Drift: the reward in consecutive windows of session time</h2>")
    if sections.drift is not None:
        drift = sections.drift
        parts.append(_image(_png(plot_drift(drift)), "drift"))
        if drift.method == "likelihood":
            parts.append("<p>Each boundary asks whether one reward explains the actions on both "
                         "sides as well as a reward for each side (a likelihood-ratio test of "
                         "linear MaxEnt rewards fitted to the windows, whichever model this "
                         "report explains); it "
                         "is flagged where the statistic exceeds "
                         f"{drift.threshold:.1f} (the Bonferroni-corrected level) and is a "
                         "local peak.</p>")
            parts.append(_table(
                ["boundary (min)", "likelihood ratio", f"p (chi2, {drift.degrees_of_freedom} df)",
                 "cosine distance of weights", "flagged"],
                [[float(start / 60), float(score), float(p), float(e),
                  "yes" if start in drift.change_points_s else ""]
                 for start, score, p, e in zip(drift.starts_s[1:], drift.change_score,
                                               drift.p_value, drift.cosine_distance,
                                               strict=True)]))
        else:
            parts.append(_table(
                ["boundary (min)", "EPIC (change score)", "robust z", "cosine distance",
                 "flagged"],
                [[float(start / 60), float(score), float(z), float(e),
                  "yes" if start in drift.change_points_s else ""]
                 for start, score, z, e in zip(drift.starts_s[1:], drift.change_score,
                                               drift.robust_z, drift.cosine_distance,
                                               strict=True)]))
        flagged = ", ".join(f"{p / 60:.1f} min" for p in drift.change_points_s) or "none"
        parts.append(f"<p>Change points flagged: <b>{flagged}</b>.</p>")
        if not drift.change_points_s and drift.method == "likelihood":
            # "None" from little data is not evidence of stable preferences: say how close
            # the strongest boundary came and how much data each window had.
            top = int(np.argmax(drift.change_score))
            fewest, most = min(drift.windows_steps), max(drift.windows_steps)
            sizes = f"{fewest}" if fewest == most else f"{fewest}-{most}"
            caution = (" On simulated participants, a drift halfway through 3 sessions of 10 "
                       "minutes (300 steps per window) went unflagged in 5 runs of 5, yet was "
                       "found in benchmarks/irl_recovery.py's 10 sessions of 30 minutes (3,000 "
                       "per window): with windows this small, no flag is weak evidence that "
                       "preferences held still."
                       ) if fewest < SMALL_WINDOW_STEPS else ""
            parts.append(
                "<p class='note'>The strongest boundary, at "
                f"{drift.starts_s[top + 1] / 60:.1f} min, has a statistic of "
                f"{drift.change_score[top]:.1f} against the level {drift.threshold:.1f}, with "
                f"{sizes} steps per window.{caution}</p>")
    else:
        parts.append(f"<p class='note'>Drift: {html.escape(sections.drift_note)}</p>")
    parts.append("<h2>Horizon sensitivity</h2>")
    if sections.horizon is not None:
        horizon = sections.horizon
        short, long = horizon.gammas
        parts.append(_table(["", f"gamma {short:g} (short)", f"gamma {long:g} (long)"], [
            ["top features", ", ".join(horizon.top_features[0]),
             ", ".join(horizon.top_features[1])]]))
        parts.append(f"<p>EPIC distance between the two rewards: "
                     f"<b>{horizon.epic_between:.3f}</b>; Pearson of per-step rewards: "
                     f"{horizon.step_reward_correlation:.3f}. A large distance means what the "
                     f"participant values depends on how far ahead they are assumed to look."
                     f"</p>")
    else:
        parts.append(f"<p class='note'>Horizon: {html.escape(sections.horizon_note)}</p>")
    curve = plot_curve(model.curve)
    if curve is not None:
        parts.append("<h2>Training</h2>")
        parts.append(_image(_png(curve), "training curve"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(model: RewardModel, dataset: FusedDataset | None, out_path: str | os.PathLike[str],
                 *, drift: bool = True, horizon: bool = True, refit: Refit | None = None,
                 recovery: list[dict[str, Any]] | None = None, n_boot: int = 200,
                 seed: int = 0, refit_intervals: bool = False, n_refits: int = 20) -> Path:
    """Explain ``model`` on ``dataset`` and write one self-contained HTML file atomically."""
    if dataset is None:
        raise ExplainError("a report needs the dataset to explain the model on; give DATASET "
                           "(a folder written by `engage fuse` or `engage simulate`)")
    model.check_dataset(dataset)
    sections = explain_all(model, dataset, drift=drift, horizon=horizon, refit=refit,
                           n_boot=n_boot, seed=seed, recovery=recovery,
                           refit_intervals=refit_intervals, n_refits=n_refits)
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    staging.write_text(render_html(model, dataset, sections), encoding="utf-8")
    staging.replace(target)
    log.info("report written to %s", target)
    return target
