"""MLflow's run search filters and orderings, the common subset, applied to runs as MLflow's JSON shows
them: `metrics.loss < 0.5 AND params.C = '0.5' AND tags.team != 'x' AND attributes.status = 'FINISHED'`,
ordered by `metrics.loss`, `attributes.start_time DESC`, ... Anything else is refused, naming what works."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from modelplane.errors import Invalid

_CLAUSE = re.compile(
    r"^\s*(?P<kind>metrics?|params?|parameters?|tags?|attributes?|attr|run)\.(?P<key>`[^`]+`|\"[^\"]+\"|[\w.\-/]+)"
    r"\s*(?P<op>!=|>=|<=|=|<|>|(?:NOT\s+)?LIKE|(?:NOT\s+)?ILIKE)\s*(?P<value>'[^']*'|\"[^\"]*\"|[-+\w.]+)\s*$",
    re.IGNORECASE,
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
SUPPORTED = (
    "supported: metrics.KEY, params.KEY, tags.KEY and "
    "attributes.(status|run_name|run_id|user_id|start_time|end_time) compared with = != < <= > >= or LIKE, "
    "joined by AND"
)
ATTRIBUTES = ("status", "run_name", "run_id", "user_id", "start_time", "end_time", "experiment_id")
Run = dict[str, Any]


def _field(run: Run, kind: str, key: str) -> Any:
    kind = kind.lower().rstrip("s")
    data = run["data"]
    if kind == "metric":
        return next((m["value"] for m in data["metrics"] if m["key"] == key), None)
    if kind in ("param", "parameter"):
        return next((p["value"] for p in data["params"] if p["key"] == key), None)
    if kind == "tag":
        return next((t["value"] for t in data["tags"] if t["key"] == key), None)
    return run["info"].get(key)


def _like(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _predicate(clause: str) -> Callable[[Run], bool]:
    found = _CLAUSE.match(clause)
    if found is None:
        raise Invalid(f"cannot read the filter {clause.strip()!r}; {SUPPORTED}")
    kind, key, op, raw = found["kind"], found["key"].strip('`"'), found["op"].upper(), found["value"]
    if kind.lower().startswith(("attr", "run")) and key not in ATTRIBUTES:
        raise Invalid(f"unknown run attribute {key!r}; {SUPPORTED}")
    quoted = raw[:1] in ("'", '"')
    wanted: Any = raw[1:-1] if quoted else raw
    numeric = kind.lower().startswith("metric") or (
        kind.lower().startswith(("attr", "run")) and key.endswith("_time")
    )
    if numeric and not quoted:
        try:
            wanted = float(raw)
        except ValueError:
            raise Invalid(f"{kind}.{key} compares with a number, got {raw!r}") from None

    def test(run: Run) -> bool:
        value = _field(run, kind, key)
        if value is None:
            return False
        if "LIKE" in op:
            matched = _like(str(wanted), str(value), case="ILIKE" not in op)
            return not matched if op.startswith("NOT") else matched
        if isinstance(wanted, float):
            value = float(value)
        return _OPS[op](value, wanted)

    return test


def matching(runs: list[Run], text: str) -> list[Run]:
    """The runs every AND-joined clause of `text` holds for (OR is not supported)."""
    if not text.strip():
        return runs
    if re.search(r"\bOR\b", text, re.IGNORECASE):
        raise Invalid(f"OR is not supported in run filters; {SUPPORTED}")
    tests = [_predicate(part) for part in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE)]
    return [run for run in runs if all(test(run) for test in tests)]


def ordered(runs: list[Run], order_by: list[str]) -> list[Run]:
    """Sorted by each `KIND.KEY [ASC|DESC]`, the last one least significant; runs without the value last."""
    for spec in reversed(order_by):
        words = spec.split()
        if not words or len(words) > 2 or "." not in words[0]:
            raise Invalid(f"cannot read the ordering {spec!r}; use e.g. 'metrics.loss DESC'")
        kind, _, key = words[0].partition(".")
        descending = len(words) == 2 and words[1].upper() == "DESC"
        present = [r for r in runs if _field(r, kind, key.strip('`"')) is not None]
        missing = [r for r in runs if _field(r, kind, key.strip('`"')) is None]
        present.sort(key=lambda r: _sortable(_field(r, kind, key.strip('`"'))), reverse=descending)
        runs = present + missing
    return runs


def _sortable(value: Any) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))
