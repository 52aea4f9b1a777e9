"""`modelplane ARGS` run in-process for the tests of tests/cli.

Typer's CliRunner isolates stdin, stdout and stderr, and the real entry point (`modelplane.cli.main.main`)
runs inside it rather than `CliRunner.invoke(app)`: the entry point is what turns a typed error into the one
line and exit code a user sees, where `invoke` would hand back the exception instead. The terminal asked for
is a wide one, but Rich keeps a width it was given when its console was made (COLUMNS at import), so tests
read only what no width cuts: JSON, and short cells and lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from modelplane.cli.main import main
from tests.cli_helpers import Result

RUNNER = CliRunner()


def modelplane(*args: str | Path) -> Result:
    with RUNNER.isolation(env={"COLUMNS": "200"}) as (out, err, _):
        argv, sys.argv = sys.argv, ["modelplane", *map(str, args)]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return Result(code, out.getvalue().decode(), err.getvalue().decode())


def ok(*args: str | Path) -> Result:
    """`modelplane ARGS`, which must succeed."""
    result = modelplane(*args)
    assert result.code == 0, (args, result.err)
    return result
