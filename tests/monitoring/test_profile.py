"""Reference profiles: what they summarise, their one-file form, and the versions that get one."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.local import Local
from modelplane.monitoring.frames import FeatureFrame, OutputFrame
from modelplane.monitoring.profile import SAMPLE_ROWS, ReferenceProfile, build_profile
from modelplane.monitoring.profile_store import PROFILE_FORMAT, ensure_profile, load_profile


def _frame(rows: int) -> FeatureFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(5, 2, rows)
    x[:10] = np.nan
    colour = np.array(["red", "blue", None, "red"] * (rows // 4), dtype=object)
    return FeatureFrame({"x": x, "colour": colour}, {"x": "numeric", "colour": "categorical"})


def test_profile_summarises_each_feature_and_round_trips() -> None:
    frame = _frame(8000)
    answers = OutputFrame(
        label=np.array(["a", "b", "b", "b"] * 50, dtype=object),
        probabilities=np.tile([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]], (50, 1)),
        classes=["a", "b"],
    )
    truth = np.array(["a", "b", "a", "b"] * 50, dtype=object)
    profile = build_profile(
        frame,
        test_outputs=answers,
        validation=(answers, truth),
        task="classification",
        test_metrics={"accuracy": 0.9},
    )
    x, colour = profile.features["x"], profile.features["colour"]
    present = frame.columns["x"][10:]
    assert x.missing_rate == pytest.approx(10 / 8000) and x.low == present.min() and x.high == present.max()
    assert x.mean == pytest.approx(present.mean()) and x.std == pytest.approx(present.std())
    assert len(x.edges) == 9 and sum(x.bins) == pytest.approx(1.0) and max(x.bins) < 0.11
    assert colour.missing_rate == 0.25 and colour.categories == pytest.approx({"red": 2 / 3, "blue": 1 / 3})
    assert len(profile.sample) == SAMPLE_ROWS and profile.rows == 8000
    assert profile.outputs is not None and profile.outputs.class_shares == {"a": 0.25, "b": 0.75}
    assert profile.calibration is not None  # 0.6 -> wrong, 0.7/0.8/0.9 -> right: isotonic gives 0 then 1
    assert profile.calibration(np.array([0.6, 0.9])).tolist() == [0.0, 1.0]
    again = ReferenceProfile.from_bytes(profile.to_bytes())
    assert again.features == profile.features and again.outputs == profile.outputs
    assert again.calibration == profile.calibration and again.test_metrics == {"accuracy": 0.9}
    np.testing.assert_array_equal(again.sample.columns["x"], profile.sample.columns["x"])
    assert again.sample.columns["colour"].tolist() == profile.sample.columns["colour"].tolist()
    # the sample is seeded: the same rows every time
    same = build_profile(frame, test_outputs=None, validation=None, task="classification", test_metrics={})
    np.testing.assert_array_equal(same.sample.columns["x"], profile.sample.columns["x"])


def test_a_trained_version_gets_its_profile_from_its_lineage() -> None:
    platform = Local()
    platform.datasets.add("digits", source="builtin:digits")
    run = platform.train(data="digits", model="logreg")
    ref = run.model_version or ""
    version = platform.models.version(ref)
    assert PROFILE_FORMAT in version.artifacts  # stored by the run itself
    profile = load_profile(platform.store, ref)
    again = ensure_profile(platform.store, ref)
    assert profile is not None and again is not None and again.features == profile.features
    assert profile.version == ref and profile.source == "digits@1 train split"
    assert list(profile.features)[:2] == ["pixel_0_0", "pixel_0_1"] and len(profile.features) == 64
    assert profile.rows == round(1797 * 0.7) or abs(profile.rows - 1797 * 0.7) < 12
    assert profile.outputs is not None and profile.outputs.classes == version.classes
    assert profile.outputs.rows == pytest.approx(1797 * 0.15, abs=12)
    assert profile.calibration is not None and profile.test_metrics == version.metrics["test"]
    assert profile.shift_calibration is not None  # the pixels are numeric features: distance applies
    assert again.shift_calibration == profile.shift_calibration  # stored with the profile


def test_a_version_without_lineage_has_no_profile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import skops.io
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    path = tmp_path / "m.skops"
    skops.io.dump(model, path)
    platform = Local()
    bare = platform.models.import_model("bare", path)
    assert PROFILE_FORMAT not in bare.artifacts and ensure_profile(platform.store, bare.ref) is None
    reference = tmp_path / "ref.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({f"c{i}": x[:, i] for i in range(3)}), reference)
    described = platform.models.import_model("described", path, reference=reference)
    profile = load_profile(platform.store, described.ref)
    assert profile is not None and profile.rows == 40 and list(profile.features) == ["f0", "f1", "f2"]
    assert profile.outputs is not None and profile.outputs.rows == 40 and profile.calibration is None


def test_a_table_version_profiles_its_raw_columns_as_served(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = ["plan,age,churned"]
    for i in range(200):
        age = "" if i % 50 == 7 else str(20 + (i * 7) % 50)
        lines.append(f"{('free', 'pro', 'team')[i % 3]},{age},{'yes' if i % 4 == 0 else 'no'}")
    path = tmp_path / "churn.csv"
    path.write_text("\n".join(lines) + "\n")
    platform = Local()
    platform.datasets.add("churn", source=str(path), target="churned", categorical=("plan",))
    ref = platform.train(data="churn", model="logreg").model_version or ""
    profile = load_profile(platform.store, ref)
    assert profile is not None and profile.rows == 140
    plan, age = profile.features["plan"], profile.features["age"]
    assert plan.kind == "categorical" and set(plan.categories) == {"free", "pro", "team"}
    assert age.kind == "numeric" and 0 < age.missing_rate < 0.05 and age.low is not None and age.low >= 20
    assert profile.outputs is not None and set(profile.outputs.class_shares) <= {"no", "yes"}
    assert profile.shift_calibration is not None  # fitted on copies whose "age" column was corrupted


def test_a_compressed_version_gets_its_own_profile() -> None:
    platform = Local()
    platform.datasets.add("digits", source="builtin:digits")
    ref = platform.train(data="digits", model="mlp", spec={"hidden": [16]}, train={"epochs": 1}).model_version
    small = platform.compress(ref or "", quantize="int8").version.ref
    parent, child = load_profile(platform.store, ref or ""), load_profile(platform.store, small)
    assert parent is not None and child is not None and child.version == small != parent.version
    assert child.features == parent.features  # the same training rows
    assert child.outputs is not None and child.outputs.rows == parent.outputs.rows  # type: ignore[union-attr]
