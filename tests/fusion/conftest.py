"""Fixtures for fusion tests: real session files built with the store's writer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest

from sensing.records import N_BLENDSHAPES, FaceFrame, InputEvent, Marker
from sensing.session import SessionWriter

ALL_CONSENT = {"camera": True, "keyboard": True, "mouse": True, "scroll": True, "markers": True}
MS = 1_000_000
S = 1_000_000_000


def face_rows(start_s: float, end_s: float, *, hz: float = 30.0, **fields) -> list[FaceFrame]:
    """Face frames at ``hz`` over [start_s, end_s) with the given fields on every row."""
    defaults = {"present": True, "face_count": 1, "yaw_deg": 0.0, "pitch_deg": 0.0,
                "on_screen": True, "distance_mm": 600.0,
                "blendshapes": np.zeros(N_BLENDSHAPES, np.float32)}
    defaults.update(fields)
    times = np.arange(round(start_s * S), round(end_s * S), round(S / hz))
    return [FaceFrame(t_ns=int(t), **defaults) for t in times]


@pytest.fixture
def make_session(data_dir: Path) -> Callable[..., Path]:
    """Build a session file from face frames, input events and markers; returns its path."""

    def build(*, face: Iterable[FaceFrame] = (), inputs: Iterable[InputEvent] = (),
              markers: Iterable[Marker] = (), consent: dict[str, bool] | None = None,
              gaps: Iterable[tuple[str, int, int | None]] = (),
              participant: str = "p1") -> Path:
        with SessionWriter.create(data_dir, participant=participant,
                                  consent=dict(ALL_CONSENT if consent is None else consent)
                                  ) as writer:
            for frame in face:
                writer.write_face(frame)
            for event in inputs:
                writer.write_input(event)
            for marker in markers:
                writer.write_marker(marker)
            for stream, start, end in gaps:
                writer.add_gap(stream, start, end, "test")
            path = writer.path
        return path

    return build
