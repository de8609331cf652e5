"""``engage models path | fetch``: which face model would be used, and getting the official one."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from sensing.models import OFFICIAL_URL, fetch_face_model, resolve_face_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="show or download the face model")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION",
                                    parser_class=type(parser))
    parser.set_defaults(handler=lambda args: _usage(parser))

    path = actions.add_parser("path", help="print the face model file that would be used")
    path.add_argument("--model", default=None, help="an explicit model path to check")
    path.set_defaults(handler=path_command)

    fetch = actions.add_parser(
        "fetch", help="download MediaPipe's Face Landmarker bundle and check its sha256")
    fetch.add_argument("--url", default=OFFICIAL_URL, help="where to download from "
                       "(must serve the official bundle; its sha256 is checked)")
    fetch.add_argument("--dest", default=None,
                       help="file or folder to save to (default: the user cache)")
    fetch.set_defaults(handler=fetch_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def path_command(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{resolve_face_model(args.model)}\n")
    return 0


def fetch_command(args: argparse.Namespace) -> int:
    sys.stderr.write(f"downloading the face model from {args.url}\n")
    with tqdm(unit="B", unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty(),
              leave=False) as bar:
        def progress(done: int, total: int | None) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        path = fetch_face_model(args.dest, url=args.url, progress=progress)
    sys.stdout.write(f"{path}\n")
    return 0
