"""Recorder under load: a 30 fps video source plus 2,000 injected input events per second.

Runs the real :class:`sensing.recorder.Recorder` (video source paced at its 30 fps, the face
pipeline with MediaPipe, the session writer) while a generator thread injects key presses and
releases, button presses and releases and scroll steps through the same callbacks pynput's
listener threads call, at ``--rate`` events per second for ``--seconds``. Pointer moves are
not injected: thinning merges them by design, so they cannot be counted as lost or kept.

Prints frames and events received, written and dropped, and CPU time per role, measured per
thread (psutil's per-thread user+system times, mapped to Python thread names):

- recorder: capture, session writer, housekeeping threads, plus the CPU the injected
  callbacks spent stamping and offering events (``time.thread_time`` around each batch in
  the generator, as a pynput listener thread would spend it);
- vision (excluded from the recorder's share): the face-pipeline thread (MediaPipe and the
  feature extraction) and every native thread Python did not create (MediaPipe's and the
  video decoder's workers).

The baseline in the same run is the vision CPU: the recorder's cost is also printed as a
ratio to it. Target: zero input events lost and under 1 % of frames dropped.

Usage: python benchmarks/record_load.py [--seconds 60] [--rate 2000] [--video PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensing.face import FaceAnalyzer, FacePipeline  # noqa: E402
from sensing.frames import Frame, VideoFileSource  # noqa: E402
from sensing.recorder import Recorder, RecorderOptions  # noqa: E402
from sensing.session import SessionWriter, open_session  # noqa: E402


class _Key:
    def __init__(self, char: str) -> None:
        self.char = char


class _Button:
    name = "left"


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) of every native thread of this process, by thread id."""
    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}


def inject(recorder: Recorder, rate: int, seconds: float, counts: dict[str, float]) -> None:
    """Call the listener callbacks at ``rate`` events per second, in 10 ms batches."""
    capture = recorder.input
    batch = max(1, rate // 100)
    key = _Key("e")
    button = _Button()
    thread_start = time.thread_time()
    start = time.monotonic()
    step = 0
    injected = 0
    callback_cpu = 0.0
    while True:
        due = start + step * 0.01
        if due - start >= seconds:
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        before = time.thread_time()
        for i in range(batch):
            slot = (injected + i) % 10
            if slot < 6:
                (capture.on_press if slot % 2 == 0 else capture.on_release)(key)
            elif slot < 8:
                capture.on_click(640.0, 360.0, button, slot == 6)
            else:
                capture.on_scroll(640.0, 360.0, 0, -1 if slot == 8 else 1)
        callback_cpu += time.thread_time() - before
        injected += batch
        step += 1
    counts["injected"] = injected
    counts["callback_cpu_s"] = callback_cpu
    counts["thread_cpu_s"] = time.thread_time() - thread_start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=2000, help="input events per second")
    parser.add_argument("--video", default=None, help="video file (default: single_face.mp4)")
    parser.add_argument("--model", default=None, help="face_landmarker.task")
    args = parser.parse_args()

    from tests.media import media_path

    video = Path(args.video) if args.video else media_path("single_face.mp4")
    model = Path(args.model) if args.model else media_path("face_landmarker.task")
    os.environ.pop("DISPLAY", None)  # events come from the generator, not from pynput

    with tempfile.TemporaryDirectory() as folder:
        writer = SessionWriter.create(Path(folder), participant="bench", consent={
            "camera": True, "keyboard": True, "mouse": True, "scroll": True})
        source = VideoFileSource(video, clock=writer.clock, realtime=True, loop=True)

        def make_pipeline(on_face):
            analyzer = FaceAnalyzer(model)
            analyzer.detect(Frame(t_ns=0, index=-1, image=np.zeros((360, 640, 3), np.uint8)))
            return FacePipeline(analyzer, on_face, queue_size=30)

        recorder = Recorder(writer, frame_source=source, make_face_pipeline=make_pipeline,
                            options=RecorderOptions(marker_port=None))
        recorder.start()
        python_threads_at_start = {t.native_id for t in threading.enumerate()}
        cpu_before = thread_cpu_s()
        wall_start = time.monotonic()
        counts: dict[str, float] = {}
        generator = threading.Thread(target=inject, name="load-generator",
                                     args=(recorder, args.rate, args.seconds, counts))
        generator.start()
        generator.join()
        wall_s = time.monotonic() - wall_start
        cpu_after = thread_cpu_s()
        names = {t.native_id: t.name for t in threading.enumerate()}
        status = recorder.stop()
        writer.close()
        store = writer.stats()
        with open_session(writer.path) as session:
            rows = {stream: facts["rows"] for stream, facts in session.stream_summary().items()}
            verdict = session.verify()[1]

    cpu = {tid: cpu_after.get(tid, 0.0) - cpu_before.get(tid, 0.0) for tid in cpu_after}
    roles = {"recorder": 0.0, "vision": 0.0, "generator": 0.0, "main": 0.0}
    for tid, seconds in cpu.items():
        name = names.get(tid)
        if name is None and tid not in python_threads_at_start:
            roles["vision"] += seconds  # native threads: MediaPipe and decoder workers
        elif name is None:
            roles["recorder"] += seconds
        elif name == "face-pipeline":
            roles["vision"] += seconds
        elif name == "load-generator":
            roles["generator"] += seconds
        elif name == "MainThread":
            roles["main"] += seconds
        else:
            roles["recorder"] += seconds
    recorder_cpu = roles["recorder"] + counts["callback_cpu_s"]
    generator_own = counts["thread_cpu_s"] - counts["callback_cpu_s"]  # it ended: not in psutil

    frames = status["frames"]
    source_stats, pipeline = frames["source"], frames["pipeline"]
    due = source_stats["frames_read"] + source_stats["frames_skipped"]
    frames_dropped = (source_stats["frames_skipped"] + pipeline["skipped"]
                      + store["face"]["dropped"])
    input_counts = status["input"]["counts"]
    received = sum(c["received"] for c in input_counts.values())
    sunk = sum(c["sunk"] for c in input_counts.values())
    dropped = sum(c["dropped"] for c in input_counts.values())
    events_written = store["input"]["written"]
    events_store_dropped = store["input"]["dropped"]

    print(f"record_load: {wall_s:.1f} s, video {video.name} at {source.fps:.0f} fps (looped), "
          f"input at {args.rate}/s, {psutil.cpu_count()} CPUs")
    print(f"frames: due {due}, read {source_stats['frames_read']}, skipped by source "
          f"{source_stats['frames_skipped']}, analysed {pipeline['analysed']}, skipped by "
          f"analysis {pipeline['skipped']}, written {store['face']['written']}, "
          f"dropped by store {store['face']['dropped']}; dropped "
          f"{frames_dropped} = {100.0 * frames_dropped / max(due, 1):.3f} % (target < 1 %)")
    lost = int(counts["injected"]) - events_written
    print(f"input events: injected {int(counts['injected'])}, received {received}, offered "
          f"{sunk}, written {events_written}, dropped {dropped + events_store_dropped}, "
          f"lost {lost} (target 0)")
    print(f"session rows: {rows}; {verdict}")
    print(f"CPU seconds over {wall_s:.1f} s wall: recorder {recorder_cpu:.2f} "
          f"(threads {roles['recorder']:.2f} + injected callbacks "
          f"{counts['callback_cpu_s']:.2f}), vision (excluded) {roles['vision']:.2f}, "
          f"generator loop {generator_own:.2f}, main {roles['main']:.2f}")
    print(f"recorder CPU share: {100.0 * recorder_cpu / wall_s:.2f} % of one core "
          f"({100.0 * recorder_cpu / wall_s / psutil.cpu_count():.2f} % of the machine); "
          "ratio to vision CPU (baseline, same run): "
          f"{recorder_cpu / max(roles['vision'], 1e-9):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
