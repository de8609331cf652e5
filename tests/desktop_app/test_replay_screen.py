"""Replay screen: a real session read through the replay iterator, on one timeline."""

from __future__ import annotations

import numpy as np

from desktop_app.screens.replay import (
    MARKER_LABEL_ROWS,
    MARKER_LABEL_WIDTH,
    ReplayScreen,
    load_replay,
    place_marker_labels,
)
from tests.desktop_app.sessions_fixture import write_session


def test_loader_reads_every_row_of_every_stream(data_dir):
    path = write_session(data_dir, seconds=2.0)
    data = load_replay(str(path))
    assert len(data["face_t_s"]) == 60
    assert len(data["input_t_s"]) == 20 + 20
    assert [kind for _, kind, _ in data["markers"]][:2] == ["task_start", "content_shown"]
    assert np.all(np.diff(data["face_t_s"]) > 0)


def test_loaded_session_sets_the_timeline_to_its_duration(qtbot, data_dir):
    path = write_session(data_dir, seconds=2.0)
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.loaded, timeout=20_000):
        screen.load(str(path))
    assert abs(screen.duration_s - 59 / 30) < 0.05
    assert screen.slider.maximum() == int(screen.duration_s * 1000)


def test_seeking_draws_the_last_two_seconds_of_gaze_and_the_content_region(qtbot, data_dir):
    path = write_session(data_dir, seconds=4.0)
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.loaded, timeout=20_000):
        screen.load(str(path))
    screen.seek(3.0)
    assert 58 <= screen.gaze_samples_shown() <= 61
    assert screen.current_region() == {"x": 100, "y": 100, "w": 600, "h": 400}
    assert screen.time_label.text().startswith("3.0 /")


def test_play_advances_the_cursor_and_stops_at_the_end(qtbot, data_dir):
    path = write_session(data_dir, seconds=1.0)
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.loaded, timeout=20_000):
        screen.load(str(path))
    screen.speed_box.setCurrentIndex(screen.speed_box.count() - 1)   # 8x
    screen.play()
    qtbot.waitUntil(lambda: not screen.playing, timeout=5_000)
    assert screen.t_s == screen.duration_s
    assert screen.cursors[0].value() == screen.duration_s


def test_a_session_that_cannot_be_read_is_a_message(qtbot, data_dir, tmp_path):
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_bytes(b"not a database")
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.error, timeout=10_000) as blocker:
        screen.load(str(bogus))
    assert "bogus" in blocker.args[0] and screen.info_label.text() == blocker.args[0]


def test_loaded_reward_model_adds_the_learned_reward_per_step(qtbot, data_dir, tmp_path):
    from fusion.fuse import fuse_session
    from irl.train import train

    path = write_session(data_dir, seconds=16.0)
    dataset = fuse_session(str(path))
    train(dataset, algo="bc", epochs=2, progress=False).save(tmp_path / "model")
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    screen.set_model(str(tmp_path / "model"))
    with qtbot.waitSignal(screen.loaded, timeout=60_000):
        screen.load(str(path))
    assert screen.data["reward"] is not None
    assert screen.data["reward"].shape == (len(dataset),)
    assert screen.data["reward_error"] == ""


def test_kept_video_is_shown_beside_the_panels(qtbot, data_dir, media):
    import shutil

    from sensing.recorder import video_path_for, video_times_path_for

    path = write_session(data_dir, seconds=2.0)
    shutil.copy(media("single_face.mp4"), video_path_for(path))
    np.arange(0, 72 * 33_333_333, 33_333_333, dtype="<i8").tofile(video_times_path_for(path))
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    screen.show()
    with qtbot.waitSignal(screen.loaded, timeout=20_000):
        screen.load(str(path))
    screen.seek(1.0)
    qtbot.waitUntil(lambda: screen._video_index == 30, timeout=10_000)
    assert not screen.video_label.pixmap().isNull()


def test_markers_in_a_burst_get_labels_on_different_rows():
    # query_submitted, content_hidden and content_shown within 2 microseconds, in a 60 s view
    rows = place_marker_labels([10.0, 10.000001, 10.000002, 30.0], span_s=60.0)
    assert rows[:3] == [0, 1, 2] and rows[3] == 0


def test_markers_beyond_the_label_rows_become_ticks():
    times = [1.0 + k * 1e-3 for k in range(len(MARKER_LABEL_ROWS) + 3)]
    rows = place_marker_labels(times, span_s=100.0)
    assert rows[: len(MARKER_LABEL_ROWS)] == list(range(len(MARKER_LABEL_ROWS)))
    assert rows[len(MARKER_LABEL_ROWS):] == [None, None, None]


def test_a_session_with_thousands_of_markers_draws_few_labelled_lines(qtbot, data_dir):
    import pyqtgraph as pg

    path = write_session(data_dir, seconds=4.0, notes=2000)
    screen = ReplayScreen(data_dir)
    qtbot.addWidget(screen)
    with qtbot.waitSignal(screen.loaded, timeout=30_000):
        screen.load(str(path))
    items = screen.input_plot.items
    lines = [item for item in items
             if isinstance(item, pg.InfiniteLine) and item is not screen.cursors[1]]
    assert len(lines) <= len(MARKER_LABEL_ROWS) / MARKER_LABEL_WIDTH + 1
    assert len(lines) + screen.marker_ticks == len(screen.data["markers"])
