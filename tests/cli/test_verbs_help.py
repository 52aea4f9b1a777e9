"""Every group and command of `modelplane` is listed by `--help` and answers its own `--help`; taken from
the Typer app itself, so a new verb is covered the day it is added."""

from __future__ import annotations

import pytest

from modelplane import __version__
from modelplane.cli.main import app
from tests.cli.verbs import modelplane, ok

GROUPS = {group.name: group.typer_instance for group in app.registered_groups}
COMMANDS = [command.name for command in app.registered_commands]
SUBCOMMANDS = [
    (group, command.name) for group, typer_app in GROUPS.items() for command in typer_app.registered_commands
]


def test_the_top_level_help_lists_every_group_and_command() -> None:
    shown = ok("--help").out
    assert "Self-hosted model-as-a-service" in shown
    missing = [name for name in [*GROUPS, *COMMANDS] if name is None or name not in shown]
    assert not missing, shown
    assert len(GROUPS) >= 10 and len(COMMANDS) >= 10  # the tables above are really read from the app


@pytest.mark.parametrize("group", sorted(GROUPS, key=str))
def test_each_group_lists_its_commands(group: str) -> None:
    shown = ok(group, "--help").out
    names = [command.name for command in GROUPS[group].registered_commands]
    assert names and all(name and name in shown for name in names), shown


@pytest.mark.parametrize(("group", "command"), SUBCOMMANDS + [(None, c) for c in COMMANDS])
def test_every_command_answers_help(group: str | None, command: str) -> None:
    words = [group, command] if group else [command]
    shown = ok(*words, "--help").out
    usage = next(line for line in shown.splitlines() if "Usage:" in line)
    assert f"modelplane {' '.join(words)} " in usage, shown


def test_version_and_unknown_verbs() -> None:
    assert ok("version").out.strip() == __version__
    unknown = modelplane("fly")
    assert unknown.code == 2 and "No such command 'fly'" in unknown.err
    assert "Traceback" not in unknown.err
