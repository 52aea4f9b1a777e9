"""`mlflow.search_runs(filter_string=..., order_by=...)`: the common filters and orderings, and a clear 400
for what is not supported."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.api.mlflow.search import matching, ordered
from modelplane.errors import Invalid


def _run(run_id: str, loss: float | None, c: str, status: str = "FINISHED", start: int = 0) -> dict[str, Any]:
    metrics = [] if loss is None else [{"key": "loss", "value": loss}]
    return {
        "info": {"run_id": run_id, "status": status, "start_time": start, "run_name": f"name-{run_id}"},
        "data": {
            "metrics": metrics,
            "params": [{"key": "C", "value": c}],
            "tags": [{"key": "team", "value": "ml"}],
        },
    }


RUNS = [_run("a", 0.3, "0.5", start=3), _run("b", 0.7, "1.0", "FAILED", 2), _run("c", None, "0.5", start=1)]


def _ids(runs: list[dict[str, Any]]) -> list[str]:
    return [r["info"]["run_id"] for r in runs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["a", "b", "c"]),
        ("metrics.loss < 0.5", ["a"]),
        ("metrics.loss >= 0.3 and params.C = '1.0'", ["b"]),
        ("params.C = '0.5'", ["a", "c"]),
        ("tags.team != 'ml'", []),
        ("attributes.status = 'FINISHED' AND attributes.start_time > 1", ["a"]),
        ("attributes.run_name LIKE 'name-%'", ["a", "b", "c"]),
        ("attributes.run_name ILIKE 'NAME-B'", ["b"]),
        ('params.`C` = "0.5" AND metrics.loss <= 0.3', ["a"]),
    ],
)
def test_filters_select_the_runs_mlflow_would(text: str, expected: list[str]) -> None:
    assert _ids(matching(RUNS, text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "metrics.loss < 0.5 OR params.C = '1'",
        "loss < 0.5",
        "metrics.loss < high",
        "attributes.colour = 'red'",
    ],
)
def test_unsupported_filters_are_refused_with_what_works(text: str) -> None:
    with pytest.raises(Invalid, match=r"supported|number"):
        matching([], text)  # refused before any run is read


def test_orderings_sort_with_missing_values_last() -> None:
    assert _ids(ordered(RUNS, ["metrics.loss DESC"])) == ["b", "a", "c"]
    assert _ids(ordered(RUNS, ["metrics.loss"])) == ["a", "b", "c"]
    assert _ids(ordered(RUNS, ["params.C", "attributes.start_time ASC"])) == ["c", "a", "b"]
    with pytest.raises(Invalid, match="ordering"):
        ordered(RUNS, ["loss DESC"])
