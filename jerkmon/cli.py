"""The ``jerkmon`` console entry point.

Each subcommand lives in its own module under :mod:`jerkmon.commands`, which exposes
``register(subparsers)``; this file only wires them together and turns a
:class:`~detector.errors.JerkmonError` into one clear message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from detector.errors import JerkmonError

# Order is the order shown in --help.
_COMMAND_MODULES: tuple[str, ...] = (
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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jerkmon",
        description="Count myoclonic jerks overnight from wrist accelerometers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except JerkmonError as exc:
        print(f"jerkmon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jerkmon: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
