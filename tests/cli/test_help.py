"""Every option of every subcommand has help text, and a default that is not "absent" is stated.

Walks the real parser (cli.build_parser), so a new option without help fails here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from trdfhir.cli import build_parser

# Options whose value is computed at run time when absent (default None): the help must say what.
COMPUTED_DEFAULTS = {"as_of", "workers", "buckets", "now", "mappings", "port", "host", "timeout"}


def _options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            flag = "/".join(action.option_strings) or action.dest
            yield f"trd-fhir {' '.join(path)} {flag}", action


def _states_default(action: argparse.Action) -> bool:
    return "default" in (action.help or "").lower()


def test_the_walk_sees_every_subcommand() -> None:
    commands = {name.split()[1] for name, _ in _options(build_parser())}
    assert {"evaluate", "bulk", "sync", "validate", "serve", "sandbox"} <= commands


def test_every_option_has_help() -> None:
    missing = [name for name, action in _options(build_parser()) if not (action.help or "").strip()]
    assert missing == []


def test_every_real_default_is_stated() -> None:
    unstated = [
        f"{name} (default {action.default!r})"
        for name, action in _options(build_parser())
        if action.default not in (None, False, [], argparse.SUPPRESS)
        and not isinstance(action, argparse._StoreTrueAction)
        and not _states_default(action)
    ]
    assert unstated == []


def test_computed_defaults_are_stated() -> None:
    unstated = [
        name
        for name, action in _options(build_parser())
        if action.dest in COMPUTED_DEFAULTS
        and action.option_strings
        and not _states_default(action)
    ]
    assert unstated == []
