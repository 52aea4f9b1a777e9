"""Spec validation: every mistake is an Invalid that names the field and how to fix it."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec, family, model_kinds, parse_spec
from modelplane.models.spec import CNNSpec, RNNSpec, image_view, spec_to_dict


def base(kind: str, **fields: Any) -> dict[str, Any]:
    task = "regression" if kind == "regression" else "classification"
    return {"kind": kind, "task": task, "input_shape": [64], "num_outputs": 10, **fields}


@pytest.mark.parametrize("kind", model_kinds())
def test_default_spec_round_trips(kind: str) -> None:
    spec = default_spec(kind, task="classification", input_shape=[64], num_outputs=10, image_shape=[1, 8, 8])
    data = spec_to_dict(spec)
    assert data["kind"] == kind
    assert parse_spec(data) == spec
    assert (family(kind).framework == "torch") == (kind in ("mlp", "cnn", "lstm", "gru"))


def test_round_trip_keeps_non_default_values() -> None:
    spec = parse_spec(base("svm", gamma=0.25, kernel="poly", C=3.0))
    assert parse_spec(spec_to_dict(spec)) == spec
    assert spec_to_dict(spec)["gamma"] == 0.25


def test_unknown_field_is_named() -> None:
    with pytest.raises(Invalid, match=r"field 'hiden'.*remove it"):
        parse_spec(base("mlp", hiden=[32]))


def test_bad_value_is_named() -> None:
    with pytest.raises(Invalid, match=r"field 'hidden.0'"):
        parse_spec(base("mlp", hidden=[0]))
    with pytest.raises(Invalid, match=r"field 'activation'.*'relu', 'gelu' or 'tanh'"):
        parse_spec(base("mlp", activation="swish"))
    with pytest.raises(Invalid, match=r"field 'dropout'"):
        parse_spec(base("cnn", image_shape=[1, 8, 8], dropout=1.0))
    with pytest.raises(Invalid, match=r"field 'gamma'.*'scale', 'auto' or a number > 0"):
        parse_spec(base("svm", gamma=-1))


def test_unknown_kind_lists_kinds() -> None:
    with pytest.raises(Invalid, match=r"field 'kind': unknown kind 'transformer'.*mlp, cnn"):
        parse_spec(base("transformer"))
    with pytest.raises(Invalid, match=r"unknown model kind 'transformer'.*random_forest"):
        default_spec("transformer", task="classification", input_shape=[4], num_outputs=2)
    with pytest.raises(Invalid, match=r"field 'kind'"):
        parse_spec({"task": "classification", "input_shape": [4], "num_outputs": 2})


def test_logreg_regression_suggests_alternatives() -> None:
    with pytest.raises(Invalid, match=r"field 'task'.*logreg is classification only.*gbdt"):
        parse_spec({"kind": "logreg", "task": "regression", "input_shape": [4], "num_outputs": 1})


def test_cnn_flat_input_needs_image_shape() -> None:
    with pytest.raises(Invalid, match=r"field 'image_shape'.*required.*\[1, 8, 8\]"):
        parse_spec(base("cnn"))
    with pytest.raises(Invalid, match=r"field 'image_shape'.*holds 72 values"):
        parse_spec(base("cnn", image_shape=[1, 8, 9]))
    spec = parse_spec(base("cnn", image_shape=[1, 8, 8]))
    assert isinstance(spec, CNNSpec) and spec.chw() == (1, 8, 8)


@pytest.mark.parametrize(("shape", "chw"), [([28, 28], (1, 28, 28)), ([3, 8, 8], (3, 8, 8))])
def test_cnn_derives_image_view(shape: list[int], chw: tuple[int, int, int]) -> None:
    spec = parse_spec({"kind": "cnn", "task": "classification", "input_shape": shape, "num_outputs": 3})
    assert isinstance(spec, CNNSpec) and spec.chw() == chw


@pytest.mark.parametrize(
    ("shape", "extra", "tf"),
    [
        ([20, 3], {}, (20, 3)),
        ([12], {}, (12, 1)),
        ([3, 8, 6], {}, (8, 18)),
        ([64], {"image_shape": [1, 8, 8]}, (8, 8)),
        ([64], {"sequence_shape": [16, 4]}, (16, 4)),
    ],
)
def test_rnn_sequence_views(shape: list[int], extra: dict[str, Any], tf: tuple[int, int]) -> None:
    spec = parse_spec({"kind": "gru", "task": "regression", "input_shape": shape, "num_outputs": 1, **extra})
    assert isinstance(spec, RNNSpec) and spec.tf() == tf


def test_rnn_view_must_match_input() -> None:
    with pytest.raises(Invalid, match=r"field 'sequence_shape'"):
        parse_spec(base("lstm", sequence_shape=[10, 10]))


def test_output_counts_are_checked() -> None:
    with pytest.raises(Invalid, match=r"field 'num_outputs'.*>= 2"):
        parse_spec(base("mlp", num_outputs=1))
    with pytest.raises(Invalid, match=r"field 'num_outputs'.*random_forest or mlp"):
        parse_spec({"kind": "gbdt", "task": "regression", "input_shape": [4], "num_outputs": 2})
    spec = parse_spec({"kind": "random_forest", "task": "regression", "input_shape": [4], "num_outputs": 2})
    assert spec.num_outputs == 2


def test_default_spec_overrides_are_validated() -> None:
    spec = default_spec(
        "mlp", task="classification", input_shape=[64], num_outputs=10, overrides={"hidden": [8]}
    )
    assert spec_to_dict(spec)["hidden"] == [8]
    with pytest.raises(Invalid, match=r"field 'hidden'"):
        default_spec(
            "mlp", task="classification", input_shape=[64], num_outputs=10, overrides={"hidden": "x"}
        )
    with pytest.raises(Invalid, match=r"'kind'"):
        default_spec(
            "mlp", task="classification", input_shape=[64], num_outputs=10, overrides={"kind": "cnn"}
        )


def test_default_spec_passes_image_shape_to_image_models_only() -> None:
    kwargs: dict[str, Any] = {"task": "classification", "input_shape": [64], "num_outputs": 10}
    assert spec_to_dict(default_spec("cnn", image_shape=[1, 8, 8], **kwargs))["image_shape"] == [1, 8, 8]
    lstm = default_spec("lstm", image_shape=[1, 8, 8], **kwargs)
    assert isinstance(lstm, RNNSpec) and lstm.tf() == (8, 8)
    assert "image_shape" not in spec_to_dict(default_spec("mlp", image_shape=[1, 8, 8], **kwargs))


def test_image_view() -> None:
    assert image_view(parse_spec(base("mlp"))) is None
    assert image_view(parse_spec(base("mlp", input_shape=[8, 8]))) == (1, 8, 8)
    assert image_view(parse_spec(base("cnn", image_shape=[1, 8, 8]))) == (1, 8, 8)


def test_non_mapping_is_invalid() -> None:
    with pytest.raises(Invalid, match="mapping"):
        parse_spec([1, 2])  # type: ignore[arg-type]
