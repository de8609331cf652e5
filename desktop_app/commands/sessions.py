"""``engage sessions list | show | verify | delete``: look after recorded session files."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sensing.errors import CorruptSessionError, EngageError, FutureSchemaError, SessionError
from sensing.session import Session, list_sessions, resolve_session

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sessions", help="list, show, verify or delete sessions")
    actions = parser.add_subparsers(dest="sessions_command", metavar="ACTION",
                                    parser_class=type(parser))
    parser.set_defaults(handler=lambda args: _usage(parser))

    listing = actions.add_parser("list", help="sessions in the data folder")
    listing.add_argument("--json", action="store_true", help="one JSON object per session")
    listing.set_defaults(handler=list_command)

    show = actions.add_parser("show", help="facts about one session")
    show.add_argument("session", metavar="ID", help="session id or path to a session file")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=show_command)

    verify = actions.add_parser("verify", help="check a session file's integrity")
    verify.add_argument("session", metavar="ID", help="session id or path to a session file")
    verify.set_defaults(handler=verify_command)

    delete = actions.add_parser("delete", help="remove a session file and its side files")
    delete.add_argument("session", metavar="ID", help="session id or path to a session file")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=delete_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def list_command(args: argparse.Namespace) -> int:
    paths = list_sessions(args.data_dir)
    if not paths and not args.json:
        sys.stdout.write("no sessions yet (record one with `engage record` or "
                         "`engage simulate`)\n")
        return 0
    for path in paths:
        try:
            with Session.open(path) as session:
                facts = session.summary()
        except SessionError as error:
            facts = {"id": path.stem, "path": str(path), "error": str(error)}
        if args.json:
            sys.stdout.write(json.dumps(facts) + "\n")
        elif "error" in facts:
            sys.stdout.write(f"{facts['id']}  unreadable: {facts['error']}\n")
        else:
            rows = " ".join(f"{name}={stream['rows']}" for name, stream in facts["streams"].items())
            sys.stdout.write(f"{facts['id']}  {facts['participant'] or '-':<12} "
                             f"{facts['duration_s']:8.1f} s  {facts['status']:<9} {rows}\n")
    return 0


def show_command(args: argparse.Namespace) -> int:
    with Session.open(resolve_session(args.session, args.data_dir)) as session:
        facts = session.summary()
    if args.json:
        sys.stdout.write(json.dumps(facts) + "\n")
        return 0
    consented = ", ".join(name for name, granted in facts["consent"].items() if granted) or "none"
    lines = [
        f"session      {facts['id']}",
        f"path         {facts['path']}",
        f"participant  {facts['participant']}",
        f"started      {facts['started_at']}",
        f"duration     {facts['duration_s']:.1f} s ({facts['status']})",
        f"consent      {consented}",
        f"schema       v{facts['schema_version']}",
    ]
    for name, stream in facts["streams"].items():
        span = ("" if stream["first_t_s"] is None
                else f"  {stream['first_t_s']:.2f}-{stream['last_t_s']:.2f} s")
        lines.append(f"{name:<12} {stream['rows']} rows{span}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    path = resolve_session(args.session, args.data_dir)
    try:
        with Session.open(path) as session:
            ok, verdict = session.verify()
    except (CorruptSessionError, FutureSchemaError) as error:
        ok, verdict = False, str(error)
    sys.stdout.write(f"{path.stem}: {verdict}\n")
    return 0 if ok else 1


def side_files(path: Path) -> list[Path]:
    """The session file and every file beside it that belongs to it (WAL, kept video)."""
    return sorted({path, *path.parent.glob(f"{path.stem}.*")})


def delete_command(args: argparse.Namespace) -> int:
    path = resolve_session(args.session, args.data_dir)
    targets = side_files(path)
    if not args.yes:
        if not sys.stdin.isatty():
            raise EngageError(f"refusing to delete {path.stem} without confirmation; "
                              "add --yes to delete non-interactively")
        sys.stderr.write("delete " + ", ".join(str(t) for t in targets) + "? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            sys.stdout.write("kept\n")
            return 1
    for target in targets:
        target.unlink(missing_ok=True)
    log.info("deleted session %s (%d files)", path.stem, len(targets))
    sys.stdout.write(f"deleted {path.stem} ({len(targets)} file(s))\n")
    return 0
