"""Vision pipeline speed against bare MediaPipe, and frame drops under live 30 fps capture.

Part 1 runs, in one process and over the same video, a bare ``detect_for_video`` loop
(decode, BGR to RGB, detect) and Engage's whole per-frame pipeline (frame source with
timestamps, FaceAnalyzer features, expression summaries, blink detection, uncalibrated
attention and One Euro smoothing), each with its own landmarker and decoder. They take
turns frame by frame and each turn is timed, so both meet the same load on a shared
machine; rates are medians over rounds. Target: pipeline / bare >= 0.95. The deployed
arrangement (capture thread feeding the FacePipeline thread) is timed once for reference.

Part 2 paces the video in real time at its own rate (a stand-in for a 30 fps webcam) into
the FacePipeline with its one-slot queue and reports the share of frames dropped, counting
both frames the source skipped because the reader was late and frames the pipeline skipped
because the analyzer was busy. Target: under 1 %.

Usage: python benchmarks/sense_throughput.py [--video PATH] [--model PATH] [--passes N]
[--rounds N] [--live-seconds S]
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from sensing.clock import SessionClock
from sensing.expression import BlinkDetector, expression_matrix, eye_closure
from sensing.face import FaceAnalyzer, FacePipeline
from sensing.frames import VideoFileSource
from sensing.gaze import GazeTracker
from sensing.models import resolve_face_model
from sensing.records import FaceFrame


def default_media(name: str) -> Path:
    # The packaged, hash-checked test media; the repository root holds the tests package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.media import media_path

    return media_path(name)


class PerFrameWork:
    """Everything Engage does with a frame after the landmarker, as the recorder would."""

    def __init__(self) -> None:
        self.tracker = GazeTracker()
        self.blinks = BlinkDetector()
        self.frames = 0

    def __call__(self, face: FaceFrame) -> None:
        annotated, _ = self.tracker.update(face)
        expression_matrix(annotated.blendshapes)
        closure = eye_closure(annotated.blendshapes) if annotated.present else math.nan
        self.blinks.update(annotated.t_ns, float(closure))
        self.frames += 1


def interleaved(video: Path, model: Path, passes: int) -> tuple[int, float, float]:
    """Bare loop and pipeline taking turns frame by frame, so both see the same machine load.

    Each has its own landmarker and its own decoder; the order within a pair alternates.
    Returns frames and the seconds spent in each.
    """
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO, num_faces=2,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    work = PerFrameWork()
    bare_s = pipeline_s = 0.0
    frames = 0
    source = VideoFileSource(video, clock=SessionClock())
    with vision.FaceLandmarker.create_from_options(options) as landmarker, \
            FaceAnalyzer(model) as analyzer:
        for _ in range(passes):
            capture = cv2.VideoCapture(str(video))
            fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
            with source:
                while True:
                    steps = []
                    for turn in ((0, 1) if frames % 2 == 0 else (1, 0)):
                        started = time.perf_counter()
                        if turn == 0:
                            ok, image = capture.read()
                            if ok:
                                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                                landmarker.detect_for_video(
                                    mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb),
                                    int(frames * 1000 / fps))
                        else:
                            frame = source.read()
                            ok = frame is not None
                            if ok:
                                work(analyzer.analyze(frame))
                        steps.append((turn, ok, time.perf_counter() - started))
                    if not all(ok for _, ok, _ in steps):
                        break
                    for turn, _, seconds in steps:
                        if turn == 0:
                            bare_s += seconds
                        else:
                            pipeline_s += seconds
                    frames += 1
            capture.release()
    return frames, bare_s, pipeline_s


def pipeline_threaded(video: Path, model: Path, passes: int) -> tuple[int, float]:
    work = PerFrameWork()
    with FaceAnalyzer(model) as analyzer:
        pipeline = FacePipeline(analyzer, work, drop_when_behind=False, queue_size=2)
        started = time.perf_counter()
        pipeline.start()
        source = VideoFileSource(video, clock=SessionClock())
        for _ in range(passes):
            with source:
                pipeline.feed_from(source)
        stats = pipeline.stop()
        elapsed = time.perf_counter() - started
    assert stats.skipped == 0 and stats.errors == 0
    return work.frames, elapsed


def feature_cost_ms(video: Path, model: Path, repeats: int = 300) -> float:
    """Milliseconds per frame of Engage's own work on one landmarker result (no inference)."""
    work = PerFrameWork()
    with FaceAnalyzer(model) as analyzer, VideoFileSource(video) as source:
        frame = source.read()
        result = analyzer.detect(frame)
        height, width = frame.image.shape[:2]
        started = time.perf_counter()
        for k in range(repeats):
            work(analyzer.features_from_result(result, t_ns=k * 33_333_333, width=width,
                                               height=height))
        return (time.perf_counter() - started) * 1e3 / repeats


def live_capture(video: Path, model: Path, seconds: float) -> dict[str, float]:
    """Real-time paced capture into the dropping pipeline for ``seconds``."""
    work = PerFrameWork()
    clock = SessionClock()
    stop = threading.Event()
    source = VideoFileSource(video, clock=clock, realtime=True, loop=True)
    with FaceAnalyzer(model) as analyzer, source:
        pipeline = FacePipeline(analyzer, work, queue_size=1).start()
        capture = threading.Thread(target=pipeline.feed_from, args=(source,),
                                   kwargs={"stop": stop}, name="capture")
        capture.start()
        stop.wait(seconds)
        stop.set()
        source.interrupt()
        capture.join()
        stats = pipeline.stop()
    source_stats = source.stats
    due = source_stats.frames_read + source_stats.frames_skipped
    dropped = source_stats.frames_skipped + stats.skipped
    return {
        "fps": source.fps, "due": due, "read": source_stats.frames_read,
        "source_skipped": source_stats.frames_skipped, "pipeline_skipped": stats.skipped,
        "analysed": stats.analysed, "dropped_pct": 100.0 * dropped / max(due, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=None,
                        help="video to use (default: the packaged single_face.mp4, 640x360)")
    parser.add_argument("--model", type=Path, default=None, help="face_landmarker.task")
    parser.add_argument("--passes", type=int, default=5, help="times through the video per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs")
    parser.add_argument("--live-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    video = args.video or default_media("single_face.mp4")
    try:
        model = resolve_face_model(args.model)
    except Exception:  # fall back to the packaged test copy of the official bundle
        model = default_media("face_landmarker.task")
    capture = cv2.VideoCapture(str(video))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    size = f"{width}x{int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
    capture.release()

    bare_rates, pipeline_rates = [], []
    for round_index in range(args.rounds):
        frames, bare_s, pipeline_s = interleaved(video, model, args.passes)
        bare_rates.append(frames / bare_s)
        pipeline_rates.append(frames / pipeline_s)
        sys.stdout.write(f"round {round_index + 1}: {frames} frames, bare "
                         f"{bare_rates[-1]:.1f} frames/s, pipeline {pipeline_rates[-1]:.1f} "
                         f"frames/s, ratio {pipeline_rates[-1] / bare_rates[-1]:.3f}\n")
    bare_rate, pipeline_rate = float(np.median(bare_rates)), float(np.median(pipeline_rates))
    threaded_frames, threaded_s = pipeline_threaded(video, model, args.passes)
    sys.stdout.write(f"\nvideo {video.name} ({size}), {args.passes} passes per round, "
                     f"median of {args.rounds} interleaved rounds\n")
    sys.stdout.write(f"bare MediaPipe detect_for_video loop: {bare_rate:.1f} frames/s\n")
    sys.stdout.write(f"Engage whole per-frame pipeline:      {pipeline_rate:.1f} frames/s\n")
    sys.stdout.write(f"ratio pipeline / bare: {pipeline_rate / bare_rate:.3f} "
                     f"(target >= 0.95)\n")
    sys.stdout.write(f"as deployed (capture thread + analysis thread, not interleaved): "
                     f"{threaded_frames / threaded_s:.1f} frames/s\n")
    sys.stdout.write(f"Engage's own per-frame work after the landmarker: "
                     f"{feature_cost_ms(video, model):.3f} ms/frame\n")

    live = live_capture(video, model, args.live_seconds)
    sys.stdout.write(
        f"\nlive capture at {live['fps']:.0f} fps for {args.live_seconds:g} s: "
        f"{live['due']} frames due, {live['read']} read, {live['analysed']} analysed, "
        f"skipped by source {live['source_skipped']}, by pipeline {live['pipeline_skipped']}: "
        f"dropped {live['dropped_pct']:.2f} % (target < 1 %)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
