"""Content features from markers: what is shown, since when, revisits, T_r, R_e and Q_d.

The content timeline is rebuilt from ``content_shown`` and ``content_hidden`` markers: the
content current at a step is the one named by the last such marker strictly before the step's
end. T_r accumulates per content id the review time of each step (gaze dwell in the content
region when gaze is calibrated, else face present and on screen); R_e counts earlier showings
of the same id or topic plus scroll-backs within the content; Q_d counts queries about it.
See :mod:`fusion.engagement` for the composite E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusion.align import StepGrid, state_at
from sensing.records import Marker

NO_CONTENT = -1


def parse_region(region: Any) -> tuple[float, float, float, float]:
    """A content region payload as (left, top, width, height) px; NaNs when absent."""
    if isinstance(region, list | tuple) and len(region) == 4:
        return tuple(float(v) for v in region)  # type: ignore[return-value]
    if isinstance(region, dict):
        def pick(*names: str) -> float:
            for name in names:
                if name in region:
                    return float(region[name])
            return float("nan")
        return (pick("x", "left"), pick("y", "top"), pick("w", "width"), pick("h", "height"))
    return (np.nan, np.nan, np.nan, np.nan)


@dataclass
class ContentTimeline:
    """Content markers as arrays.

    ``change_t_ns[J]`` times of content_shown/hidden markers, ``change_code[J]`` content code
    (``NO_CONTENT`` when hidden), ``change_revisits[J]`` earlier showings of the same id or
    topic, ``regions[J, 4]``; ``show_t_ns[S]`` times of showings; ``query_t_ns[Q]`` and
    ``query_code[Q]``; ``content_ids`` the id of each code. ``region_t_ns[K]`` and
    ``region_rects[K, 4]`` follow the on-screen region of the current content: every change
    above plus each ``note`` marker with ``event`` "content_region_changed" (the window moved
    or was resized), which moves the region without starting a new showing.
    """

    change_t_ns: np.ndarray
    change_code: np.ndarray
    change_revisits: np.ndarray
    regions: np.ndarray
    show_t_ns: np.ndarray
    query_t_ns: np.ndarray
    query_code: np.ndarray
    content_ids: tuple[str, ...]
    region_t_ns: np.ndarray
    region_rects: np.ndarray

    @classmethod
    def from_markers(cls, markers: Sequence[Marker]) -> ContentTimeline:
        codes: dict[str, int] = {}
        seen_ids: dict[str, int] = {}
        seen_topics: dict[str, int] = {}
        change_t, change_code, change_revisits, regions, show_t = [], [], [], [], []
        query_t, query_code = [], []
        region_t, region_rects = [], []
        current = NO_CONTENT
        for marker in markers:  # markers arrive every few seconds: thousands per hour at most
            payload = marker.payload if isinstance(marker.payload, dict) else {}
            if marker.kind == "content_shown":
                content_id = str(payload.get("content_id", payload.get("id", "")))
                topic = payload.get("topic")
                current = codes.setdefault(content_id, len(codes))
                revisits = seen_ids.get(content_id, 0)
                if topic is not None:
                    revisits = max(revisits, seen_topics.get(str(topic), 0))
                    seen_topics[str(topic)] = seen_topics.get(str(topic), 0) + 1
                seen_ids[content_id] = seen_ids.get(content_id, 0) + 1
                change_t.append(marker.t_ns)
                change_code.append(current)
                change_revisits.append(revisits)
                regions.append(parse_region(payload.get("region")))
                region_t.append(marker.t_ns)
                region_rects.append(regions[-1])
                show_t.append(marker.t_ns)
            elif marker.kind == "content_hidden":
                current = NO_CONTENT
                change_t.append(marker.t_ns)
                change_code.append(NO_CONTENT)
                change_revisits.append(0)
                regions.append((np.nan,) * 4)
                region_t.append(marker.t_ns)
                region_rects.append(regions[-1])
            elif (marker.kind == "note" and current != NO_CONTENT
                  and payload.get("event") == "content_region_changed"
                  and payload.get("region") is not None):
                region_t.append(marker.t_ns)
                region_rects.append(parse_region(payload.get("region")))
            elif marker.kind == "query_submitted":
                named = payload.get("content_id")
                code = codes.setdefault(str(named), len(codes)) if named is not None else current
                if code != NO_CONTENT:
                    query_t.append(marker.t_ns)
                    query_code.append(code)
        return cls(
            change_t_ns=np.array(change_t, dtype=np.int64),
            change_code=np.array(change_code, dtype=np.int64),
            change_revisits=np.array(change_revisits, dtype=np.int64),
            regions=np.array(regions, dtype=np.float64).reshape(-1, 4),
            show_t_ns=np.array(show_t, dtype=np.int64),
            query_t_ns=np.array(query_t, dtype=np.int64),
            query_code=np.array(query_code, dtype=np.int64),
            content_ids=tuple(codes),
            region_t_ns=np.array(region_t, dtype=np.int64),
            region_rects=np.array(region_rects, dtype=np.float64).reshape(-1, 4),
        )

    def episodes(self, grid: StepGrid) -> np.ndarray:
        """Episode per step: showings strictly before the step's end, [T] int64."""
        return np.searchsorted(self.show_t_ns, grid.ends_ns, side="left").astype(np.int64)


def group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Running sum of ``values[T]`` within each group id of ``groups[T]`` (in step order)."""
    if values.size == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(groups, kind="stable")
    ordered = values[order]
    running = np.cumsum(ordered)
    first = np.r_[True, groups[order][1:] != groups[order][:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(values.size), 0))
    out = np.empty_like(running)
    out[order] = running - (running[group_start] - ordered[group_start])
    return out


def content_features(timeline: ContentTimeline, grid: StepGrid, *, step_review_s: np.ndarray,
                     step_scroll_up_px: np.ndarray,
                     scroll_back_unit_px: float) -> dict[str, np.ndarray]:
    """Content columns (all but ``engagement``), each [T] float64.

    ``step_review_s[T]`` is each step's own review time and ``step_scroll_up_px[T]`` its own
    scroll-up amount (both over the step, not the trailing window, so sums do not double count).
    """
    ends = grid.ends_ns
    index = state_at(timeline.change_t_ns, ends)
    known = index >= 0
    safe = np.maximum(index, 0)
    code = np.where(known, timeline.change_code[safe] if index.size and known.any() else -1,
                    NO_CONTENT)
    shown = code != NO_CONTENT
    shown_since = np.where(shown, timeline.change_t_ns[safe] if shown.any() else 0, ends)
    revisits = np.where(shown, timeline.change_revisits[safe] if shown.any() else 0, 0)

    review = group_cumsum(np.where(shown, step_review_s, 0.0), code)
    scroll_back = group_cumsum(np.where(shown, step_scroll_up_px, 0.0), code)
    # Q_d: queries about the current content strictly before the step's end.
    # One sorted key per (code, time): codes 2**45 ns (9.7 h) apart; longer sessions would
    # need a wider key.
    big = np.int64(1) << np.int64(45)
    query_key = np.sort(timeline.query_code * big + timeline.query_t_ns)
    step_key = code * big + ends
    depth = (np.searchsorted(query_key, step_key, side="left")
             - np.searchsorted(query_key, code * big, side="left"))
    return {
        "content_shown": shown.astype(np.float64),
        "time_on_content_s": np.where(shown, (ends - shown_since) / 1e9, 0.0),
        "content_revisits": revisits.astype(np.float64),
        "review_time_s": np.where(shown, review, 0.0),
        "reengagement": np.where(shown, revisits + scroll_back / scroll_back_unit_px, 0.0),
        "query_depth": np.where(shown, depth, 0).astype(np.float64),
    }
