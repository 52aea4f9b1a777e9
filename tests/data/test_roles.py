"""The role rules on first rows alone (modelplane.data.roles): kinds of values, then roles."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from modelplane.data.roles import RoleOverrides, check_names, infer_roles, profile
from modelplane.errors import Invalid
from modelplane.tables.columns import Column


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", " 2 ", None, "-3"], "integer"),
        (["1.5", "2", "1e3"], "number"),
        (["007", "012"], "text"),  # a leading zero: codes, not numbers
        (["true", "False", "TRUE"], "boolean"),
        (["2024-03-01", "2024-03-02T10:00:00Z"], "datetime"),
        (["", None, "  "], "empty"),
        (["a", "b"], "text"),
        ([*(str(i) for i in range(20)), "n/a?"], "mixed"),
    ],
)
def test_text_kinds(values: list[str | None], kind: str) -> None:
    assert profile(pa.chunked_array([pa.array(values, pa.string())])).kind == kind


@pytest.mark.parametrize(
    ("array", "kind"),
    [
        (pa.array([True, None]), "boolean"),
        (pa.array([1, 2], pa.int32()), "integer"),
        (pa.array([1.0, float("nan")]), "number"),
        (pa.array([float("nan"), None]), "empty"),
        (pa.array([date(2024, 3, 1)]), "datetime"),
        (pa.array(["x", "y"]).dictionary_encode(), "text"),
        (pa.array([[1], [2]]), "other"),
    ],
)
def test_arrow_kinds(array: pa.Array, kind: str) -> None:
    assert profile(pa.chunked_array([array])).kind == kind


def test_roles_of_a_sample() -> None:
    rows = 30
    sample = pa.table(
        {
            "id": [f"{i:03d}" for i in range(rows)],  # zero-padded codes: unique text
            "amount": [str(i % 7) for i in range(rows)],
            "level": [["low", "high"][i % 2] for i in range(rows)],
            "tags": [[i] for i in range(rows)],
            "blank": pa.nulls(rows, pa.string()),
        }
    )
    inferred = infer_roles(sample, overrides=RoleOverrides(), complete=False, file_name="t.csv")
    assert inferred.columns == [
        Column("id", "id"),
        Column("amount", "numeric"),
        Column("level", "categorical"),
    ]
    assert inferred.integer_ids == frozenset()
    assert inferred.empty == ["blank"]
    assert inferred.notices[1] == (
        "column 'blank' has no values in the first 65,536 rows; left out (declare its role to keep it)"
    )
    assert inferred.problems == [
        "column 'tags' of t.csv holds list<item: int64> values, which no role reads; "
        "leave it out with --ignore tags"
    ]


def test_check_names_reports_every_problem_at_once() -> None:
    with pytest.raises(Invalid) as err:
        check_names(
            ["a", "b", "b", "y"],
            target="y",
            ignore=["a", "zz"],
            overrides=RoleOverrides(numeric=("a", "y")),
            file_name="f.csv",
        )
    assert str(err.value) == "; ".join(
        [
            "column 'b' appears more than once in f.csv; rename the duplicates",
            "column 'zz' named by --ignore is not in f.csv; columns are: a, b, b, y (fix --ignore)",
            "column 'a' is named by both --ignore and --numeric; give each column one role",
            "column 'y' is the target and also named by --numeric; remove it from --numeric",
        ]
    )
