"""Public entry points: one session, or many in parallel, into a :class:`FusedDataset`.

``fuse_session`` reads a session's streams once (column arrays from :mod:`sensing.session`)
and computes every feature of :data:`fusion.schema.DEFAULT_SCHEMA` with windowed prefix sums
(:mod:`fusion.align`), with no Python loop over steps. ``fuse_sessions`` spreads sessions over
worker processes; a session that cannot be read is reported in the returned failures and
skipped, never dropped without a word.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from fusion.actions import next_step_actions, step_evidence
from fusion.align import StepGrid, grid_windows, last_before, merge_intervals, overlaps
from fusion.dataset import FusedDataset
from fusion.engagement import engagement_score
from fusion.features.behaviour import behaviour_features
from fusion.features.content import ContentTimeline, content_features
from fusion.features.vision import vision_features
from fusion.schema import DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from sensing.errors import EngageError
from sensing.records import CONSENT_STREAMS, N_LANDMARKS, Marker
from sensing.session import Session, open_session

log = logging.getLogger(__name__)

FOREVER_NS = np.iinfo(np.int64).max // 4

# Gap records name a store stream or a consent stream; these are the consent streams each
# one silences.
GAP_STREAMS: dict[str, tuple[str, ...]] = {
    "face": ("camera",), "camera": ("camera",), "video": ("camera",),
    "input": ("keyboard", "mouse", "scroll"), "keyboard": ("keyboard",), "mouse": ("mouse",),
    "scroll": ("scroll",), "markers": ("markers",),
}


class EmptySessionError(EngageError):
    """A session holds no rows in any stream: there is nothing to fuse."""


class OneStreamSessionError(EngageError):
    """A session holds fewer participant streams than the settings require."""


@dataclass
class SessionStreams:
    """Everything fusion reads from one session, as arrays (see ``Session.face()`` etc.)."""

    session_id: str
    participant: str
    duration_ns: int
    face: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]
    markers: list[Marker]
    consent_records: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, session: Session, *, include_landmarks: bool = False) -> SessionStreams:
        consent = session.consent
        landmarks = include_landmarks and consent.get("landmarks", False)
        face = session.face(include_landmarks=landmarks)
        inputs = session.input_events()
        markers = session.markers()
        last = [int(a[-1]) for a in (face["t_ns"], inputs["t_ns"]) if a.size]
        last += [markers[-1].t_ns] if markers else []
        duration_ns = max([round(session.duration_s * 1e9), *last, 0])
        return cls(session_id=session.id, participant=session.participant,
                   duration_ns=duration_ns, face=face, inputs=inputs, markers=markers,
                   consent_records=session.consent_records(), gaps=session.gaps())

    def streams_present(self) -> list[str]:
        present = []
        if self.face["t_ns"].size:
            present.append("face")
        if self.inputs["t_ns"].size:
            present.append("input")
        if any(m.kind not in ("pause", "resume") for m in self.markers):
            present.append("markers")
        return present


def _off_intervals(streams: SessionStreams, pauses: np.ndarray) -> dict[str, np.ndarray]:
    """Per consent stream, disjoint [start, end) intervals when it yields no valid data."""
    spans: dict[str, list[tuple[int, int]]] = {s: [] for s in CONSENT_STREAMS}
    records = sorted(streams.consent_records, key=lambda r: int(r["t_ns"]))
    for stream in CONSENT_STREAMS:
        changes = [(int(r["t_ns"]), bool(r["granted"])) for r in records
                   if r["stream"] == stream]
        if not changes:
            spans[stream].append((0, FOREVER_NS))
            continue
        bounds = [t for t, _ in changes[1:]] + [FOREVER_NS]
        spans[stream] += [(0 if i == 0 else t, end) for i, ((t, granted), end)
                          in enumerate(zip(changes, bounds, strict=True)) if not granted]
    for gap in streams.gaps:
        end = FOREVER_NS if gap["end_ns"] is None else int(gap["end_ns"])
        for stream in GAP_STREAMS.get(str(gap["stream"]), ()):
            spans[stream].append((int(gap["start_ns"]), end))
    pause_spans = [tuple(p) for p in pauses.tolist()]
    return {stream: merge_intervals(spans[stream] + pause_spans) for stream in CONSENT_STREAMS}


def _pause_intervals(markers: Sequence[Marker]) -> np.ndarray:
    spans, since = [], None
    for marker in markers:  # a handful of pause/resume markers per session
        if marker.kind == "pause" and since is None:
            since = marker.t_ns
        elif marker.kind == "resume" and since is not None:
            spans.append((since, marker.t_ns))
            since = None
    if since is not None:
        spans.append((since, FOREVER_NS))
    return merge_intervals(spans)


def _step_landmarks(face: dict[str, np.ndarray], grid: StepGrid,
                    settings: FusionSettings) -> np.ndarray:
    """The last face mesh before each step's end, [T, 478, 3] float32, NaN if stale."""
    out = np.full((grid.n_steps, N_LANDMARKS, 3), np.nan, dtype=np.float32)
    rows = last_before(face["t_ns"], grid.ends_ns)
    fresh = (rows >= 0)
    fresh[fresh] &= grid.ends_ns[fresh] - face["t_ns"][rows[fresh]] <= settings.max_gap_s * 1e9
    out[fresh] = face["landmarks"][rows[fresh]]
    return out


def _in_time_order(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stream's columns sorted by ``t_ns`` (the store returns them sorted already)."""
    t_ns = columns["t_ns"]
    if t_ns.size < 2 or not np.any(t_ns[1:] < t_ns[:-1]):
        return columns
    order = np.argsort(t_ns, kind="stable")
    return {name: values[order] for name, values in columns.items()}


def fuse_streams(streams: SessionStreams, *, settings: FusionSettings) -> FusedDataset:
    """Fuse one session's arrays into fixed-step states, masks, actions and episodes."""
    streams.face = _in_time_order(streams.face)
    streams.inputs = _in_time_order(streams.inputs)
    streams.markers = sorted(streams.markers, key=lambda marker: marker.t_ns)
    present = streams.streams_present()
    if not present:
        raise EmptySessionError(f"session {streams.session_id} is empty: no face rows, input "
                                "events or markers; nothing to fuse")
    participant_streams = [s for s in present if s != "markers"]
    if not participant_streams:
        raise OneStreamSessionError(f"session {streams.session_id} holds only markers: nothing "
                                    "was observed of the participant; nothing to fuse")
    if len(present) < settings.min_streams:
        missing = sorted({"face", "input", "markers"} - set(present))
        raise OneStreamSessionError(
            f"session {streams.session_id} has only the {' and '.join(present)} stream(s) "
            f"(no {', no '.join(missing)}); set min_streams=1 (--min-streams 1) to fuse it "
            "with the missing modalities marked invalid")
    if len(present) < 3:
        log.warning("session %s lacks %s; those features are marked invalid",
                    streams.session_id, ", ".join(sorted({"face", "input", "markers"}
                                                         - set(present))))
    grid = StepGrid.for_duration(streams.duration_ns, step_s=settings.step_s,
                                 window_s=settings.window)
    if grid.n_steps == 0:
        raise EmptySessionError(f"session {streams.session_id} lasts 0 s; nothing to fuse")
    starts, ends, step_starts = grid.starts_ns, grid.ends_ns, grid.step_starts_ns()

    pauses = _pause_intervals(streams.markers)
    off_spans = _off_intervals(streams, pauses)
    off = {stream: overlaps(spans, starts, ends) for stream, spans in off_spans.items()}
    # A stream with no row in the whole session was not captured (a listener that could not
    # start, a camera that never opened): its features are unknown, not zero.
    silent = {"face": ("camera",), "input": ("keyboard", "mouse", "scroll"),
              "markers": ("markers",)}
    for stream, consent_streams in silent.items():
        if stream not in present:
            for name in consent_streams:
                off[name] = np.ones(grid.n_steps, dtype=bool)
                off_spans[name] = np.array([[0, FOREVER_NS]], dtype=np.int64)
    paused = overlaps(pauses, step_starts, ends)
    timeline = ContentTimeline.from_markers(streams.markers)

    vision = vision_features(streams.face, grid, settings=settings, unavailable=off["camera"],
                             content_change_t_ns=timeline.region_t_ns,
                             content_regions=timeline.region_rects)
    behaviour = behaviour_features(streams.inputs, grid, settings=settings,
                                   keyboard_off=off["keyboard"], mouse_off=off["mouse"],
                                   scroll_off=off["scroll"])

    # Per-step (not per-window) review time and scroll-back, so that running sums count once.
    v, vv = vision.values, vision.valid
    review_share = np.where(vv["dwell_content_share"], v["dwell_content_share"],
                            v["face_present_share"] * np.where(vv["gaze_on_screen_share"],
                                                               v["gaze_on_screen_share"], 1.0))
    step_review_s = settings.step_s * np.where(vv["face_present_share"], review_share, 0.0)
    inputs = streams.inputs
    in_step = grid_windows(inputs["t_ns"], grid, window_ns=grid.step_ns)
    scroll_dy = np.where(inputs["kind"] == "scroll", np.nan_to_num(inputs["dy"]), 0.0)
    step_scroll_up = in_step.sum(np.maximum(scroll_dy, 0.0)) * settings.scroll_px_per_unit
    step_scroll_up = np.where(off["scroll"], 0.0, step_scroll_up)
    content = content_features(timeline, grid, step_review_s=step_review_s,
                               step_scroll_up_px=step_scroll_up,
                               scroll_back_unit_px=settings.scroll_back_unit_px)
    content["engagement"] = engagement_score(
        content["review_time_s"], content["reengagement"], content["query_depth"],
        config=settings.engagement)
    content_valid = ~off["markers"]
    content = {name: np.where(content_valid, values, 0.0) for name, values in content.items()}

    values = {**vision.values, **behaviour.values, **content}
    valid = {**vision.valid, **behaviour.valid, **dict.fromkeys(content, content_valid)}
    names = DEFAULT_SCHEMA.feature_names
    states = np.empty((grid.n_steps, len(names)), dtype=np.float32)  # [T, F]
    mask = np.empty((grid.n_steps, len(names)), dtype=bool)  # [T, F]
    for column, name in enumerate(names):
        states[:, column] = values[name]
        mask[:, column] = valid[name]

    input_off = off["keyboard"] & off["mouse"] & off["scroll"]
    evidence = step_evidence(streams.face, inputs, timeline.query_t_ns, grid, settings=settings,
                             camera_off=overlaps(off_spans["camera"], step_starts, ends),
                             input_off=input_off)
    actions = next_step_actions(evidence, paused)
    extras: dict[str, np.ndarray] = {
        "engagement": content["engagement"].astype(np.float32),
        "mask_paused": paused,
        "mask_no_face": vision.no_face,
        "mask_gaze_uncalibrated": vision.gaze_uncalibrated,
        "mask_not_consented": off["camera"] | input_off | off["markers"],
    }
    if settings.include_landmarks and "landmarks" in streams.face:
        extras["landmarks"] = _step_landmarks(streams.face, grid, settings)
    return FusedDataset(
        t_s=ends / 1e9, states=states, valid=mask, actions=actions,
        episode=timeline.episodes(grid), session=np.zeros(grid.n_steps, dtype=np.int32),
        schema=DEFAULT_SCHEMA, session_ids=(streams.session_id,),
        participants=(streams.participant,), settings=settings.to_dict(), extras=extras,
    )


def fuse_session(session_or_path: Session | str | os.PathLike[str], *,
                 settings: FusionSettings | None = None,
                 data_dir: str | os.PathLike[str] | None = None) -> FusedDataset:
    """Fuse one session (an open :class:`Session`, a session file, or an id) into a dataset."""
    settings = settings or FusionSettings()
    if isinstance(session_or_path, Session):
        streams = SessionStreams.read(session_or_path,
                                      include_landmarks=settings.include_landmarks)
    else:
        with open_session(session_or_path, data_dir) as session:
            streams = SessionStreams.read(session, include_landmarks=settings.include_landmarks)
    dataset = fuse_streams(streams, settings=settings)
    log.info("fused session %s: %d steps of %.3f s", streams.session_id, len(dataset),
             settings.step_s)
    return dataset


@dataclass(frozen=True)
class FuseFailure:
    """A session that could not be fused, and why."""

    source: str
    message: str


def describe_failures(failures: Sequence[FuseFailure], *,
                      name: Callable[[str], str] = str) -> str:
    """One clause per reason, naming every session that failed for it (``name`` of its
    source): a folder of sessions recorded alike gets its reason once, not once per file."""
    reasons: dict[str, list[FuseFailure]] = {}
    for failure in failures:
        # The messages name the session first; a shared clause names the sources instead.
        reasons.setdefault(re.sub(r"^session \S+ ", "", failure.message), []).append(failure)
    clauses = []
    for reason, alike in reasons.items():
        if len(alike) == 1:
            clauses.append(f"{name(alike[0].source)}: {alike[0].message}")
        else:
            clauses.append(f"{', '.join(name(f.source) for f in alike)}: each {reason}")
    return "; ".join(clauses)


def _fuse_worker(source: str, settings: dict[str, Any],
                 data_dir: str | None) -> FusedDataset | FuseFailure:
    try:
        return fuse_session(source, settings=FusionSettings.from_dict(settings),
                            data_dir=data_dir)
    except EngageError as error:
        return FuseFailure(source, str(error))
    except Exception as error:  # noqa: BLE001 - reported per session, never silently dropped
        log.exception("fusing %s failed", source)
        return FuseFailure(source, f"{type(error).__name__}: {error}")


def fuse_sessions(paths: Sequence[str | os.PathLike[str]], *,
                  settings: FusionSettings | None = None, processes: int | None = None,
                  progress: bool = True, data_dir: str | os.PathLike[str] | None = None,
                  ) -> tuple[FusedDataset | None, list[FuseFailure]]:
    """Fuse many sessions, in parallel across processes, into one dataset.

    Returns the joined dataset of the sessions that fused (in the order given; None when none
    did) and the failures, one per session that did not, with the reason.
    """
    from tqdm import tqdm

    settings = settings or FusionSettings()
    sources = [str(Path(p)) if isinstance(p, os.PathLike) else str(p) for p in paths]
    if not sources:
        raise EngageError("no sessions given to fuse")
    folder = None if data_dir is None else str(data_dir)
    workers = max(1, min(processes or os.cpu_count() or 1, len(sources)))
    results: list[FusedDataset | FuseFailure | None] = [None] * len(sources)
    bar = tqdm(total=len(sources), desc="fusing", unit="session",
               disable=None if progress else True)
    if workers == 1:
        for index, source in enumerate(sources):
            results[index] = _fuse_worker(source, settings.to_dict(), folder)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_fuse_worker, source, settings.to_dict(), folder): index
                       for index, source in enumerate(sources)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    failures = [r for r in results if isinstance(r, FuseFailure)]
    for failure in failures:
        log.info("skipped %s: %s", failure.source, failure.message)
    parts = [r for r in results if isinstance(r, FusedDataset)]
    return (FusedDataset.concat(parts) if parts else None), failures
