"""What a user meets first: --version and help texts (no reST markup, every flag helped)."""

from __future__ import annotations

import argparse

import pytest

from detector import __version__
from jerkmon.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"jerkmon {__version__}"


def test_help_is_plain_text_and_every_flag_is_explained() -> None:
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        for markup in ("``", ":class:", ":mod:", ":func:", ":meth:", ":data:"):
            assert markup not in text, f"{parser.prog}: {markup} in its help"
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{parser.prog} {action.option_strings[0]} has no help"
