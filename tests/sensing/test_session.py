"""The session store: round trips, concurrent reading, crash survival, refusals, file modes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from sensing.errors import (
    ConsentError,
    CorruptSessionError,
    FutureSchemaError,
    NotASessionError,
    SessionNotFoundError,
)
from sensing.records import (
    BLENDSHAPE_NAMES,
    CalibrationRecord,
    FaceFrame,
    InputEvent,
    Marker,
)
from sensing.session import Session, SessionWriter, list_sessions, open_session

ALL_STREAMS = {"camera": True, "landmarks": True, "keyboard": True, "mouse": True,
               "scroll": True, "markers": True}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _face(t_ns: int, seed: int = 0, landmarks: bool = False) -> FaceFrame:
    rng = np.random.default_rng(seed)
    return FaceFrame(
        t_ns=t_ns, face_count=1, present=True, confidence=0.9,
        blendshapes=rng.random(len(BLENDSHAPE_NAMES)).astype(np.float32),
        yaw_deg=10.5, pitch_deg=-3.0, roll_deg=1.25, translation_mm=(1.0, 2.0, 450.0),
        eye_features_norm=(0.4, 0.5, 0.6, 0.5), eye_openness=(0.8, 0.7), distance_mm=450.0,
        gaze_px=(100.0, 200.0), on_screen=True, gaze_calibrated=True,
        landmarks=rng.random((478, 3)).astype(np.float32) if landmarks else None,
    )


@pytest.fixture
def writer(data_dir: Path):
    session = SessionWriter.create(data_dir, participant="P01", consent=ALL_STREAMS,
                                   consent_text="You agree to take part.",
                                   host={"screen_px": [1920, 1080], "screen_mm": [344, 194]},
                                   camera={"width": 640, "height": 360})
    yield session
    session.close()


def test_face_rows_round_trip_with_every_column(writer: SessionWriter) -> None:
    frames = [_face(i * 33_333_333, seed=i, landmarks=True) for i in range(5)]
    frames.append(FaceFrame(t_ns=200_000_000))  # no face: NaN everywhere, unknown on_screen
    for frame in frames:
        assert writer.write_face(frame)
    writer.close()

    with open_session(writer.path) as session:
        face = session.face(include_landmarks=True)
    assert face["t_ns"].tolist() == [f.t_ns for f in frames]
    np.testing.assert_array_equal(face["blendshapes"][2], frames[2].blendshapes)
    np.testing.assert_array_equal(face["landmarks"][4], frames[4].landmarks)
    assert np.isnan(face["landmarks"][5]).all()
    assert face["yaw_deg"][0] == 10.5 and face["roll_deg"][0] == 1.25
    assert face["translation_mm"][0].tolist() == [1.0, 2.0, 450.0]
    assert face["eye_features_norm"][0].tolist() == [0.4, 0.5, 0.6, 0.5]
    assert face["present"].tolist() == [True] * 5 + [False]
    assert face["on_screen"][0] == 1.0 and np.isnan(face["on_screen"][5])
    assert np.isnan(face["gaze_px"][5]).all()


def test_input_markers_and_calibration_round_trip(writer: SessionWriter) -> None:
    events = [
        InputEvent(t_ns=10, kind="key_down", key_class="letter"),
        InputEvent(t_ns=20, kind="move", x_px=5.0, y_px=6.0),
        InputEvent(t_ns=30, kind="scroll", x_px=1.0, y_px=2.0, dx=0.0, dy=-3.0),
    ]
    for event in events:
        writer.write_input(event)
    writer.write_marker(Marker(t_ns=15, kind="content_shown",
                               payload={"content_id": "c1", "region_px": [0, 0, 10, 10]}))
    writer.write_calibration(CalibrationRecord(t_ns=40, kind="fit", model={"w": [1, 2]},
                                               report={"mean_error_px": 12.5}))
    writer.add_gap("face", 50, 90, "camera stopped delivering")
    writer.close()

    with open_session(writer.path) as session:
        read = session.input_events()
        assert read["kind"].tolist() == ["key_down", "move", "scroll"]
        assert read["key_class"].tolist() == ["letter", "", ""]
        assert read["dy"][2] == -3.0 and np.isnan(read["dy"][0])
        assert session.markers() == [Marker(t_ns=15, kind="content_shown", payload={
            "content_id": "c1", "region_px": [0, 0, 10, 10]})]
        assert session.calibrations()[0].report == {"mean_error_px": 12.5}
        assert session.gaps() == [{"stream": "face", "start_ns": 50, "end_ns": 90,
                                   "reason": "camera stopped delivering"}]
        batches = list(session.iter_rows("input", batch_size=2))
    assert [len(batch) for batch in batches] == [2, 1]
    assert batches[0][1] == events[1]


def test_metadata_consent_and_wall_clock_anchor(writer: SessionWriter) -> None:
    writer.update_consent("keyboard", False, text="withdrawn")
    writer.close()
    with open_session(writer.path) as session:
        facts = session.summary()
        anchor = session.clock_anchor
    assert facts["participant"] == "P01"
    assert facts["consent"]["keyboard"] is False and facts["consent"]["camera"] is True
    assert facts["consent"]["video"] is False
    assert facts["host"]["screen_mm"] == [344, 194]
    assert facts["status"] == "complete"
    assert anchor.wall_ns > 1_600_000_000 * 10**9


def test_rows_of_a_stream_without_consent_are_refused(data_dir: Path) -> None:
    with SessionWriter.create(data_dir, participant="P02", consent={"mouse": True}) as writer:
        with pytest.raises(ConsentError):
            writer.write_input(InputEvent(t_ns=1, kind="key_down", key_class="letter"))
        with pytest.raises(ConsentError):
            writer.write_face(_face(1))
        assert writer.write_input(InputEvent(t_ns=2, kind="move", x_px=1.0, y_px=1.0))


def test_landmarks_without_face_mesh_consent_are_not_stored(data_dir: Path) -> None:
    consent = dict(ALL_STREAMS, landmarks=False)
    with SessionWriter.create(data_dir, participant="P03", consent=consent) as writer:
        writer.write_face(_face(1, landmarks=True))
    with open_session(writer.path) as session:
        assert np.isnan(session.face(include_landmarks=True)["landmarks"]).all()


def test_a_reader_sees_committed_rows_while_the_writer_goes_on(writer: SessionWriter) -> None:
    seen: list[int] = []
    for batch in range(5):
        for i in range(200):
            writer.write_input(InputEvent(t_ns=batch * 1000 + i, kind="move", x_px=1, y_px=1))
        writer.flush()
        with Session.open(writer.path) as reader:
            seen.append(reader.row_count("input"))
    assert seen == [200, 400, 600, 800, 1000]


def test_concurrent_producers_on_many_threads_lose_nothing(writer: SessionWriter) -> None:
    def produce(offset: int) -> None:
        for i in range(5000):
            writer.write_input(InputEvent(t_ns=offset + i * 10, kind="move", x_px=1, y_px=2))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    stats = writer.stats()
    assert stats["input"] == {"received": 20000, "written": 20000, "dropped": 0}
    with Session.open(writer.path) as reader:
        assert reader.row_count("input") == 20000


def test_counts_stored_at_close_include_rows_still_queued(data_dir: Path) -> None:
    session = SessionWriter.create(data_dir, participant="P01", consent=ALL_STREAMS)
    for i in range(3000):
        session.write_input(InputEvent(t_ns=i * 10, kind="move", x_px=1, y_px=2))
    session.close()
    with Session.open(session.path) as reader:
        stored = reader.meta["stream_counts"]["input"]
        assert stored == {"received": 3000, "written": 3000, "dropped": 0}
        assert reader.row_count("input") == 3000


def test_a_full_buffer_drops_and_counts_instead_of_blocking(data_dir: Path) -> None:
    writer = SessionWriter.create(data_dir, participant="P04", consent=ALL_STREAMS,
                                  buffer_limit=10)
    accepted = [writer.write_input(InputEvent(t_ns=i, kind="move", x_px=0, y_px=0))
                for i in range(500)]
    writer.close()
    stats = writer.stats()["input"]
    assert stats["received"] == 500
    assert stats["dropped"] == accepted.count(False) > 0
    assert stats["written"] == accepted.count(True)


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from sensing.records import InputEvent
    from sensing.session import SessionWriter
    writer = SessionWriter.create(sys.argv[1], participant="crash", consent={"mouse": True})
    print(writer.path, flush=True)
    i = 0
    while True:
        t = writer.clock.now_ns()
        writer.write_input(InputEvent(t_ns=t, kind="move", x_px=float(i), y_px=0.0))
        i += 1
        if i % 500 == 0:
            print(t, flush=True)
        time.sleep(0.0005)
""")


def test_sigkill_mid_recording_leaves_a_file_that_opens_with_all_but_the_last_second(
        data_dir: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(data_dir)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    path = Path(child.stdout.readline().strip())
    last_offered_ns = 0
    while last_offered_ns < 2_000_000_000:
        last_offered_ns = int(child.stdout.readline())
    child.kill()
    child.wait()

    with open_session(path) as session:
        ok, verdict = session.verify()
        summary = session.stream_summary()["input"]
        status = session.status
    assert ok, verdict
    assert status == "recording"
    assert summary["rows"] > 1000
    assert summary["last_t_s"] >= last_offered_ns / 1e9 - 1.0


def test_open_refuses_a_file_that_is_not_a_session_and_leaves_it_alone(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.sqlite"
    text_file.write_text("hello")
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    for path in (text_file, foreign):
        before = _sha256(path)
        with pytest.raises(NotASessionError):
            Session.open(path)
        assert _sha256(path) == before


def test_open_refuses_a_newer_schema_without_changing_it(writer: SessionWriter,
                                                         tmp_path: Path) -> None:
    writer.close()
    future = tmp_path / "future.sqlite"
    shutil.copy(writer.path, future)
    with sqlite3.connect(future) as connection:
        connection.execute("PRAGMA user_version=99")
    connection.close()
    before = _sha256(future)
    with pytest.raises(FutureSchemaError, match="v99"):
        Session.open(future)
    assert _sha256(future) == before


def test_open_refuses_a_truncated_file(writer: SessionWriter, tmp_path: Path) -> None:
    for i in range(3000):
        writer.write_face(_face(i))
    writer.close()
    data = writer.path.read_bytes()
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptSessionError, match="truncated"):
        Session.open(cut)
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(CorruptSessionError):
        Session.open(empty)


def test_files_are_private(writer: SessionWriter) -> None:
    writer.close()
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(writer.path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(writer.path.parent.parent).st_mode) == 0o700


def test_sessions_are_found_by_id_prefix_and_listed(writer: SessionWriter, data_dir: Path) -> None:
    writer.close()
    assert list_sessions(data_dir) == [writer.path]
    with open_session(writer.session_id[:17], data_dir) as session:
        assert session.id == writer.session_id
    with pytest.raises(SessionNotFoundError):
        open_session("19990101T000000-abcdef", data_dir)


def test_verify_flags_rows_stored_out_of_time_order(writer: SessionWriter, tmp_path: Path) -> None:
    writer.write_input(InputEvent(t_ns=100, kind="move", x_px=0, y_px=0))
    writer.close()
    damaged = tmp_path / "backwards.sqlite"
    shutil.copy(writer.path, damaged)
    with sqlite3.connect(damaged) as connection:
        connection.execute("INSERT INTO input(t_ns, kind) VALUES (5, 'move')")
    connection.close()
    with Session.open(damaged) as session:
        ok, verdict = session.verify()
    assert not ok and "backwards" in verdict


def test_summary_is_json_serialisable(writer: SessionWriter) -> None:
    writer.write_marker(Marker(t_ns=1_500_000_000, kind="task_start"))
    writer.close()
    with open_session(writer.path) as session:
        facts = json.loads(json.dumps(session.summary()))
    assert facts["streams"]["markers"] == {"rows": 1, "first_t_s": 1.5, "last_t_s": 1.5}


def test_readers_return_rows_in_time_order_even_if_stored_out_of_order(
        writer: SessionWriter, tmp_path: Path) -> None:
    for t_ns in (100, 300):
        writer.write_input(InputEvent(t_ns=t_ns, kind="move", x_px=float(t_ns), y_px=0))
        writer.write_face(FaceFrame(t_ns=t_ns, face_count=1, present=True, yaw_deg=float(t_ns)))
    writer.close()
    shuffled = tmp_path / "shuffled.sqlite"
    shutil.copy(writer.path, shuffled)
    with sqlite3.connect(shuffled) as connection:
        connection.execute("INSERT INTO input(t_ns, kind, x_px, y_px) VALUES (200, 'move', 200, 0)")
        connection.execute("INSERT INTO face(t_ns, face_count, present, yaw_deg, gaze_calibrated)"
                           " VALUES (200, 1, 1, 200.0, 0)")
    connection.close()
    with Session.open(shuffled) as session:
        assert session.input_events()["x_px"].tolist() == [100.0, 200.0, 300.0]
        face = session.face()
    assert face["t_ns"].tolist() == [100, 200, 300]
    assert face["yaw_deg"].tolist() == [100.0, 200.0, 300.0]
    assert np.isnan(face["blendshapes"][1]).all()
