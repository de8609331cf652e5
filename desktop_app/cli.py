"""The ``engage`` command: argument parsing, logging set-up, and error mapping.

Every sub-command lives in :mod:`desktop_app.commands` and registers itself. A handler
returns an exit status; any :class:`sensing.errors.EngageError` it lets through becomes one
line on stderr and exit status 2, so a user never sees a traceback for a problem they caused.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import logging.handlers
import sys
from collections.abc import Sequence

from sensing import __version__
from sensing.datadir import ensure_private_dir, logs_dir, resolve_data_dir
from sensing.errors import EngageError

log = logging.getLogger("desktop_app")

# Sub-command modules, in the order ``engage --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "sessions",
    "record",
    "sense",
    "models",
    "fuse",
    "irl",
    "simulate",
    "demo",
    "app",
)

USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="engage",
        description="Local-first opt-in user studies: sense, fuse, and learn what people value.",
    )
    parser.add_argument("--version", action="version", version=f"engage {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (-v info, -vv debug)")
    parser.add_argument("--data-dir", default=None,
                        help="data folder (default: $ENGAGE_DATA_DIR or the user data folder)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"desktop_app.commands.{name}")
        module.register(subparsers)
    return parser


def configure_logging(verbosity: int, data_dir_option: str | None) -> None:
    """Log to stderr at a level set by ``-v`` and to a rotating file in the data folder."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(
        logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    )
    stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr_handler)
    try:
        folder = ensure_private_dir(logs_dir(ensure_private_dir(resolve_data_dir(
            data_dir_option))))
        file_handler = logging.handlers.RotatingFileHandler(
            folder / "engage.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as error:
        log.warning("no log file: %s", error)
        return
    file_handler.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(file_handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engage`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    configure_logging(args.verbose, args.data_dir)
    try:
        return int(args.handler(args) or 0)
    except EngageError as error:
        sys.stderr.write(f"engage: error: {error}\n")
        return USAGE_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("engage: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
