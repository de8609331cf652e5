"""Face features from real MediaPipe on the packaged videos."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sensing.face import (
    FaceAnalyzer,
    FacePipeline,
    eye_features,
    head_pose_from_matrix,
    stable_presence,
)
from sensing.frames import Frame, VideoFileSource
from sensing.gaze import face_arrays_from_frames
from sensing.models import ModelLoadError
from sensing.records import N_BLENDSHAPES, N_LANDMARKS, FaceFrame

# face_noface.mov: a person for 72 frames, then black and a cartoon title.
FACE_NOFACE_LAST_FACE = 71


def analyse(model, path, **options) -> list[FaceFrame]:
    with FaceAnalyzer(model, **options) as analyzer, VideoFileSource(path) as source:
        return [analyzer.analyze(frame) for frame in source]


@pytest.fixture(scope="module")
def single_face(face_model, media) -> dict[str, np.ndarray]:
    return face_arrays_from_frames(analyse(face_model, media("single_face.mp4")))


@pytest.fixture(scope="module")
def face_noface(face_model, media) -> np.ndarray:
    return np.array([f.present for f in analyse(face_model, media("face_noface.mov"))])


def test_a_face_is_found_in_every_frame_of_single_face(single_face):
    assert len(single_face["present"]) == 72
    assert single_face["present"].all()


def test_head_pose_is_in_range_and_changes_across_the_video(single_face):
    for column in ("yaw_deg", "pitch_deg", "roll_deg"):
        angles = single_face[column]
        assert np.all(np.abs(angles) < 30), column  # a person facing the camera
        assert np.ptp(angles) > 0.5, column
    depth_mm = -single_face["translation_mm"][:, 2]
    assert np.all((depth_mm > 150) & (depth_mm < 1000))


def test_blendshapes_are_scores_that_change_across_the_video(single_face):
    scores = single_face["blendshapes"]
    assert scores.shape == (72, N_BLENDSHAPES)
    assert np.all((scores >= 0) & (scores <= 1))
    smile = scores[:, 44:46].mean(axis=1)  # mouthSmileLeft, mouthSmileRight
    assert smile.max() > 0.5 and smile.min() < 0.1  # he smiles, then stops


def test_eye_features_are_normalised_and_eyes_open(single_face):
    eyes = single_face["eye_features_norm"]
    assert np.all((eyes >= 0) & (eyes <= 1))
    assert np.all(np.abs(np.median(eyes, axis=0) - 0.5) < 0.15)  # looking near the camera
    assert np.median(single_face["eye_openness"]) > 0.2


def test_iris_distance_agrees_with_the_head_pose_distance(single_face):
    # Both rest on MediaPipe's 63 degree camera; they are independent measurements.
    iris = single_face["distance_mm"]
    pose = -single_face["translation_mm"][:, 2]
    assert np.median(np.abs(iris - pose) / pose) < 0.25


def test_presence_switches_off_once_in_face_noface(face_noface):
    assert face_noface[: FACE_NOFACE_LAST_FACE + 1].all()
    stable = stable_presence(face_noface)
    assert np.flatnonzero(np.diff(stable.astype(int))).tolist() == [FACE_NOFACE_LAST_FACE]
    # Raw presence holds at most isolated single-frame false detections (a cartoon logo).
    tail = face_noface[FACE_NOFACE_LAST_FACE + 1:]
    assert tail.sum() <= 2 and not np.any(tail[1:] & tail[:-1])


def test_presence_switches_on_once_in_the_reversed_twin(face_model, media):
    with VideoFileSource(media("face_noface.mov")) as source:
        images = [frame.image for frame in source]
    period_ns = round(1e9 / source.fps)
    with FaceAnalyzer(face_model) as analyzer:
        present = np.array([
            analyzer.analyze(Frame(t_ns=k * period_ns, index=k, image=image)).present
            for k, image in enumerate(reversed(images))
        ])
    first_face = len(images) - 1 - FACE_NOFACE_LAST_FACE
    assert present[first_face:].all()
    assert np.flatnonzero(np.diff(stable_presence(present).astype(int))).tolist() == [
        first_face - 1]


def test_no_face_video_has_no_face_and_no_crash(face_model, media):
    frames = analyse(face_model, media("no_face.mp4"))
    assert len(frames) > 90
    assert not any(f.present for f in frames)
    assert all(f.face_count == 0 and np.isnan(f.yaw_deg) for f in frames)


def test_landmarks_are_kept_only_when_asked(face_model, media):
    with VideoFileSource(media("single_face.mp4")) as source:
        frame = source.read()
    with FaceAnalyzer(face_model) as plain, FaceAnalyzer(face_model, keep_landmarks=True) as kept:
        assert plain.analyze(frame).landmarks is None
        landmarks = kept.analyze(frame).landmarks
    assert landmarks.shape == (N_LANDMARKS, 3) and landmarks.dtype == np.float32
    assert np.all((landmarks[:, :2] > 0) & (landmarks[:, :2] < 1))


def test_a_restarted_source_and_a_second_stream_never_break_timestamps(face_model, media):
    video = media("single_face.mp4")
    with VideoFileSource(video) as first, VideoFileSource(video) as second:
        frames = [first.read() for _ in range(6)] + [second.read() for _ in range(6)]
    # Times run 0..5 frames, then from 0 again (a restart without a clock).
    with FaceAnalyzer(face_model) as analyzer:
        faces = [analyzer.analyze(frame) for frame in frames]
        adjustments = analyzer.stats.timestamp_adjustments
    assert all(face.present for face in faces)
    assert [face.t_ns for face in faces] == [frame.t_ns for frame in frames]
    assert adjustments == 1


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "face_landmarker.task"
    bogus.write_bytes(b"this is not a model bundle")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        FaceAnalyzer(bogus)


def test_the_pipeline_skips_and_counts_frames_when_the_analyzer_is_behind(face_model, media):
    with VideoFileSource(media("single_face.mp4")) as source:
        frames = [source.read() for _ in range(10)]
    busy, release = threading.Event(), threading.Event()
    delivered: list[FaceFrame] = []

    def slow_consumer(face: FaceFrame) -> None:
        delivered.append(face)
        busy.set()
        release.wait()

    with FaceAnalyzer(face_model) as analyzer:
        pipeline = FacePipeline(analyzer, slow_consumer, queue_size=1).start()
        pipeline.submit(frames[0])
        busy.wait()  # the pipeline thread holds frame 0; the queue has one slot
        kept = [pipeline.submit(frame) for frame in frames[1:]]
        release.set()
        stats = pipeline.stop()
    assert kept == [True] + [False] * 8
    assert stats.submitted == 10 and stats.skipped == 8 and stats.analysed == 2
    assert [face.t_ns for face in delivered] == [frames[0].t_ns, frames[9].t_ns]


def test_the_pipeline_without_dropping_analyses_every_frame(face_model, media):
    delivered: list[FaceFrame] = []
    with FaceAnalyzer(face_model) as analyzer, VideoFileSource(media("single_face.mp4")) as src:
        pipeline = FacePipeline(analyzer, delivered.append, drop_when_behind=False).start()
        read = pipeline.feed_from(src)
        stats = pipeline.stop()
    assert read == 72 and stats.analysed == 72 and stats.skipped == 0
    assert np.all(np.diff([face.t_ns for face in delivered]) > 0)


def test_head_pose_angles_follow_known_rotations():
    def rotation_y(deg: float) -> np.ndarray:
        r = np.radians(deg)
        return np.array([[np.cos(r), 0, np.sin(r)], [0, 1, 0], [-np.sin(r), 0, np.cos(r)]])

    def rotation_x(deg: float) -> np.ndarray:
        r = np.radians(deg)
        return np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])

    matrix = np.eye(4)
    matrix[:3, :3] = rotation_y(20) @ rotation_x(-10)
    matrix[:3, 3] = [1.0, 2.0, -50.0]
    pose = head_pose_from_matrix(matrix)
    assert pose.yaw_deg == pytest.approx(20)
    assert pose.pitch_deg == pytest.approx(10)  # Rx(-10) tilts the face's forward axis up
    assert pose.roll_deg == pytest.approx(0, abs=1e-9)
    assert pose.translation_mm == pytest.approx((10.0, 20.0, -500.0))


def test_an_iris_at_the_eye_centre_reads_half_way():
    points = np.zeros((N_LANDMARKS, 3), dtype=np.float32)
    for inner, outer, upper, lower, iris, ring, x0 in (
        (362, 263, 386, 374, 473, (474, 475, 476, 477), 100.0),
        (133, 33, 159, 145, 468, (469, 470, 471, 472), 0.0),
    ):
        points[inner, :2] = (x0, 50)
        points[outer, :2] = (x0 + 30 if x0 else -30, 50)
        points[upper, :2] = (x0 + (15 if x0 else -15), 45)
        points[lower, :2] = (x0 + (15 if x0 else -15), 55)
        points[iris, :2] = (x0 + (15 if x0 else -15), 50)
        centre = points[iris, :2]
        for index, offset in zip(ring, ((6, 0), (0, -6), (-6, 0), (0, 6)), strict=True):
            points[index, :2] = centre + offset
    positions, _, iris_px = eye_features(points)
    assert positions == pytest.approx((0.5, 0.5, 0.5, 0.5))
    assert iris_px == pytest.approx(12.0)
