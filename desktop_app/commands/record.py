"""``engage record``: record a session headless; ``engage resense``: re-run vision on its video.

``record`` asks for consent per stream on the terminal unless ``--consent`` lists the granted
streams, and opens nothing (camera, listeners, endpoint, file) before consent is given. It
prints the session id, its path and the marker endpoint address when it starts, and a summary
of what was received, written and dropped when it ends. Where pynput cannot listen, the one
warning on stderr says why and the other streams go on. SIGINT and SIGTERM stop it cleanly.
After SIGKILL the session file still opens and misses at most about the last second: the
writer commits every 0.1 s, and up to a second of frames may be waiting for the face model.
A kept video (``<id>.mkv``, Matroska) reads after SIGKILL up to its last written cluster, and
its frame times (``<id>.video_t_ns``) up to the last 30 frames; ``resense`` pairs the two by
frame index and stops where either ends.

``resense SESSION`` needs a session recorded with ``--keep-video``. It never changes the
original: it writes a new session (same participant, consent and clock anchor, meta
``resensed_from``) whose face rows come from running the current face model over the kept
video, each frame at its original capture time, and whose input, markers, calibrations and
gaps are copied from the original, so fusion can use it in place of the original.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sensing import __version__
from sensing.clock import SessionClock
from sensing.errors import ConsentError, EngageError, MediaError
from sensing.records import CONSENT_STREAMS

log = logging.getLogger(__name__)

# Frames waiting for the face model: about one second at 30 fps (20 MB at 640x360). Stored
# times are capture times, so waiting costs no accuracy; only a longer stall drops frames.
FACE_QUEUE_FRAMES = 30

ASKED_STREAMS: dict[str, str] = {
    "camera": "face features from the webcam (head pose, eyes, expression; no images kept)",
    "keyboard": "key press timing and class (letter, digit, ...; never which key)",
    "mouse": "pointer movement and button presses",
    "scroll": "scroll wheel steps",
    "markers": "study task markers (content shown, queries' length, ratings)",
    "video": "the raw camera video, kept next to the session so it can be re-analysed",
    "landmarks": "the 478-point face mesh (biometric)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("record", help="record a session (camera, input, markers)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, metavar="N", default=None,
                        help="webcam device index (default 0 when the camera is consented)")
    source.add_argument("--video", metavar="PATH", default=None,
                        help="a video file standing in for the camera")
    parser.add_argument("--duration", type=float, metavar="S", default=None,
                        help="stop after S seconds (default: Ctrl+C, or the video's end)")
    parser.add_argument("--fast", action="store_true",
                        help="read --video as fast as it decodes (face times follow the video)")
    parser.add_argument("--loop", action="store_true", help="loop --video until stopped")
    parser.add_argument("--participant", default="anonymous", metavar="ID",
                        help="participant id stored in the session (a code, not a name)")
    parser.add_argument("--consent", metavar="STREAMS", default=None,
                        help="comma-separated streams the participant agreed to, e.g. "
                             "camera,keyboard,mouse,scroll,markers (or 'none'); without it, "
                             "ask on the terminal")
    parser.add_argument("--keep-video", action="store_true",
                        help="also keep the raw video as <id>.mkv (opt-in; enables resense)")
    parser.add_argument("--landmarks", action="store_true",
                        help="also store the 478-point face mesh (opt-in, biometric)")
    parser.add_argument("--marker-port", type=int, default=0, metavar="P",
                        help="port of the 127.0.0.1 marker endpoint (0: any free port, "
                             "-1: no endpoint)")
    parser.add_argument("--pause-hotkey", default="<ctrl>+<alt>+p", metavar="KEYS",
                        help="global hotkey toggling the privacy pause ('' for none); "
                             "watched even without keyboard consent, storing no key")
    parser.add_argument("--model", default=None, metavar="PATH", help="face_landmarker.task")
    parser.add_argument("--lsl-markers", default=None, metavar="NAME",
                        help="also read markers from this LSL stream (opt-in, uses the LAN)")
    parser.add_argument("--lsl-features", action="store_true",
                        help="publish face features as an LSL stream (opt-in, uses the LAN)")
    parser.set_defaults(handler=record_command)

    resense = subparsers.add_parser("resense",
                                    help="re-run face sensing on a session's kept video")
    resense.add_argument("session", metavar="SESSION", help="session id or path")
    resense.add_argument("--model", default=None, metavar="PATH", help="face_landmarker.task")
    resense.set_defaults(handler=resense_command)


# -- consent -----------------------------------------------------------------------------------


def parse_consent(text: str) -> dict[str, bool]:
    """``camera,keyboard`` -> {stream: granted}; unknown names are an error."""
    names = [] if text.strip().lower() in ("", "none") else [
        name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(CONSENT_STREAMS))
    if unknown:
        raise ConsentError(f"unknown consent stream(s) {', '.join(unknown)} in --consent; "
                           f"choose from {', '.join(CONSENT_STREAMS)}")
    return {stream: stream in names for stream in CONSENT_STREAMS}


def ask_consent(streams: list[str]) -> dict[str, bool]:
    """Ask on the terminal, one stream at a time; nothing is opened before the answers."""
    sys.stdout.write("Engage records only what you agree to. Answer y or n for each stream.\n")
    granted = {stream: False for stream in CONSENT_STREAMS}
    for stream in streams:
        while True:
            sys.stdout.write(f"  record {stream}: {ASKED_STREAMS[stream]}? [y/n] ")
            sys.stdout.flush()
            answer = sys.stdin.readline()
            if not answer:
                raise ConsentError("no answer to the consent questions (end of input); "
                                   "nothing was recorded; pass --consent to record unattended")
            answer = answer.strip().lower()
            if answer in ("y", "yes", "n", "no"):
                granted[stream] = answer.startswith("y")
                break
            sys.stdout.write("    please answer y or n\n")
    return granted


# -- record ------------------------------------------------------------------------------------


def _host() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "engage": __version__}


def _resolve_consent(args: argparse.Namespace) -> tuple[dict[str, bool], str]:
    if args.consent is not None:
        consent = parse_consent(args.consent)
        consent["video"] = consent["video"] or bool(args.keep_video and consent["camera"])
        consent["landmarks"] = consent["landmarks"] or bool(args.landmarks and consent["camera"])
        return consent, f"--consent {args.consent}"
    asked = ["camera", "keyboard", "mouse", "scroll", "markers"]
    if args.keep_video:
        asked.append("video")
    if args.landmarks:
        asked.append("landmarks")
    consent = ask_consent(asked)
    text = "; ".join(f"{stream}: {ASKED_STREAMS[stream]}" for stream in asked)
    return consent, f"asked on the terminal: {text}"


def record_command(args: argparse.Namespace) -> int:
    from sensing.face import FaceAnalyzer, FacePipeline
    from sensing.frames import CameraSource, Frame, FrameSource, VideoFileSource
    from sensing.models import resolve_face_model
    from sensing.recorder import Recorder, RecorderOptions
    from sensing.session import SessionWriter

    if args.fast and args.video is None:
        raise EngageError("--fast reads a --video file as fast as it decodes; a camera runs "
                          "in real time")
    if args.duration is not None and args.duration <= 0:
        raise EngageError(f"--duration must be positive, not {args.duration}")
    if args.marker_port < -1 or args.marker_port > 65535:
        raise EngageError(f"--marker-port must be 0..65535 (or -1 for none), not "
                          f"{args.marker_port}")
    if args.video is not None and not Path(args.video).is_file():
        raise MediaError(f"{args.video}: no such video file")

    consent, consent_text = _resolve_consent(args)
    if not any(consent.values()):
        sys.stdout.write("no stream consented; nothing to record\n")
        return 0

    clock = SessionClock()
    source: FrameSource | None = None
    model_path = None
    recorder_box: list[Recorder] = []
    if consent["camera"]:
        model_path = resolve_face_model(args.model)
        if args.video is not None:
            source = VideoFileSource(args.video, clock=clock, realtime=not args.fast,
                                     loop=args.loop)
        else:
            source = CameraSource(
                args.camera if args.camera is not None else 0, clock=clock,
                on_gap=lambda start, end, why: recorder_box and recorder_box[0].source_gap(
                    start, end, why))
        source.open()  # fail now, before a session exists, if it cannot be used
        source.close()  # the recorder reopens it once the face model is loaded

    def make_pipeline(on_face: Any) -> FacePipeline:
        analyzer = FaceAnalyzer(model_path, keep_landmarks=consent["landmarks"])
        # MediaPipe's first detections are several times slower than later ones; one blank
        # frame before capture starts keeps them from costing the first real frames.
        analyzer.detect(Frame(t_ns=0, index=-1, image=np.zeros((360, 640, 3), np.uint8)))
        return FacePipeline(analyzer, on_face, queue_size=FACE_QUEUE_FRAMES,
                            drop_when_behind=not args.fast)

    options = RecorderOptions(
        keep_video=args.keep_video, landmarks=consent["landmarks"],
        marker_port=None if args.marker_port < 0 else args.marker_port,
        pause_hotkey=args.pause_hotkey or None, lsl_markers=args.lsl_markers,
        lsl_features=args.lsl_features,
    )
    try:
        writer = SessionWriter.create(args.data_dir, participant=args.participant,
                                      consent=consent, consent_text=consent_text, host=_host(),
                                      camera=source.describe() if source else {}, clock=clock)
    except BaseException:
        if source is not None:
            source.close()
        raise
    recorder = Recorder(writer, frame_source=source, make_face_pipeline=make_pipeline,
                        options=options)
    recorder_box.append(recorder)
    if model_path is not None:
        writer.set_meta("face_model", str(model_path))

    stop_reason = ["end"]

    def on_signal(number: int, _frame: Any) -> None:
        stop_reason[0] = signal.Signals(number).name
        recorder.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = "complete"
    try:
        sys.stdout.write(f"session {writer.session_id}\npath {writer.path}\n")
        recorder.start()
        if recorder.endpoint is not None:
            host, port = recorder.endpoint.address
            sys.stdout.write(f"markers http://{host}:{port}/markers "
                             f"(line protocol on {host}:{port})\n")
        streams = ", ".join(stream for stream, on in consent.items() if on)
        sys.stdout.write(f"recording {streams}; Ctrl+C to stop\n")
        sys.stdout.flush()
        _wait(recorder, args, source)
    except BaseException:
        status = "aborted"
        raise
    finally:
        final = recorder.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        writer.close(status)
    _print_summary(writer, final, stop_reason[0])
    return 0


def _wait(recorder: Any, args: argparse.Namespace, source: Any) -> None:
    """Until a signal, the duration, or (without a duration) the end of a video."""
    deadline = None if args.duration is None else time.monotonic() + args.duration
    until_video_ends = args.duration is None and args.video is not None and not args.loop
    while True:
        remaining = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
        if remaining <= 0 or recorder.wait(remaining):
            return
        if until_video_ends and recorder.status()["frames"]["ended"]:
            return


def _print_summary(writer: Any, final: dict[str, Any], reason: str) -> None:
    from sensing.session import open_session

    with open_session(writer.path) as session:
        ok, verdict = session.verify()
        rows = {stream: facts["rows"] for stream, facts in session.stream_summary().items()}
        gaps = session.gaps()
        duration = session.duration_s
    frames = final["frames"]
    lines = [
        f"stopped ({reason}) after {duration:.1f} s: session {writer.session_id}",
        "rows: " + ", ".join(f"{stream} {count}" for stream, count in rows.items()),
        "stored/dropped: " + ", ".join(
            f"{stream} {facts['written']}/{facts['dropped']}"
            for stream, facts in final["streams"].items()),
    ]
    if frames["source"]:
        pipeline = frames["pipeline"]
        lines.append(f"frames: read {frames['read']}, skipped by source "
                     f"{frames['source'].get('frames_skipped', 0)}, analysed "
                     f"{pipeline.get('analysed', 0)}, skipped by analysis "
                     f"{pipeline.get('skipped', 0)}, errors {pipeline.get('errors', 0)}, "
                     f"paused {frames['paused']}")
    counts = final["input"]["counts"]
    lines.append("input events: " + ", ".join(
        f"{stream} {c['received']} seen/{c['sunk']} stored/{c['dropped']} dropped"
        for stream, c in counts.items() if final["input"]["streams"].get(stream)))
    markers = final["markers"]
    lines.append(f"markers: {markers['accepted']} accepted, {markers['rejected']} rejected, "
                 f"{markers['dropped']} dropped")
    if gaps:
        lines.append(f"gaps: {len(gaps)} (" + "; ".join(
            f"{gap['stream']} {gap['start_ns'] / 1e9:.1f}-"
            f"{(gap['end_ns'] or 0) / 1e9:.1f} s" for gap in gaps) + ")")
    if final["video"]:
        lines.append(f"video: {final['video']['path']} ({final['video']['written']} frames, "
                     f"{final['video']['dropped']} dropped)")
    lines.append(f"verify: {verdict}")
    sys.stdout.write("\n".join(lines) + "\n")
    if not ok:
        log.error("session %s did not verify: %s", writer.session_id, verdict)


# -- resense -----------------------------------------------------------------------------------


def resense_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sensing.face import FaceAnalyzer
    from sensing.frames import Frame, VideoFileSource
    from sensing.models import resolve_face_model
    from sensing.recorder import kept_video_for, video_path_for, video_times_path_for
    from sensing.session import SessionWriter, open_session

    with open_session(args.session, args.data_dir) as original:
        video = kept_video_for(original.path)
        times_path = video_times_path_for(original.path)
        if video is None or not times_path.is_file():
            raise EngageError(f"session {original.id} has no kept video "
                              f"({video_path_for(original.path).name}); only sessions recorded "
                              "with --keep-video can be re-sensed")
        model_path = resolve_face_model(args.model)
        times = np.fromfile(times_path, dtype="<i8")  # [frames] session t_ns per video frame
        ever_granted = {stream: False for stream in CONSENT_STREAMS}
        for record in original.consent_records():
            ever_granted[record["stream"]] |= record["granted"]
        writer = SessionWriter.create(
            args.data_dir, participant=original.participant, consent=ever_granted,
            consent_text=f"as given for session {original.id}", host=_host(),
            camera=original.meta.get("camera", {}),
            clock=SessionClock(anchor=original.clock_anchor))
        status = "aborted"
        try:
            writer.set_meta("resensed_from", {"session_id": original.id,
                                              "face_model": str(model_path)})
            copied = _copy_streams(original, writer)
            source = VideoFileSource(video, realtime=False)
            analysed = 0
            with source, FaceAnalyzer(model_path,
                                      keep_landmarks=ever_granted["landmarks"]) as analyzer:
                progress = tqdm(total=len(times), unit="frame", desc="resense",
                                file=sys.stderr, disable=not sys.stderr.isatty())
                for frame in source:
                    if frame.index >= len(times):
                        log.warning("the kept video has more frames than recorded times; "
                                    "the extra frames are not analysed")
                        break
                    stamped = Frame(t_ns=int(times[frame.index]), index=frame.index,
                                    image=frame.image)
                    writer.write_face(analyzer.analyze(stamped))
                    analysed += 1
                    if analysed % 1000 == 0:
                        writer.flush()
                    progress.update()
                progress.close()
            status = "complete"
        finally:
            writer.close(status)
    sys.stdout.write(json.dumps({"session": writer.session_id, "path": str(writer.path),
                                 "resensed_from": original.id, "face_rows": analysed,
                                 "frames_recorded": int(len(times)), **copied}) + "\n")
    return 0


def _copy_streams(original: Any, writer: Any) -> dict[str, int]:
    """Copy input, markers, calibrations and gaps unchanged.

    Flushing after every batch keeps the writer's buffer far below its limit, so nothing is
    dropped while copying.
    """
    copied = {"input_rows": 0, "marker_rows": 0, "calibration_rows": 0}
    writes = (("input", "input_rows", writer.write_input),
              ("markers", "marker_rows", writer.write_marker),
              ("calibration", "calibration_rows", writer.write_calibration))
    for stream, counter, write in writes:
        for batch in original.iter_rows(stream, 5000):
            for record in batch:
                write(record)
            copied[counter] += len(batch)
            writer.flush()
    for gap in original.gaps():
        writer.add_gap(gap["stream"], gap["start_ns"], gap["end_ns"], gap["reason"])
    return copied

