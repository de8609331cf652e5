"""Rows per second through the session writer thread, for face rows and input events.

Target (issue 2): at least 50,000 input events and 5,000 face rows per second on a 2-core
machine, so that the store is never what drops data. Printed beside the rate of bare SQLite
``executemany`` of the same rows in one transaction, measured in the same run, because the
machines are shared and noisy: the ratio says what the writer costs over SQLite itself.

    python benchmarks/store_write.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from sensing.records import FaceFrame, InputEvent
from sensing.session import _SCHEMA_V1, FACE_COLUMNS, SessionWriter

CONSENT = {"camera": True, "keyboard": True, "mouse": True, "scroll": True}


def make_faces(count: int) -> list[FaceFrame]:
    rng = np.random.default_rng(0)
    shapes = rng.random((count, 52)).astype(np.float32)
    return [FaceFrame(t_ns=i * 33_333_333, face_count=1, present=True, confidence=0.9,
                      blendshapes=shapes[i], yaw_deg=1.0, pitch_deg=2.0, roll_deg=3.0,
                      translation_mm=(1.0, 2.0, 400.0), eye_features_norm=(0.5, 0.5, 0.5, 0.5),
                      eye_openness=(0.8, 0.8), distance_mm=400.0) for i in range(count)]


def make_events(count: int) -> list[InputEvent]:
    kinds = ("move", "key_down", "key_up", "scroll")
    return [InputEvent(t_ns=i * 500_000, kind=kinds[i % 4],
                       key_class="letter" if i % 4 in (1, 2) else None,
                       x_px=float(i % 1920), y_px=float(i % 1080),
                       dx=0.0 if i % 4 == 3 else None, dy=-1.0 if i % 4 == 3 else None)
            for i in range(count)]


def through_writer(folder: Path, stream: str, records: list) -> float:
    writer = SessionWriter.create(folder, participant="bench", consent=CONSENT)
    write = writer.write_face if stream == "face" else writer.write_input
    start = time.perf_counter()
    for record in records:
        write(record)
    writer.flush(timeout=600)
    elapsed = time.perf_counter() - start
    stats = writer.stats()[stream]
    writer.close()
    assert stats["written"] == len(records) and stats["dropped"] == 0, stats
    return len(records) / elapsed


def bare_sqlite(folder: Path, stream: str, records: list) -> float:
    """The same rows, already converted, inserted by one executemany in one transaction."""
    writer = SessionWriter.create(folder, participant="bench-rows", consent=CONSENT)
    rows = []
    offer = writer._offer  # capture converted rows instead of queueing them
    writer._offer = lambda name, row: rows.append(row) or True  # type: ignore[method-assign]
    write = writer.write_face if stream == "face" else writer.write_input
    for record in records:
        write(record)
    writer._offer = offer  # type: ignore[method-assign]
    writer.close()
    path = folder / f"bare-{stream}.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            connection.execute(statement)
    width = len(FACE_COLUMNS) if stream == "face" else 7
    start = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany(f"INSERT INTO {stream} VALUES ({', '.join('?' * width)})", rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="input events to write")
    args = parser.parse_args()
    face_rows = max(args.rows // 10, 1000)
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        events, faces = make_events(args.rows), make_faces(face_rows)
        for stream, records, target in (("input", events, 50_000), ("face", faces, 5_000)):
            writer_rate = through_writer(folder, stream, records)
            bare_rate = bare_sqlite(folder, stream, records)
            verdict = "meets" if writer_rate >= target else "MISSES"
            print(f"{stream:5s}: {writer_rate:10,.0f} rows/s through the writer "
                  f"({len(records):,} rows; {verdict} target {target:,}); bare SQLite "
                  f"{bare_rate:10,.0f} rows/s; writer/bare ratio {writer_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
