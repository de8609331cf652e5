"""``engage sense PATH``: run the vision pipeline on an image or a video, one line per frame.

Every frame is analysed (nothing is skipped offline). Standard output carries only the
per-frame results, so it can be piped; the summary goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

from sensing.expression import BlinkDetector, expression_summaries, eye_closure
from sensing.models import resolve_face_model
from sensing.records import BLENDSHAPE_NAMES, FaceFrame


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sense", help="face, head, eye and expression features of an image or a video")
    parser.add_argument("path", metavar="PATH", help="an image or a video file")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame")
    parser.add_argument("--landmarks", action="store_true",
                        help="include the 478 face landmarks (biometric; off by default)")
    parser.add_argument("--model", default=None, help="face_landmarker.task to use")
    parser.add_argument("--num-faces", type=int, default=2,
                        help="faces to look for (more than one flags a bystander)")
    parser.set_defaults(handler=sense_command)


def _number(value: float, digits: int = 3) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None


def frame_object(
    face: FaceFrame, *, t_s: float, index: int, blinking: bool, landmarks: bool
) -> dict[str, Any]:
    """The JSON object printed for one frame."""
    obj: dict[str, Any] = {
        "t_s": round(t_s, 6),
        "frame": index,
        "face_count": face.face_count,
        "face": face.present,
        "bystander": face.face_count > 1,
        "confidence": round(face.confidence, 3),
    }
    if not face.present:
        obj.update({"blendshapes": None, "head": None, "eyes": None, "expression": None,
                    "attention": {"on_screen": None, "calibrated": False}})
        return obj
    left_x, left_y, right_x, right_y = face.eye_features_norm
    obj["blendshapes"] = {name: _number(value, 4)
                          for name, value in zip(BLENDSHAPE_NAMES, face.blendshapes, strict=True)}
    obj["head"] = {
        "yaw_deg": _number(face.yaw_deg, 2), "pitch_deg": _number(face.pitch_deg, 2),
        "roll_deg": _number(face.roll_deg, 2),
        "translation_mm": [_number(v, 1) for v in face.translation_mm],
    }
    obj["eyes"] = {
        "left": {"x": _number(left_x), "y": _number(left_y),
                 "openness": _number(face.eye_openness[0])},
        "right": {"x": _number(right_x), "y": _number(right_y),
                  "openness": _number(face.eye_openness[1])},
        "distance_mm": _number(face.distance_mm, 1),
    }
    summaries = expression_summaries(face.blendshapes)
    obj["expression"] = {name: _number(value, 4) for name, value in summaries.items()}
    obj["expression"]["blink"] = blinking
    obj["attention"] = {"on_screen": face.on_screen, "calibrated": face.gaze_calibrated}
    if landmarks and face.landmarks is not None:
        obj["landmarks"] = np.round(face.landmarks, 5).tolist()
    return obj


def _text_line(obj: dict[str, Any]) -> str:
    if not obj["face"]:
        return f"{obj['t_s']:9.3f}s  frame {obj['frame']:5d}  no face\n"
    head, expr = obj["head"], obj["expression"]
    return (f"{obj['t_s']:9.3f}s  frame {obj['frame']:5d}  faces {obj['face_count']}  "
            f"yaw {head['yaw_deg']:6.1f}  pitch {head['pitch_deg']:6.1f}  "
            f"roll {head['roll_deg']:6.1f}  smile {expr['smile']:.2f}  "
            f"eyes {'closed' if expr['blink'] else 'open'}  "
            f"distance {obj['eyes']['distance_mm'] or float('nan'):.0f} mm\n")


def sense_command(args: argparse.Namespace) -> int:
    # Imported here so that `engage --help` does not pay for loading MediaPipe and OpenCV.
    from sensing.face import FaceAnalyzer
    from sensing.frames import open_media
    from sensing.gaze import GazeTracker

    model = resolve_face_model(args.model)
    source = open_media(args.path)
    frames = faces = 0
    blinks = BlinkDetector()
    tracker = GazeTracker()
    started = time.perf_counter()
    try:
        with FaceAnalyzer(model, keep_landmarks=args.landmarks,
                          num_faces=args.num_faces) as analyzer:
            for frame in source:
                face, _ = tracker.update(analyzer.analyze(frame))
                frames += 1
                faces += face.present
                closure = eye_closure(face.blendshapes) if face.present else math.nan
                blinks.update(frame.t_ns, float(closure))
                obj = frame_object(face, t_s=frame.t_s, index=frame.index,
                                   blinking=blinks.is_closed, landmarks=args.landmarks)
                line = json.dumps(obj) + "\n" if args.json else _text_line(obj)
                sys.stdout.write(line)
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    finally:
        source.close()
    elapsed = time.perf_counter() - started
    rate = blinks.blink_rate_per_min
    stats = source.stats
    sys.stderr.write(
        f"frames processed: {frames}, with a face: {faces}, "
        f"processing rate: {frames / elapsed if elapsed > 0 else 0.0:.1f} frames/s, "
        f"blinks: {len(blinks.blinks)}"
        + (f" ({rate:.1f}/min)" if math.isfinite(rate) else "")
        + (f", unreadable frames: {stats.failed_reads}" if stats.failed_reads else "")
        + "\n"
    )
    return 0
