"""How the CLI talks: Rich tables for people, `--json` for scripts, one-line errors on stderr."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from modelplane.errors import Notice

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(cell(v) for v in row))
    console.print(out)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "-"
    return str(value)


def key_values(title: str, pairs: Iterable[tuple[str, Any]]) -> None:
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for key, value in pairs:
        out.add_row(key, cell(value))
    console.print(out)


def server_logging() -> None:
    """Timestamped INFO lines for long-running servers; migrations only speak up when something is wrong."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic", "httpx", "onnx_ir", "onnxscript"):  # per-step INFO lines nobody needs
        logging.getLogger(chatty).setLevel(logging.WARNING)


@contextmanager
def notices() -> Iterator[None]:
    """Print each `Notice` raised inside as one `note:` line on stderr (not Python's warning format)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Notice)
        try:
            yield
        finally:
            for item in caught:
                if issubclass(item.category, Notice):
                    err_console.print(f"[yellow]note:[/] {item.message}", highlight=False, soft_wrap=True)
                else:
                    warnings.showwarning(item.message, item.category, item.filename, item.lineno)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(code)
