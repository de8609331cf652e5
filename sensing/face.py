"""Camera frames to face features with MediaPipe's Face Landmarker (Tasks API, VIDEO mode).

:class:`FaceAnalyzer` turns one :class:`sensing.frames.Frame` into a
:class:`sensing.records.FaceFrame`: face count, presence, the 52 ARKit-style blendshapes,
head pose from the facial transformation matrix, iris position within each eye, eye openness
and a face-to-camera distance from the iris size. :class:`FacePipeline` runs an analyzer on a
thread of its own behind a small bounded queue, so the capture thread never waits for the
model; when the model falls behind, the oldest waiting frame is skipped and counted.

Geometry follows MediaPipe's face geometry module: the transformation matrix maps the
canonical face (centimetres, camera looking down -z, y up) into camera space under a
perspective camera with a 63 degree vertical field of view. The same assumption gives the
focal length used for the iris distance (Jariwala et al.'s MediaPipe Iris, 2020: the human
iris is 11.7 +/- 0.5 mm across, nearly constant between people), so both distance estimates
agree on an uncalibrated webcam; pass ``focal_length_px`` when the camera's is known.

Confidence: the Tasks API of mediapipe 1.2 reports neither the face detector's score nor the
landmarker's presence score. A face it returns has passed ``min_face_presence_confidence``,
so ``FaceFrame.confidence`` holds that threshold as a lower bound for a present face and 0.0
otherwise; it is a floor, not a measured score.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from sensing.errors import EngageError
from sensing.frames import Frame, FrameSource
from sensing.models import ModelLoadError
from sensing.records import BLENDSHAPE_NAMES, N_BLENDSHAPES, FaceFrame

log = logging.getLogger(__name__)

IRIS_DIAMETER_MM = 11.7
# MediaPipe face geometry's default perspective camera (vertical field of view, degrees).
GEOMETRY_VERTICAL_FOV_DEG = 63.0

# Face mesh indices (MediaPipe's canonical 478-point topology). "Left" is the participant's
# left eye, which appears on the right of an unmirrored camera image.
LEFT_EYE = {"outer": 263, "inner": 362, "upper": 386, "lower": 374,
            "lids": ((385, 380), (386, 374), (387, 373)), "iris": 473,
            "iris_ring": (474, 475, 476, 477)}
RIGHT_EYE = {"outer": 33, "inner": 133, "upper": 159, "lower": 145,
             "lids": ((160, 144), (159, 145), (158, 153)), "iris": 468,
             "iris_ring": (469, 470, 471, 472)}


def _eye_point_indices(eye: dict) -> np.ndarray:
    """inner, outer, upper, lower, iris centre, three lid pairs, four iris ring points."""
    lids = [index for pair in eye["lids"] for index in pair]
    return np.array([eye["inner"], eye["outer"], eye["upper"], eye["lower"], eye["iris"],
                     *lids, *eye["iris_ring"]])


_EYE_POINTS = {eye["iris"]: _eye_point_indices(eye) for eye in (LEFT_EYE, RIGHT_EYE)}
_USED_POINTS = np.unique(np.concatenate(list(_EYE_POINTS.values())))
# Left and right cheek contour points: the face's widest span on screen.
FACE_EDGES = (234, 454)


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees and translation of the face origin in millimetres.

    Signs, with the camera looking at the participant: ``yaw_deg`` > 0 when the face turns
    toward the image's right (the participant's left on an unmirrored camera), ``pitch_deg``
    > 0 when the face tilts up, ``roll_deg`` > 0 when the head tilts counter-clockwise as
    the camera sees it.
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    translation_mm: tuple[float, float, float]


def head_pose_from_matrix(matrix: np.ndarray) -> HeadPose:
    """Euler angles of ``matrix[:3, :3]`` taken as R = Ry(yaw) Rx(pitch) Rz(roll).

    The face's forward axis is R's third column, so yaw is its heading in the x-z plane and
    pitch its elevation; roll is the in-plane turn of the face's up axis. The translation is
    MediaPipe's (centimetres) converted to millimetres.
    """
    rotation = np.asarray(matrix, dtype=np.float64)[:3, :3]
    yaw = math.degrees(math.atan2(rotation[0, 2], rotation[2, 2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, rotation[1, 2]))))
    roll = math.degrees(math.atan2(rotation[1, 0], rotation[1, 1]))
    tx, ty, tz = (float(v) * 10.0 for v in np.asarray(matrix)[:3, 3])
    return HeadPose(yaw, pitch, roll, (tx, ty, tz))


def eye_features(points_px: np.ndarray) -> tuple[tuple[float, ...], tuple[float, float], float]:
    """Iris position, openness and iris diameter from one face's landmarks in pixels.

    ``points_px`` is ``[478, 3]`` with x and y in pixels (z unused). Per eye, the iris centre
    is projected on the axis from the inner to the outer corner (x: 0 inner, 1 outer) and on
    the perpendicular through the lids (y: 0 upper lid, 1 lower lid), then clipped to [0, 1].
    Openness is the eye aspect ratio of Soukupova and Cech (2016): mean lid gap over corner
    distance (about 0.25-0.35 open, under 0.1 closed). The iris diameter (pixels) is the
    larger of the ring's two spans per eye, as turning the head only shortens one of them,
    averaged over both eyes.
    Returns ``((left_x, left_y, right_x, right_y), (left_open, right_open), iris_px)``.
    """
    # Scalar arithmetic on the 19 points used per eye: for two eyes it is several times
    # faster than NumPy, whose per-call overhead dominates arrays this small.
    positions: list[float] = []
    openness: list[float] = []
    diameters: list[float] = []
    for eye in (LEFT_EYE, RIGHT_EYE):
        xy = points_px[_EYE_POINTS[eye["iris"]], :2].tolist()
        (ix, iy), (ox, oy), (ux, uy), (lx, ly), (cx, cy) = xy[:5]
        width = math.hypot(ox - ix, oy - iy)
        if width < 1e-6:
            positions += [math.nan, math.nan]
            openness.append(math.nan)
            diameters.append(math.nan)
            continue
        ex, ey = (ox - ix) / width, (oy - iy) / width
        nx, ny = (-ey, ex) if ex >= 0 else (ey, -ex)  # normal pointing down the image
        x = ((cx - ix) * ex + (cy - iy) * ey) / width
        upper = (ux - ix) * nx + (uy - iy) * ny
        lower = (lx - ix) * nx + (ly - iy) * ny
        span = lower - upper
        y = ((cx - ix) * nx + (cy - iy) * ny - upper) / span if span > 1e-6 else math.nan
        positions += [min(1.0, max(0.0, x)), min(1.0, max(0.0, y)) if y == y else math.nan]
        lids = xy[5:11]
        gaps = [math.hypot(lids[k][0] - lids[k + 1][0], lids[k][1] - lids[k + 1][1])
                for k in (0, 2, 4)]
        openness.append(sum(gaps) / 3.0 / width)
        r0, r1, r2, r3 = xy[11:15]
        diameters.append(max(math.hypot(r0[0] - r2[0], r0[1] - r2[1]),
                             math.hypot(r1[0] - r3[0], r1[1] - r3[1])))
    finite = [d for d in diameters if d == d]
    iris_px = sum(finite) / len(finite) if finite else math.nan
    return ((positions[0], positions[1], positions[2], positions[3]),
            (openness[0], openness[1]), iris_px)


def focal_length_for(height_px: int, vertical_fov_deg: float = GEOMETRY_VERTICAL_FOV_DEG) -> float:
    """Focal length in pixels of a pinhole camera with the given vertical field of view."""
    return (height_px / 2.0) / math.tan(math.radians(vertical_fov_deg) / 2.0)


@dataclass(frozen=True)
class AnalyzerStats:
    frames: int = 0
    frames_with_face: int = 0
    frames_with_bystander: int = 0
    timestamp_adjustments: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FaceAnalyzer:
    """One Face Landmarker in VIDEO mode for one stream, and the features of each frame.

    MediaPipe's VIDEO mode requires strictly increasing millisecond timestamps per
    landmarker. The analyzer passes ``t_ns // 1e6`` plus an offset that only grows: when a
    frame's time is not after the previous one (a restarted source, a second stream's frame,
    two frames within a millisecond) the offset rises just enough to make it 1 ms later, and
    the jump is counted in ``stats.timestamp_adjustments``. The ``FaceFrame`` keeps the
    frame's own ``t_ns``. Use one analyzer per stream; it is not thread-safe.

    With more than one face the largest (widest on screen) is described and ``face_count``
    says how many were seen (a bystander when above 1). Landmarks, which are biometric, are
    copied into the ``FaceFrame`` only when ``keep_landmarks`` is set.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        keep_landmarks: bool = False,
        num_faces: int = 2,
        min_presence: float = 0.5,
        min_detection: float = 0.5,
        min_tracking: float = 0.5,
        focal_length_px: float | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.keep_landmarks = keep_landmarks
        self.num_faces = num_faces
        self.min_presence = min_presence
        self.focal_length_px = focal_length_px
        if not self.model_path.is_file():
            raise ModelLoadError(f"face model {self.model_path} is not a file; pass --model PATH "
                                 "or run `engage models fetch`")
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=num_faces,
            min_face_detection_confidence=min_detection,
            min_face_presence_confidence=min_presence,
            min_tracking_confidence=min_tracking,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as error:
            raise ModelLoadError(f"face model {self.model_path} could not be loaded by MediaPipe "
                                 f"({error}); is it a face_landmarker.task bundle? Run "
                                 "`engage models fetch` for the official one") from error
        self._last_ms: int | None = None
        self._offset_ms = 0
        self._counts = {name: 0 for name in AnalyzerStats.__dataclass_fields__}
        self._closed = False

    @property
    def stats(self) -> AnalyzerStats:
        return AnalyzerStats(**self._counts)

    def _timestamp_ms(self, t_ns: int) -> int:
        stamp = t_ns // 1_000_000 + self._offset_ms
        if self._last_ms is not None and stamp <= self._last_ms:
            self._offset_ms += self._last_ms + 1 - stamp
            stamp = self._last_ms + 1
            self._counts["timestamp_adjustments"] += 1
        self._last_ms = stamp
        return stamp

    def detect(self, frame: Frame) -> vision.FaceLandmarkerResult:
        """The raw MediaPipe result for one frame (timestamps guarded as described)."""
        if self._closed:
            raise EngageError("face analyzer was closed; create a new one")
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        return self._landmarker.detect_for_video(image, self._timestamp_ms(frame.t_ns))

    def analyze(self, frame: Frame) -> FaceFrame:
        """Face features of one frame; a frame without a face gives ``present=False``."""
        result = self.detect(frame)
        height, width = frame.image.shape[:2]
        return self.features_from_result(result, t_ns=frame.t_ns, width=width, height=height)

    def features_from_result(
        self, result: vision.FaceLandmarkerResult, *, t_ns: int, width: int, height: int
    ) -> FaceFrame:
        """Turn a landmarker result into a ``FaceFrame`` (split out for reuse and tests)."""
        self._counts["frames"] += 1
        faces = result.face_landmarks
        if not faces:
            return FaceFrame(t_ns=t_ns, face_count=0, present=False, confidence=0.0)
        self._counts["frames_with_face"] += 1
        if len(faces) > 1:
            self._counts["frames_with_bystander"] += 1

        main = 0
        if len(faces) > 1:  # the widest face, by its cheek-to-cheek span, is the participant
            main = max(range(len(faces)),
                       key=lambda i: abs(faces[i][FACE_EDGES[1]].x - faces[i][FACE_EDGES[0]].x))
        scale = np.array([width, height, width], dtype=np.float32)
        # points_px is [478, 3]: x, y in pixels, z at the scale of x. Only the points the
        # features use are converted unless all are kept (a 478-object loop costs ~0.1 ms).
        chosen = faces[main]
        if self.keep_landmarks:
            points_px = np.array([(p.x, p.y, p.z) for p in chosen], dtype=np.float32) * scale
        else:
            points_px = np.zeros((len(chosen), 3), dtype=np.float32)
            points_px[_USED_POINTS] = np.array(
                [(chosen[i].x, chosen[i].y, chosen[i].z) for i in _USED_POINTS],
                dtype=np.float32) * scale

        blendshapes = np.full(N_BLENDSHAPES, np.nan, dtype=np.float32)
        if main < len(result.face_blendshapes):
            for category in result.face_blendshapes[main]:
                if 0 <= category.index < N_BLENDSHAPES:
                    blendshapes[category.index] = category.score

        if main < len(result.facial_transformation_matrixes):
            pose = head_pose_from_matrix(result.facial_transformation_matrixes[main])
        else:
            pose = HeadPose(math.nan, math.nan, math.nan, (math.nan,) * 3)

        positions, openness, iris_px = eye_features(points_px)
        focal = self.focal_length_px or focal_length_for(height)
        distance_mm = focal * IRIS_DIAMETER_MM / iris_px if iris_px > 1e-6 else math.nan

        landmarks = None
        if self.keep_landmarks:
            landmarks = (points_px / scale).astype(np.float32)  # [478, 3] normalised
        return FaceFrame(
            t_ns=t_ns,
            face_count=len(faces),
            present=True,
            confidence=float(self.min_presence),
            blendshapes=blendshapes,
            yaw_deg=pose.yaw_deg,
            pitch_deg=pose.pitch_deg,
            roll_deg=pose.roll_deg,
            translation_mm=pose.translation_mm,
            eye_features_norm=positions,  # type: ignore[arg-type]
            eye_openness=openness,
            distance_mm=float(distance_mm),
            landmarks=landmarks,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._landmarker.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def blendshape_dict(blendshapes: np.ndarray, *, digits: int = 4) -> dict[str, float | None]:
    """Blendshape scores by MediaPipe name (``None`` for NaN), for JSON output."""
    return {name: (round(float(v), digits) if v == v else None)
            for name, v in zip(BLENDSHAPE_NAMES, blendshapes, strict=True)}


def stable_presence(present: np.ndarray, *, min_run: int = 3) -> np.ndarray:
    """Presence with runs shorter than ``min_run`` frames flipped to their surroundings.

    A single-frame detection in an empty scene (a logo or a poster mistaken for a face) or a
    single-frame loss in a steady face is noise for attention measures. Short runs are
    removed in one pass (adequate for the few-frame runs meant here); the raw
    ``present`` column is what the session stores, this is for analysis. ``present`` is
    ``[N]`` bool; the result is a new ``[N]`` bool array.
    """
    flags = np.asarray(present, dtype=bool).copy()
    n = flags.size
    if n == 0 or min_run <= 1:
        return flags
    change = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    for start, end in zip(starts, ends, strict=True):
        # A run touching either end of the recording is kept: its true length is unknown.
        if end - start < min_run and start > 0 and end < n:
            flags[start:end] = not flags[start]
    return flags


@dataclass(frozen=True)
class PipelineStats:
    """Counters of a :class:`FacePipeline`: submitted = analysed + skipped + errors + waiting."""

    submitted: int = 0
    analysed: int = 0
    skipped: int = 0
    errors: int = 0
    queue_depth: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class FacePipeline:
    """An analyzer on its own thread, fed through a bounded queue by the capture thread.

    ``submit`` never blocks when ``drop_when_behind`` (live capture): if the queue is full the
    oldest waiting frame is dropped for the new one, since the freshest frame is worth most,
    and the drop is counted in ``stats.skipped``. With ``drop_when_behind=False`` (offline
    files) ``submit`` waits for room, so every frame is analysed. Each ``FaceFrame`` is
    passed to ``on_face`` on the pipeline thread; an exception from the analyzer or the
    callback is logged and counted, and the pipeline goes on. ``stop`` closes the analyzer
    (its landmarker holds native resources) unless ``close_analyzer`` is False.
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        on_face: Callable[[FaceFrame], None],
        *,
        queue_size: int = 1,
        drop_when_behind: bool = True,
        on_result: Callable[[Frame, FaceFrame], None] | None = None,
        close_analyzer: bool = True,
    ) -> None:
        self.analyzer = analyzer
        self.close_analyzer = close_analyzer
        self.on_face = on_face
        self.on_result = on_result
        self.drop_when_behind = drop_when_behind
        self._queue: deque[Frame] = deque()
        self._capacity = max(1, queue_size)
        self._cond = threading.Condition()
        self._counts = {"submitted": 0, "analysed": 0, "skipped": 0, "errors": 0}
        self._accepting = False
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> PipelineStats:
        with self._cond:
            return PipelineStats(**self._counts, queue_depth=len(self._queue))

    def start(self) -> FacePipeline:
        if self._thread is None:
            self._accepting = True
            self._thread = threading.Thread(target=self._run, name="face-pipeline", daemon=True)
            self._thread.start()
        return self

    def submit(self, frame: Frame) -> bool:
        """Queue a frame; ``False`` if it displaced a waiting frame or the pipeline stopped."""
        with self._cond:
            if not self._accepting:
                self._counts["submitted"] += 1
                self._counts["skipped"] += 1
                return False
            self._counts["submitted"] += 1
            kept = True
            if len(self._queue) >= self._capacity:
                if self.drop_when_behind:
                    self._queue.popleft()
                    self._counts["skipped"] += 1
                    kept = False
                else:
                    while len(self._queue) >= self._capacity and self._accepting:
                        self._cond.wait()
            self._queue.append(frame)
            self._cond.notify_all()
            return kept

    def feed_from(self, source: FrameSource, *, stop: threading.Event | None = None) -> int:
        """Read ``source`` on the calling thread into the pipeline until it ends or ``stop``.

        Returns the number of frames read. The caller owns ``source`` (opens and closes it).
        """
        count = 0
        while stop is None or not stop.is_set():
            frame = source.read()
            if frame is None:
                break
            count += 1
            self.submit(frame)
        return count

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and self._accepting:
                    self._cond.wait()
                if not self._queue:
                    return
                frame = self._queue.popleft()
                self._cond.notify_all()
            try:
                face = self.analyzer.analyze(frame)
                self.on_face(face)
                if self.on_result is not None:
                    self.on_result(frame, face)
            except Exception:  # one bad frame must not end the stream; it is counted
                log.exception("face analysis failed on frame %d", frame.index)
                with self._cond:
                    self._counts["errors"] += 1
                continue
            with self._cond:
                self._counts["analysed"] += 1
                self._cond.notify_all()

    def stop(self, *, drain: bool = True, timeout_s: float | None = None) -> PipelineStats:
        """Stop accepting frames; analyse what is queued if ``drain``, else count it skipped."""
        with self._cond:
            self._accepting = False
            if not drain:
                self._counts["skipped"] += len(self._queue)
                self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("face pipeline did not finish within %s s", timeout_s)
                return self.stats
            self._thread = None
        if self.close_analyzer:
            self.analyzer.close()
        return self.stats

    def __enter__(self) -> FacePipeline:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
