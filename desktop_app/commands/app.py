"""``engage app``: the desktop application (consent, calibration, study, replay, export, IRL)."""

from __future__ import annotations

import argparse

from sensing.datadir import ensure_private_dir, resolve_data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("app", help="start the desktop application")
    parser.add_argument("--study", metavar="FILE", default=None,
                        help="study file (JSON Lines); default: the last one used, else the "
                             "example study")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, default=0, metavar="N",
                        help="webcam device index (default 0)")
    source.add_argument("--video", metavar="PATH", default=None,
                        help="a video file that stands in for the camera (looped, real time)")
    parser.add_argument("--model", metavar="PATH", default=None,
                        help="face_landmarker.task (default: $ENGAGE_FACE_MODEL, then the cache)")
    parser.set_defaults(handler=app_command)


def app_command(args: argparse.Namespace) -> int:
    from desktop_app.app import run_app
    from desktop_app.study import load_study

    if args.study:
        load_study(args.study)  # a bad study file is one clear line, before any window opens
    data_dir = ensure_private_dir(resolve_data_dir(args.data_dir))
    return run_app(data_dir=data_dir, study_path=args.study, camera=args.camera,
                   video=args.video, face_model=args.model)
