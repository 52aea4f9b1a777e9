"""Ground-truth feedback: labels (classifiers) or values (regressors) for logged predictions, sent hours or
days after the prediction, joined to it by request id and row.

A batch is checked whole before anything is stored: one bad item refuses the batch (Invalid naming the
first bad item's index and the fix; over `MAX_ITEMS` items, PayloadTooLarge). Items whose (request id, row)
the prediction log does not hold are counted and the first `UNKNOWN_SHOWN` listed; the others are stored.
A row labelled again keeps the LAST label (within one batch too): the result counts those as `replaced`.

Labels: the class NAME as the deployment answers it (`"setosa"`, `"7"`). An integer label is a class
name too when the model's class names are integers (digits: 7 means class "7"); otherwise it is an index
into the model's classes (iris: 0 means "setosa").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from modelplane.errors import Invalid, PayloadTooLarge
from modelplane.monitoring.log_ids import logged
from modelplane.monitoring.served import served
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import Feedback, utcnow

MAX_ITEMS = 100_000
UNKNOWN_SHOWN = 20
MAX_ID_LENGTH = 200
_FIELDS = frozenset(("request_id", "row", "label", "value"))
_CHUNK = 10_000  # rows per executemany: bounds the memory of one statement's parameters


@dataclass(frozen=True)
class FeedbackItem:
    """The truth for one logged row: `label` for a classifier, `value` for a regressor."""

    request_id: str
    row: int = 0
    label: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class FeedbackResult:
    """`accepted`: items stored (`replaced` of them overwrote an earlier label); `unknown`: items whose
    request id and row the prediction log does not hold (not stored), the first few in `unknown_ids`."""

    accepted: int
    replaced: int
    unknown: int
    unknown_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bad(index: int, problem: str) -> Invalid:
    return Invalid(f"feedback item {index} {problem}")


def _label(index: int, label: Any, classes: list[str], numbered: bool) -> str:
    if isinstance(label, str):
        if label not in classes:
            raise _bad(
                index,
                f"has label {label!r}, not one of the model's classes ({_few(classes)}); send "
                "the class name as the deployment answers it",
            )
        return label
    if isinstance(label, int) and not isinstance(label, bool):
        if numbered:
            if str(label) not in classes:
                raise _bad(index, f"has label {label}, not one of the model's classes ({_few(classes)})")
            return str(label)
        if not 0 <= label < len(classes):
            raise _bad(
                index,
                f"has label index {label}, outside 0..{len(classes) - 1}; send a class name "
                f"({_few(classes)}) or its index",
            )
        return classes[label]
    raise _bad(index, f"has a label of type {type(label).__name__}; send the class name as a string")


def _few(names: list[str]) -> str:
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def parse_items(
    raw: Sequence[Mapping[str, Any] | FeedbackItem], task: str, classes: list[str] | None
) -> list[FeedbackItem]:
    """Check every item against the deployment's task and classes; the first bad one refuses them all."""
    if len(raw) > MAX_ITEMS:
        raise PayloadTooLarge(
            f"{len(raw):,} feedback items in one batch; send at most {MAX_ITEMS:,} per request"
        )
    names = classes or []
    numbered = bool(names) and all(c.lstrip("-").isdigit() for c in names)
    items = []
    for index, item in enumerate(raw):
        data = asdict(item) if isinstance(item, FeedbackItem) else item
        if not isinstance(data, Mapping):
            raise _bad(
                index,
                f'is a {type(data).__name__}; send an object like {{"request_id": "...", "label": "..."}}',
            )
        extra = sorted(set(data) - _FIELDS)
        if extra:
            raise _bad(
                index,
                f"has unknown field(s) {', '.join(map(str, extra))}; the fields are "
                "request_id, row, and label (classifiers) or value (regressors)",
            )
        request_id, row = data.get("request_id"), data.get("row", 0)
        if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID_LENGTH:
            raise _bad(
                index,
                f"needs a request_id: the id the prediction answered with (a non-empty string "
                f"of at most {MAX_ID_LENGTH} characters)",
            )
        if row is None:
            row = 0
        if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < 2**31:
            raise _bad(index, f"has row {row!r}; row is the row's index in its request (0 or more)")
        label, value = data.get("label"), data.get("value")
        if task == "classification":
            if value is not None:
                raise _bad(index, "has a value, but the deployment is a classifier; send label instead")
            if label is None:
                raise _bad(index, "has no label; send the true class as label")
            items.append(FeedbackItem(request_id, row, label=_label(index, label, names, numbered)))
        else:
            if label is not None:
                raise _bad(index, "has a label, but the deployment is a regressor; send value instead")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _bad(index, f"has value {value!r}; send the true value as a finite number")
            items.append(FeedbackItem(request_id, row, value=float(value)))
    return items


def record_feedback(
    store: Store,
    home: Path,
    deployment: str,
    items: Sequence[Mapping[str, Any] | FeedbackItem],
    *,
    key_id: str | None,
) -> FeedbackResult:
    """Check `items`, then store those the deployment's prediction log holds (see the module docstring)."""
    what = served(store, deployment)
    parsed = parse_items(items, what.task, what.classes)
    latest = {(i.request_id, i.row): i for i in parsed}  # one batch labelling a row twice: the last wins
    unique = list(latest.values())
    known = logged(home, deployment, [i.request_id for i in unique], [i.row for i in unique])
    keep = [i for i, ok in zip(unique, known, strict=True) if ok]
    missing = [i.request_id for i, ok in zip(unique, known, strict=True) if not ok]
    replaced = _upsert(store, deployment, keep, key_id=key_id)
    return FeedbackResult(
        accepted=len(keep),
        replaced=replaced,
        unknown=len(missing),
        unknown_ids=list(dict.fromkeys(missing))[:UNKNOWN_SHOWN],
    )


def _upsert(store: Store, deployment: str, items: list[FeedbackItem], *, key_id: str | None) -> int:
    """Insert or replace each item's label in one transaction; the number that replaced a stored one (the
    rows that did not add one: exact, as writers of this deployment's feedback queue on its lock)."""
    if not items:
        return 0
    now = utcnow()
    table = Feedback.__table__
    rows = [
        {
            "deployment": deployment,
            "request_id": i.request_id,
            "row": i.row,
            "label": i.label,
            "value": i.value,
            "key_id": key_id,
            "received_at": now,
        }
        for i in items
    ]
    count = select(func.count()).select_from(table).where(table.c.deployment == deployment)
    with store.db.session() as session:
        serialise(session, f"feedback:{deployment}")
        dialect = session.get_bind().dialect.name
        if dialect not in ("postgresql", "sqlite"):
            raise Invalid(f"feedback supports SQLite and PostgreSQL, not {dialect}")
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["deployment", "request_id", "row"],
            set_={
                "label": stmt.excluded.label,
                "value": stmt.excluded.value,
                "key_id": stmt.excluded.key_id,
                "received_at": stmt.excluded.received_at,
            },
        )
        connection = session.connection()
        before = connection.execute(count).scalar_one()
        for start in range(0, len(rows), _CHUNK):
            connection.execute(stmt, rows[start : start + _CHUNK])
        added = connection.execute(count).scalar_one() - before
    return len(items) - added


def feedback_since(store: Store, deployment: str, since: datetime | None) -> dict[str, Sequence[Any]]:
    """The deployment's stored feedback received at or after `since`, as columns (request_id, row, label,
    value). Every stored label arrived after its prediction was logged (unknown ids are refused), so
    `since` = the window's start loses none of the window's labels."""
    table = Feedback.__table__
    query = select(table.c.request_id, table.c.row, table.c.label, table.c.value).where(
        table.c.deployment == deployment
    )
    if since is not None:
        query = query.where(table.c.received_at >= since)
    with store.db.session() as session:
        found = session.connection().execute(query).all()
    names = ("request_id", "row", "label", "value")
    if not found:
        return {name: [] for name in names}
    return dict(zip(names, zip(*found, strict=True), strict=True))
