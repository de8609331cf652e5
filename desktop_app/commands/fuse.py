"""``engage fuse``, ``engage export`` and ``engage import``: sessions into datasets and back.

``fuse`` writes a fused dataset folder (``FusedDataset.save``); ``export`` writes Parquet,
CSV, NPZ or Minari; ``import`` turns an OpenFace or iMotions recording into a session.
Exit status: 0 when every session fused, 1 when some were skipped (each named on stderr),
2 for bad input (nothing written).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fusion.dataset import FusedDataset
from fusion.export import FORMATS, ExportError, check_output_folder, export
from fusion.fuse import describe_failures, fuse_sessions
from fusion.settings import FusionSettings
from sensing.datadir import resolve_data_dir
from sensing.errors import EngageError

log = logging.getLogger(__name__)

SOME_SKIPPED = 1


def _add_fusion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", metavar="SESSION", nargs="+",
                        help="session ids or session files")
    parser.add_argument("--step", type=float, default=None, metavar="S",
                        help="step length in seconds (default 0.25)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="fusion settings and engagement weights (JSON or .toml)")
    parser.add_argument("--min-streams", type=int, default=None, choices=(1, 2, 3),
                        help="streams (face, input, markers) a session must hold (default 2)")
    parser.add_argument("--processes", type=int, default=None, metavar="N",
                        help="worker processes (default: one per core)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    epilog = ("exit status: 0 every session fused; 1 some were skipped (each named on "
              "stderr); 2 bad input, nothing written")
    fuse = subparsers.add_parser("fuse", help="fuse sessions into a fixed-step dataset",
                                 epilog=epilog)
    _add_fusion_options(fuse)
    fuse.add_argument("--out", default=None, metavar="PATH",
                      help="dataset folder (default: DATA_DIR/datasets/<first session id>)")
    fuse.set_defaults(handler=fuse_command)

    exporter = subparsers.add_parser("export", help="fuse sessions and export the dataset",
                                     epilog=epilog)
    _add_fusion_options(exporter)
    exporter.add_argument("--format", required=True, choices=FORMATS)
    exporter.add_argument("--out", required=True, metavar="DIR", help="new output folder")
    exporter.add_argument("--include-landmarks", action="store_true",
                          help="also export face meshes (only with landmark consent)")
    exporter.set_defaults(handler=export_command)

    importer = subparsers.add_parser("import", help="import an OpenFace or iMotions recording")
    importer.add_argument("format", choices=("openface", "imotions"))
    importer.add_argument("file", metavar="FILE")
    importer.add_argument("--participant", default=None, metavar="ID",
                          help="participant id (default: from the file)")
    importer.set_defaults(handler=import_command)


def _settings(args: argparse.Namespace, *, include_landmarks: bool = False) -> FusionSettings:
    settings = (FusionSettings.from_file(args.config) if args.config else FusionSettings())
    overrides: dict[str, object] = {}
    if args.step is not None:
        overrides["step_s"] = args.step
    if args.min_streams is not None:
        overrides["min_streams"] = args.min_streams
    if include_landmarks:
        overrides["include_landmarks"] = True
    return FusionSettings.from_dict(overrides, base=settings, source="command line")


def _fuse(args: argparse.Namespace, settings: FusionSettings) -> tuple[FusedDataset, int]:
    dataset, failures = fuse_sessions(args.sessions, settings=settings,
                                      processes=args.processes,
                                      progress=not args.no_progress and sys.stderr.isatty(),
                                      data_dir=args.data_dir)
    if dataset is None:
        if len(failures) == 1:
            raise EngageError(failures[0].message)
        raise EngageError(f"none of the {len(failures)} sessions could be fused: "
                          + describe_failures(failures))
    for failure in failures:
        sys.stderr.write(f"engage: skipped {failure.source}: {failure.message}\n")
    return dataset, (SOME_SKIPPED if failures else 0)


def fuse_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    out = Path(args.out) if args.out else None
    if out is not None and not (out / "dataset.json").is_file():
        check_output_folder(out)  # an existing dataset folder is replaced, anything else kept
    dataset, status = _fuse(args, settings)
    if out is None:
        out = resolve_data_dir(args.data_dir) / "datasets" / dataset.session_ids[0]
        if not (out / "dataset.json").is_file():
            check_output_folder(out)
    try:
        dataset.save(out)
    except OSError as error:
        raise ExportError(f"cannot write the dataset to {out}: {error.strerror}") from None
    sys.stdout.write(f"fused {len(dataset.session_ids)} session(s), {len(dataset)} steps of "
                     f"{settings.step_s} s -> {out}\n")
    return status


def export_command(args: argparse.Namespace) -> int:
    settings = _settings(args, include_landmarks=args.include_landmarks)
    check_output_folder(args.out)
    dataset, status = _fuse(args, settings)
    path = export(dataset, args.out, format=args.format,
                  include_landmarks=args.include_landmarks)
    sys.stdout.write(f"exported {len(dataset)} steps of {len(dataset.session_ids)} session(s) "
                     f"as {args.format} -> {path}\n")
    return status


def import_command(args: argparse.Namespace) -> int:
    if args.format == "openface":
        from fusion.importers.openface import import_openface as run
    else:
        from fusion.importers.imotions import import_imotions as run
    path = run(args.file, participant=args.participant, data_dir=args.data_dir)
    sys.stdout.write(f"imported {args.file} as session {path.stem} -> {path}\n")
    return 0
