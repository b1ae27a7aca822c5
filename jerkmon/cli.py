"""The ``jerkmon`` console entry point.

Each subcommand lives in its own module under :mod:`jerkmon.commands`, which exposes
``register(subparsers)``; this file only wires them together and turns a
:class:`~detector.errors.JerkmonError` or an operating-system error (a file that cannot be
read or written) into one clear message and exit code 2.  Anything else is a bug: one line
saying so, exit 70 (``JERKMON_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from detector import __version__
from detector.errors import JerkmonError

# Order is the order shown in --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "jerkmon.commands.init",
    "jerkmon.commands.run",
    "jerkmon.commands.simulate",
    "jerkmon.commands.detect",
    "jerkmon.commands.evaluate",
    "jerkmon.commands.flush",
    "jerkmon.commands.annotate",
    "jerkmon.commands.dashboards",
    "jerkmon.commands.scan",
    "jerkmon.commands.report",
    "jerkmon.commands.export",
    "jerkmon.commands.batch",
)


_ROLE_RE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain(text: str | None) -> str | None:
    """Help text without the reST markup of the docstrings it comes from: ``code`` and
    :role:`target` (shown as the target's last part when written ~a.b.c)."""
    if not text:
        return text

    def role(m: re.Match[str]) -> str:
        target = m.group(1)
        return target.rsplit(".", 1)[-1] if m.group(0).count("~") else target

    return _ROLE_RE.sub(role, text).replace("``", "")


def _plain_help(parser: argparse.ArgumentParser) -> None:
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        action.help = plain(action.help) if isinstance(action.help, str) else action.help
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _plain_help(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jerkmon",
        description="Count myoclonic jerks overnight from wrist accelerometers.",
    )
    parser.add_argument("--version", action="version", version=f"jerkmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _plain_help(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # What jerkmon writes is health data: directories 0700 and files 0600 (spool, store,
    # reports, exports, whichever library writes them).
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except JerkmonError as exc:
        print(f"jerkmon: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"jerkmon: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jerkmon: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("JERKMON_DEBUG"):
            raise
        print(
            f"jerkmon: internal error: {type(exc).__name__}: {exc} (a bug in jerkmon: please "
            "report it with the command; JERKMON_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
