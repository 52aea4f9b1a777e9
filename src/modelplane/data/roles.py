"""Column roles at ingest: how each column of a CSV, TSV or Parquet table is read.

Every column is the target (`--target`), ignored (`--ignore`, or its older name `--drop`), or takes one role
of `modelplane.tables.columns.Role`. Roles are inferred from the first 65,536 rows of the file (`INFER_ROWS`,
whatever `--chunk-rows` is), and later rows must fit them. The rules, in order:

1. A column with no value in those rows is left out, with a notice.
2. Arrow booleans, and text that is only true/false (any case) -> `boolean`.
3. Arrow timestamps and dates, and text whose every value is an ISO-8601 date or date-time (`2024-03-01`,
   `2024-03-01T12:30:00Z`, ...) -> `datetime`.
4. Integers (or text holding only integers), and text without spaces, with a different value in every row
   and no empty cell -> `id`, when there are at least 20 rows (`ID_MIN_ROWS`) or the column is named like
   an id (`id`, `*_id`, `*Id`). An id is kept with the rows (batch output names rows by it) and is never a
   feature; a notice says so.
5. Other numbers (or text holding only numbers) -> `numeric`. Numbers written with a leading zero (`007`,
   `02134`) are codes, read as text. Text that is mostly numbers (at least 90 %)
   with a few other values is refused, naming the first of them: it is usually a typo or a marker of a
   missing value; fix it, or declare the column `--categorical`.
6. Other text with at most 50 distinct values (`MAX_CATEGORIES`), or distinct values in at most 5 % of the
   rows (`CATEGORY_SHARE`) -> `categorical`. More is free text, which is refused: text columns need a text
   model family, not built yet.

`--categorical`, `--numeric`, `--boolean`, `--datetime` and `--id` (each repeatable and comma-separated)
set a column's role instead; `--datetime` on a column of numbers reads them as epoch seconds. Every problem
found (unknown names, a column given two roles, free text, a value a declared role cannot read) is reported
together, in one error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.data.convert import blank_to_null, is_number, is_text
from modelplane.data.formats import listing
from modelplane.errors import Invalid
from modelplane.tables.columns import Column, Role
from modelplane.tables.datetimes import looks_like_dates

INFER_ROWS = 65_536
ID_MIN_ROWS = 20
MAX_CATEGORIES = 50
CATEGORY_SHARE = 0.05
_ID_NAME = re.compile(r"(?i:id|.*_id)|.*[a-z0-9]Id")
_TRUE_FALSE = pa.array(["true", "false"])

MOSTLY_NUMBERS = 0.9
_LEADING_ZERO = r"^[+-]?0\d"
_INTEGER = r"^[+-]?\d{1,18}$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"

Kind = Literal["empty", "boolean", "datetime", "integer", "number", "mixed", "text", "other"]


@dataclass(frozen=True)
class RoleOverrides:
    """Roles declared on the command line (`--categorical plan,region --id customer_id ...`)."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    id: tuple[str, ...] = ()

    def declared(self) -> dict[str, Role]:
        """Column -> declared role (a column named twice keeps its last role; `check_names` refuses that)."""
        return {name: field.name for field in fields(self) for name in getattr(self, field.name)}  # type: ignore[misc]

    def flags(self) -> list[tuple[str, str]]:
        """(column, flag) for every name given, in flag order."""
        return [(name, f"--{field.name}") for field in fields(self) for name in getattr(self, field.name)]

    def to_dict(self) -> dict[str, list[str]]:
        return {
            field.name: list(getattr(self, field.name)) for field in fields(self) if getattr(self, field.name)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> RoleOverrides:
        return cls(**{role: tuple(names) for role, names in data.items()})


@dataclass(frozen=True)
class Profile:
    """What the first rows of one column hold."""

    kind: Kind
    rows: int
    present: int  # non-empty values
    distinct: int  # distinct non-empty values (integer and text columns)
    spaces: bool  # a text value holds whitespace
    odd: tuple[int, str] | None = None  # mostly numbers: the first other value, by row index in the sample

    @property
    def unique(self) -> bool:
        return self.present == self.rows and self.distinct == self.rows


@dataclass(frozen=True)
class Inferred:
    """The roles of a table's columns: feature and id columns in file order, what was left out, and the
    problems that stop the table from being read (all of them, for one message)."""

    columns: list[Column]
    integer_ids: frozenset[str]  # id columns whose values are integers (stored as int64, else as text)
    empty: list[str]
    notices: list[str]
    problems: list[str]


def check_names(
    names: Sequence[str],
    *,
    target: str | None,
    ignore: Sequence[str],
    overrides: RoleOverrides,
    file_name: str,
) -> None:
    """Refuse, in one error naming each, every column flag that names no column or contradicts another
    (and columns named twice in the file)."""
    problems: list[str] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"column '{name}' appears more than once in {file_name}; rename the duplicates")
        seen.add(name)
    if target is not None and target not in seen:
        problems.append(
            f"target column '{target}' not found in {file_name}; columns are: {listing(list(names))} "
            "(pass --target NAME)"
        )
    given = [(name, "--ignore") for name in ignore] + overrides.flags()
    first_flag: dict[str, str] = {}
    for name, flag in given:
        if name not in seen:
            problems.append(
                f"column '{name}' named by {flag} is not in {file_name}; columns are: {listing(list(names))} "
                f"(fix {flag})"
            )
        elif name == target:
            problems.append(f"column '{name}' is the target and also named by {flag}; remove it from {flag}")
        elif name in first_flag and first_flag[name] != flag:
            problems.append(
                f"column '{name}' is named by both {first_flag[name]} and {flag}; give each column one role"
            )
        first_flag.setdefault(name, flag)
    if problems:
        raise Invalid("; ".join(dict.fromkeys(problems)))


def profile(values: pa.ChunkedArray) -> Profile:
    """The kind of values a sample column holds (text is read the way CSV text is: trimmed, blank = empty)."""
    rows, kind = len(values), values.type
    if pa.types.is_dictionary(kind):
        values, kind = pc.cast(values, pa.string()), pa.string()
    if is_text(kind):
        text = blank_to_null(values)
        if text.null_count == rows:
            return Profile("empty", rows, 0, 0, False)
        return _profile_text(text, rows)
    present_count = rows - values.null_count
    if pa.types.is_floating(kind):
        present_count -= int(pc.sum(pc.is_nan(values)).as_py() or 0)
    if present_count == 0:
        return Profile("empty", rows, 0, 0, False)
    if pa.types.is_boolean(kind):
        return Profile("boolean", rows, present_count, 0, False)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return Profile("datetime", rows, present_count, 0, False)
    if pa.types.is_integer(kind):
        return Profile("integer", rows, present_count, _distinct(values), False)
    if is_number(kind):
        return Profile("number", rows, present_count, 0, False)
    return Profile("other", rows, present_count, 0, False)


def _profile_text(text: pa.Array, rows: int) -> Profile:
    """Distinct values are counted only where a rule reads them (integers and text)."""
    present = text.drop_null()
    count = len(present)
    if not pc.any(pc.match_substring_regex(present, _LEADING_ZERO)).as_py():  # else codes, not numbers
        if _casts(present, pa.float64()):  # a failed cast costs ~20 good ones: one cast, then a pattern
            if pc.all(pc.match_substring_regex(present, _INTEGER)).as_py():
                return Profile("integer", rows, count, _distinct(present), False)
            return Profile("number", rows, count, 0, False)
        numbers = pc.fill_null(pc.match_substring_regex(text, _NUMBER), True).to_numpy(zero_copy_only=False)
        if not numbers.all() and int(numbers.sum()) - text.null_count >= MOSTLY_NUMBERS * count:
            index = int(np.argmin(numbers))
            return Profile("mixed", rows, count, 0, False, (index, str(text[index].as_py())))
    if pc.all(pc.is_in(pc.utf8_lower(present), value_set=_TRUE_FALSE)).as_py():
        return Profile("boolean", rows, count, 0, False)
    if looks_like_dates(present):
        return Profile("datetime", rows, count, 0, False)
    spaces = bool(pc.any(pc.match_substring_regex(present, r"\s")).as_py())
    return Profile("text", rows, count, _distinct(present), spaces)


def _distinct(values: pa.Array | pa.ChunkedArray) -> int:
    return len(pc.unique(values).drop_null())


def _casts(values: pa.Array, kind: pa.DataType) -> bool:
    try:
        pc.cast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def infer_roles(sample: pa.Table, *, overrides: RoleOverrides, complete: bool, file_name: str) -> Inferred:
    """Roles of every column of `sample` (the first rows of the file, target and ignored columns already
    left out); `complete` when the sample is the whole file. Free text and unreadable types are refused
    together, in one error."""
    declared = overrides.declared()
    columns: list[Column] = []
    integer_ids: set[str] = set()
    empty: list[str] = []
    notices: list[str] = []
    text: list[tuple[str, Profile]] = []
    problems: list[str] = []
    for name in sample.column_names:
        found = profile(sample.column(name))
        role = declared.get(name)
        if role is None:
            inferred = _infer(name, found)
            if inferred == "empty":
                empty.append(name)
                notices.append(_empty_notice(name, complete))
                continue
            if inferred == "text":
                text.append((name, found))
                continue
            if inferred == "other":
                problems.append(
                    f"column '{name}' of {file_name} holds {sample.schema.field(name).type} values, which no "
                    f"role reads; leave it out with --ignore {name}"
                )
                continue
            if inferred == "mixed":
                assert found.odd is not None
                row, value = found.odd
                problems.append(
                    f"column '{name}' mixes numbers and text ('{value}' at row {row + 1}); fix that value, "
                    f"or declare --categorical {name} to read the column as categories"
                )
                continue
            role = inferred
            if role == "id":
                notices.append(_id_notice(name, "numeric" if found.kind == "integer" else "categorical"))
        if role == "id" and found.kind in ("integer", "empty"):
            integer_ids.add(name)
        columns.append(Column(name, role))
    if text:
        problems.insert(0, _free_text(text))
    return Inferred(columns, frozenset(integer_ids), empty, notices, problems)


def _infer(name: str, found: Profile) -> Role | Literal["empty", "mixed", "text", "other"]:
    if found.kind in ("empty", "boolean", "datetime", "mixed", "other"):
        return found.kind
    id_like = _ID_NAME.fullmatch(name) is not None
    could_be_id = found.kind == "integer" or (found.kind == "text" and not found.spaces)
    if could_be_id and found.unique and (found.rows >= ID_MIN_ROWS or (id_like and found.rows >= 2)):
        return "id"
    if found.kind in ("integer", "number"):
        return "numeric"
    if found.distinct <= MAX_CATEGORIES or found.distinct <= CATEGORY_SHARE * found.rows:
        return "categorical"
    return "text"


def _empty_notice(name: str, complete: bool) -> str:
    where = "" if complete else f" in the first {INFER_ROWS:,} rows"
    return f"column '{name}' has no values{where}; left out (declare its role to keep it)"


def _id_notice(name: str, role: str) -> str:
    return (
        f"column '{name}' holds a different value in every row, so it is read as an id: kept with the rows, "
        f"not used as a feature (declare --{role} {name} if it is a feature)"
    )


def _free_text(columns: list[tuple[str, Profile]]) -> str:
    def counts(found: Profile) -> str:
        return f"{found.distinct:,} distinct values in {found.rows:,} rows"

    names = ",".join(name for name, _ in columns)
    why = "(text columns need a text model family, not built yet)"
    if len(columns) == 1:
        name, found = columns[0]
        return (
            f"column '{name}' holds free text ({counts(found)}); leave it out with --ignore {name} "
            f"or declare it --categorical {name} {why}"
        )
    described = ", ".join(f"'{name}' ({counts(found)})" for name, found in columns)
    return (
        f"columns {described} hold free text; leave them out with --ignore {names} "
        f"or declare them --categorical {names} {why}"
    )
