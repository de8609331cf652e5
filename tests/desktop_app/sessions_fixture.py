"""Small real session files for the desktop app tests, written through the session store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sensing.records import FaceFrame, InputEvent, Marker
from sensing.session import SessionWriter

FULL_CONSENT = {"camera": True, "video": False, "landmarks": False, "keyboard": True,
                "mouse": True, "scroll": True, "markers": True}


def write_session(data_dir: Path, *, participant: str = "P001", seconds: float = 4.0,
                  rate_hz: float = 30.0, notes: int = 0) -> Path:
    """A session with face rows, key and scroll events and content markers, plus ``notes``
    note markers 1.5 ms apart from 1 ms on."""
    writer = SessionWriter.create(data_dir, participant=participant, consent=FULL_CONSENT,
                                  consent_text="test")
    rng = np.random.default_rng(0)
    steps = int(seconds * rate_hz)
    for index in range(steps):
        t_ns = int(index * 1e9 / rate_hz) + 1
        blend = rng.uniform(0, 0.3, 52).astype(np.float32)
        writer.write_face(FaceFrame(
            t_ns=t_ns, face_count=1, present=True, confidence=0.9, blendshapes=blend,
            yaw_deg=float(rng.normal(0, 5)), pitch_deg=float(rng.normal(0, 5)), roll_deg=0.0,
            translation_mm=(0.0, 0.0, 500.0), eye_features_norm=(0.5, 0.5, 0.5, 0.5),
            eye_openness=(0.3, 0.3), distance_mm=500.0,
            gaze_px=(float(400 + 300 * np.sin(index / 10)), float(300 + 200 * np.cos(index / 7))),
            on_screen=True, gaze_calibrated=True))
        phase = int(index / rate_hz / 2) % 4   # 2 s each: type, scroll down, read, scroll back
        if phase == 0 and index % 3 == 0:
            writer.write_input(InputEvent(t_ns=t_ns + 10, kind="key_down", key_class="letter"))
            writer.write_input(InputEvent(t_ns=t_ns + 20, kind="key_up", key_class="letter"))
        if phase in (1, 3) and index % 3 == 1:
            writer.write_input(InputEvent(t_ns=t_ns + 30, kind="scroll", x_px=400, y_px=300,
                                          dx=0.0, dy=-1.0 if phase == 1 else 1.0))
    region = {"x": 100, "y": 100, "w": 600, "h": 400}
    writer.write_marker(Marker(t_ns=2, kind="task_start", payload={}))
    writer.write_marker(Marker(t_ns=3, kind="content_shown",
                               payload={"content_id": "one", "region": region}))
    half = int(seconds * 5e8)
    writer.write_marker(Marker(t_ns=half, kind="query_submitted",
                               payload={"content_id": "one", "region": region,
                                        "length_chars": 12, "followup": True,
                                        "rephrase": False}))
    writer.write_marker(Marker(t_ns=half + 1000, kind="content_hidden",
                               payload={"content_id": "one", "region": region}))
    writer.write_marker(Marker(t_ns=half + 2000, kind="content_shown",
                               payload={"content_id": "two", "region": region}))
    for k in range(notes):
        writer.write_marker(Marker(t_ns=1_000_000 + k * 1_500_000, kind="note",
                                   payload={"text": f"m{k}"}))
    writer.close()
    return writer.path
