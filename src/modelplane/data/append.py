"""`data add NAME --from FILE --append` on a table: the new rows are read the way the latest version was.

The version's target, task, column roles, ignored and empty columns and `--drop-na` are inherited (a notice
says so); no role is inferred again. A flag that contradicts the version (another `--target`, another role
for a column) is refused naming both values. The file must hold the version's columns and target; any other
column must be left out with `--drop` / `--ignore` (columns the version left out are skipped). A column set
that differs is refused in one line naming at most 10 of the differing columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelplane.data.catalog import DatasetVersionInfo
from modelplane.data.roles import RoleOverrides
from modelplane.errors import Invalid
from modelplane.tables.columns import Column

_SHOWN = 10


@dataclass(frozen=True)
class Inherited:
    """How the appended file is read: the parent's target, task, roles and `--drop-na`."""

    target: str | None
    task: str | None
    columns: list[Column]
    drop_na: bool
    ingest_options: dict[str, Any]  # recorded on the new version
    notice: str


def inherit(
    parent: DatasetVersionInfo,
    names: Sequence[str],
    *,
    file_name: str,
    target: str | None,
    task: str | None,
    drop_na: bool,
    ignore: Sequence[str],
    overrides: RoleOverrides,
) -> Inherited:
    """Check the flags and the file's column `names` against `parent`, a tabular version."""
    if parent.columns is None:
        raise Invalid(
            f"cannot append {file_name} to {parent.ref}: {parent.ref} holds {parent.format} arrays, not a "
            "table; add the file as a new dataset without --append"
        )
    options = parent.ingest_options
    roles = {c.name: c.role for c in parent.columns}
    left_out = [*options.get("ignore", []), *options.get("empty", [])]
    problems = _contradictions(parent, roles, target=target, task=task, drop_na=drop_na, overrides=overrides)
    problems += [
        f"--ignore {name} contradicts {parent.ref}, which reads '{name}' as {roles[name]}; "
        "leave it out of --ignore to append with the parent's columns"
        for name in ignore
        if name in roles
    ]
    problems += [
        f"--ignore {name} names the target of {parent.ref}; remove it from --ignore"
        for name in ignore
        if name == parent.target_name
    ]
    if problems:
        raise Invalid("; ".join(problems))
    expected = [c.name for c in parent.columns] + ([parent.target_name] if parent.target_name else [])
    missing = [name for name in expected if name not in names]
    skipped = set(left_out) | set(ignore)
    extra = [name for name in names if name not in expected and name not in skipped]
    if missing or extra:
        raise Invalid(_differ(file_name, parent.ref, missing, extra))
    extras = [name for name in ignore if name not in left_out]
    notice = (
        f"appending with the parent's target '{parent.target_name}', roles and dropped columns"
        if parent.target_name
        else "appending with the parent's roles and dropped columns"
    )
    return Inherited(
        target=parent.target_name,
        task=parent.task,
        columns=list(parent.columns),
        drop_na=bool(options.get("drop_na", False)),
        ingest_options={**options, "ignore": [*options.get("ignore", []), *extras]},
        notice=notice,
    )


def _contradictions(
    parent: DatasetVersionInfo,
    roles: Mapping[str, str],
    *,
    target: str | None,
    task: str | None,
    drop_na: bool,
    overrides: RoleOverrides,
) -> list[str]:
    found = []
    if target is not None and target != parent.target_name:
        found.append(
            f"--target '{target}' contradicts {parent.ref}, whose target is '{parent.target_name}'; "
            "leave --target out to append with the parent's target, or add the file as a new dataset"
        )
    if task is not None and task != parent.task:
        found.append(
            f"--task {task} contradicts {parent.ref}, a {parent.task} dataset; leave --task out to append"
        )
    if drop_na and not parent.ingest_options.get("drop_na", False):
        found.append(
            f"--drop-na contradicts {parent.ref}, which was read without it (its rows keep missing values); "
            "leave --drop-na out to append"
        )
    for name, role in overrides.declared().items():
        if name not in roles:
            found.append(f"--{role} {name}: {parent.ref} has no column '{name}'; remove it from --{role}")
        elif roles[name] != role:
            found.append(
                f"--{role} {name} contradicts {parent.ref}, which reads '{name}' as {roles[name]}; "
                f"leave --{role} {name} out, or add the file as a new dataset"
            )
    return found


def _differ(file_name: str, ref: str, missing: list[str], extra: list[str]) -> str:
    limit = _SHOWN if not (missing and extra) else _SHOWN // 2
    parts = [f"missing {_few(missing, limit)}"] if missing else []
    parts += [f"extra {_few(extra, limit)}"] if extra else []
    return (
        f"cannot append {file_name} to {ref}: its columns differ ({'; '.join(parts)}); rename or drop them "
        "(--drop NAME), or add the file as a new dataset without --append"
    )


def _few(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
