"""Fitting the preprocessing, its ONNX transform against scikit-learn, JSON, options and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelplane.errors import IntegrityError, Invalid
from modelplane.tables.columns import Column
from modelplane.tables.prep import PrepOptions, Preprocessor
from tests.tables.tables_helpers import COLUMNS, held_out, mixed


@pytest.fixture(scope="module")
def prep() -> Preprocessor:
    return Preprocessor.fit(mixed(150, 0), COLUMNS)


def test_onnx_transform_equals_scikit_learn_on_held_out_rows(prep: Preprocessor) -> None:
    rows = held_out(60, 1)
    assert prep.verify(rows) <= 1e-5
    features = prep.transform(rows)
    assert features.dtype == np.float32 and features.shape == (60, prep.width)
    np.testing.assert_allclose(features, prep.reference_transform(rows), rtol=0, atol=1e-5)
    assert not np.isnan(features).any()


def test_feature_names_and_indicators_only_for_columns_missing_at_fit(prep: Preprocessor) -> None:
    assert [c.name for c in prep.columns] == ["tenure", "active", "plan", "age", "signup", "region"]
    assert prep.feature_names == [
        "tenure", "active", "age", "tenure.missing", "active.missing",
        "plan=<missing>", "plan=basic", "plan=pro", "plan=rare", "plan=team",
        "region=east", "region=north", "region=south",
        "signup.year", "signup.month", "signup.day_of_week", "signup.hour", "signup.elapsed_days",
        "signup.missing",
    ]  # fmt: skip
    assert prep.width == len(prep.feature_names)
    quiet = Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(missing_indicator=False))
    assert not [name for name in quiet.feature_names if name.endswith(".missing")]


def test_unknown_values_fall_in_the_unknown_bucket_and_are_counted() -> None:
    prep = Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(max_categories=4))
    plan = [n for n in prep.feature_names if n.startswith("plan=")]
    assert plan == ["plan=basic", "plan=pro", "plan=team", "plan=<unknown>"]  # missing and rare are grouped
    rows = held_out(60, 1)
    features = prep.transform(rows)
    at = {name: i for i, name in enumerate(prep.feature_names)}
    # "enterprise" (never seen), "" and None (missing, a grouped category here), "rare" (grouped at fit)
    assert features[:4, at["plan=<unknown>"]].tolist() == [1.0] * 4
    assert features[:4, [at["plan=basic"], at["plan=pro"], at["plan=team"]]].sum() == 0.0
    # region kept all its categories: an unseen "west" has no bucket and encodes as all zeros.
    assert features[0, [at[f"region={r}"] for r in ("east", "north", "south")]].tolist() == [0.0, 0.0, 0.0]
    expected_plan = sum(v not in ("basic", "pro", "team") for v in rows["plan"])
    assert prep.unknown_counts(rows) == {"plan": expected_plan, "region": 3}  # west, and two missing
    assert prep.verify(rows) <= 1e-5


def test_json_round_trip_is_exact_and_transforms_the_same(prep: Preprocessor) -> None:
    stored = prep.to_json()
    text = json.dumps(stored)
    again = Preprocessor.from_json(json.loads(text))
    assert again.to_json() == stored and json.dumps(again.to_json()) == text
    assert stored["format"] == 1
    median = float(np.nanmedian(mixed(150, 0)["tenure"]))
    assert stored["numeric"][0] == {"column": "tenure", "role": "numeric", "fill": median, "indicator": True}
    rows = held_out(60, 1)
    assert np.array_equal(again.transform(rows), prep.transform(rows))
    assert again.unknown_counts(rows) == prep.unknown_counts(rows)
    assert again.feature_names == prep.feature_names


def test_a_pipeline_read_from_json_has_no_scikit_learn_reference(prep: Preprocessor) -> None:
    again = Preprocessor.from_json(prep.to_json())
    with pytest.raises(Invalid, match="never stored"):
        again.reference_transform(mixed(5, 2))
    with pytest.raises(Invalid, match="never stored"):
        again.verify(mixed(5, 2))


def test_json_of_another_format_or_edited_is_refused(prep: Preprocessor) -> None:
    with pytest.raises(Invalid, match=r"format 2.*reads format 1"):
        Preprocessor.from_json({**prep.to_json(), "format": 2})
    edited = prep.to_json()
    edited["categorical"][0]["categories"] = ["basic"]
    with pytest.raises(Invalid, match="edited or damaged"):
        Preprocessor.from_json(edited)
    with pytest.raises(Invalid, match="malformed"):
        Preprocessor.from_json({k: v for k, v in prep.to_json().items() if k != "datetime"})


def test_ordinal_encoding_codes_kept_categories_and_one_unknown_code() -> None:
    prep = Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(encoding="ordinal", max_categories=4))
    assert "plan" in prep.feature_names and "region" in prep.feature_names
    rows = held_out(60, 1)
    rows["plan"][4:6] = ["team", "pro"]
    assert prep.verify(rows) <= 1e-5
    plan = prep.transform(rows)[:, prep.feature_names.index("plan")]
    # kept (in sorted order): "basic" 0, "pro" 1, "team" 2; missing (grouped), rare and unseen are 3
    assert plan[:6].tolist() == [3.0, 3.0, 3.0, 3.0, 2.0, 1.0]
    assert set(plan.tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert prep.unknown_counts(rows)["plan"] == int((plan == 3.0).sum())


@pytest.mark.parametrize("max_categories", [2, 3, 4])
def test_ordinal_encoding_keeps_what_scikit_learn_keeps(max_categories: int) -> None:
    """region has 3 categories: scikit-learn groups them from max_categories = 3 on (the same width)."""
    prep = Preprocessor.fit(
        mixed(150, 0), COLUMNS, PrepOptions(encoding="ordinal", max_categories=max_categories)
    )
    assert prep.to_json()["categorical"][1]["bucket"] == (max_categories <= 3)
    assert prep.verify(held_out(60, 1)) <= 1e-5


@pytest.mark.parametrize(
    ("options", "tenure_fill"),
    [
        (PrepOptions(numeric_impute="median"), np.nanmedian),
        (PrepOptions(numeric_impute="mean"), np.nanmean),
        (PrepOptions(numeric_impute="constant", numeric_fill=-7.5), lambda _: -7.5),
    ],
)
def test_numeric_impute_options(options: PrepOptions, tenure_fill: object) -> None:
    train = mixed(150, 0)
    prep = Preprocessor.fit(train, COLUMNS, options)
    rows = held_out(10, 1)
    features = prep.transform(rows)
    assert features[4, 0] == np.float32(tenure_fill(train["tenure"]))  # type: ignore[operator]
    active = train["active"][~np.isnan(train["active"])]
    assert features[4, 1] == float(np.mean(active) >= 0.5)  # booleans: most frequent
    assert prep.verify(rows) <= 1e-5


def test_categorical_impute_options() -> None:
    train = mixed(150, 0)
    frequent = Preprocessor.fit(train, COLUMNS, PrepOptions(categorical_impute="most_frequent"))
    assert "plan=<missing>" not in frequent.feature_names
    rows = held_out(10, 1)
    features = frequent.transform(rows)
    assert features[1, frequent.feature_names.index("plan=basic")] == 1.0  # "" became the most frequent
    assert frequent.unknown_counts(rows)["plan"] == 1  # only "enterprise"
    assert frequent.verify(rows) <= 1e-5
    constant = Preprocessor.fit(train, COLUMNS, PrepOptions(categorical_impute="constant"))
    assert constant.transform(rows)[2, constant.feature_names.index("plan=<missing>")] == 1.0


def test_fit_on_a_column_with_a_single_value() -> None:
    train = mixed(40, 0)
    train["age"] = np.full(40, 3.0)
    train["region"] = np.array(["north"] * 40, dtype=object)
    prep = Preprocessor.fit(train, COLUMNS)
    assert [n for n in prep.feature_names if n.startswith("region")] == ["region=north"]
    rows = held_out(10, 1)
    assert prep.verify(rows) <= 1e-5
    assert set(prep.transform(rows)[:, prep.feature_names.index("age")].tolist()) >= {3.0}


@pytest.mark.parametrize("column", ["tenure", "active", "plan", "signup"])
def test_fit_refuses_an_all_missing_column(column: str) -> None:
    train = mixed(30, 0)
    train[column] = np.array([None] * 30, dtype=object) if column == "plan" else np.full(30, np.nan)
    with pytest.raises(Invalid, match=f"column '{column}' has no values.*dropped at ingest"):
        Preprocessor.fit(train, COLUMNS)


def test_fit_refuses_zero_rows() -> None:
    empty = {name: values[:0] for name, values in mixed(5, 0).items()}
    with pytest.raises(Invalid, match="no training rows"):
        Preprocessor.fit(empty, COLUMNS)


def test_fit_refuses_bad_columns_and_values() -> None:
    train = mixed(20, 0)
    with pytest.raises(Invalid, match="only ids"):
        Preprocessor.fit(train, [Column("id", "id")])
    with pytest.raises(Invalid, match="lack column 'tenure'"):
        Preprocessor.fit({k: v for k, v in train.items() if k != "tenure"}, COLUMNS)
    with pytest.raises(Invalid, match="must hold strings"):
        Preprocessor.fit({**train, "plan": np.arange(20.0).astype(object)}, COLUMNS)
    with pytest.raises(Invalid, match="must hold numbers"):
        Preprocessor.fit({**train, "tenure": np.array(["a"] * 20, dtype=object)}, COLUMNS)
    with pytest.raises(Invalid, match="different numbers of rows"):
        Preprocessor.fit({**train, "age": train["age"][:10]}, COLUMNS)
    with pytest.raises(Invalid, match="infinite"):
        Preprocessor.fit({**train, "age": np.full(20, np.inf)}, COLUMNS)
    with pytest.raises(Invalid, match="other than 0, 1"):
        Preprocessor.fit({**train, "active": np.full(20, 2.0)}, COLUMNS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("numeric_impute", "mode", "numeric_impute must be one of median, mean, constant"),
        ("categorical_impute", "median", "categorical_impute must be one of"),
        ("encoding", "target", "encoding must be one of onehot, ordinal"),
        ("max_categories", 1, "at least 2"),
        ("numeric_fill", float("nan"), "finite"),
        ("missing_indicator", "yes", "true or false"),
    ],
)
def test_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        PrepOptions(**{field: value})  # type: ignore[arg-type]


def test_verify_raises_when_the_graph_disagrees(prep: Preprocessor, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = held_out(10, 1)
    shifted = prep.transform(rows) + np.float32(0.5)
    monkeypatch.setattr(prep, "transform", lambda values: shifted)
    with pytest.raises(IntegrityError, match=r"differs from scikit-learn by up to 0\.5"):
        prep.verify(rows)


def test_fit_transform_gives_the_training_rows_features_of_the_fitted_pipeline() -> None:
    rows = mixed(300, seed=5)
    prep, fitted = Preprocessor.fit_transform(rows, COLUMNS)
    assert fitted.dtype == np.float32 and fitted.shape == (300, prep.width)
    np.testing.assert_array_equal(fitted, prep.reference_transform(rows))
    assert prep.verify(rows, reference=fitted) <= 1e-5
