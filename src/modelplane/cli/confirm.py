"""Asking before a delete: `--yes` skips the question; without a terminal to ask on, the command refuses
rather than guess (a script must say --yes)."""

from __future__ import annotations

import sys

import typer

from modelplane.cli.output import console, fail

YES_HELP = "Do not ask for confirmation"


def confirm(question: str, yes: bool) -> None:
    """Return when the user agrees (or passed --yes); otherwise stop, having changed nothing."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} — no terminal to confirm on; pass --yes to go ahead")
    if not typer.confirm(question, default=False):
        console.print("nothing deleted")
        raise SystemExit(1)
