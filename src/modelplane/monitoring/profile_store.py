"""Reference profiles kept with their model versions: built from a version's lineage (its dataset
version's splits, its own predictions through the runtime serving uses) and stored as its "profile"
artifact, so every version (trained, tuned, retrained, compressed, imported with --reference) is compared
with what it was trained on."""

from __future__ import annotations

import io
import logging
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from modelplane.monitoring.frames import FeatureFrame, OutputFrame, feature_frame
from modelplane.monitoring.profile import ReferenceProfile, build_profile
from modelplane.monitoring.shift_calibration import with_shift_calibration
from modelplane.registry.integrity import version_bytes
from modelplane.registry.registry import add_artifact, get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

log = logging.getLogger(__name__)
_LOCK = threading.Lock()

PROFILE_FORMAT = "profile"
REFERENCE_FORMAT = "reference"  # registry/imports: the --reference rows of an imported version


_CACHE: OrderedDict[str, ReferenceProfile] = OrderedDict()  # by the profile file's sha256
_CACHED = 16


def _stored(store: Store, info: ModelVersionInfo) -> ReferenceProfile:
    """The profile file of `info`, read once per content: the monitor job compares every few minutes."""
    sha = info.artifacts[PROFILE_FORMAT].sha256
    with _LOCK:
        found = _CACHE.get(sha)
        if found is not None:
            _CACHE.move_to_end(sha)
            return found
    profile = ReferenceProfile.from_bytes(version_bytes(store, info, PROFILE_FORMAT))
    with _LOCK:
        _CACHE[sha] = profile
        while len(_CACHE) > _CACHED:
            _CACHE.popitem(last=False)
    return profile


def load_profile(store: Store, version_ref: str) -> ReferenceProfile | None:
    """The stored profile of `version_ref`; None when it has none yet."""
    info = get_version(store, version_ref)
    return _stored(store, info) if PROFILE_FORMAT in info.artifacts else None


def save_profile(store: Store, info: ModelVersionInfo, profile: ReferenceProfile) -> ModelVersionInfo:
    with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
        path = Path(scratch) / "profile.parquet"
        path.write_bytes(profile.to_bytes())
        return add_artifact(store, info, PROFILE_FORMAT, path)


def ensure_profile(store: Store, version_ref: str) -> ReferenceProfile | None:
    """The version's profile, built and stored the first time; None (logged) when the version has no
    training data to describe (an import without --reference)."""
    info = get_version(store, version_ref)
    if PROFILE_FORMAT in info.artifacts:
        return _stored(store, info)
    profile = build_for(store, info)
    if profile is None:
        log.info("%s has no training data in its lineage (nor --reference rows): no drift profile", info.ref)
        return None
    save_profile(store, info, profile)
    return profile


def profile_quietly(store: Store, version_ref: str) -> None:
    """`ensure_profile` for the jobs that register versions: a failure is logged, never the job's."""
    try:
        ensure_profile(store, version_ref)
    except Exception as exc:  # monitoring must never fail the registration it follows
        log.warning("could not build the drift profile of %s: %s: %s", version_ref, type(exc).__name__, exc)


def _answers(info: ModelVersionInfo, predicted: dict[str, np.ndarray]) -> OutputFrame:
    if info.task == "classification":
        classes = list(info.classes or [str(i) for i in range(predicted["probabilities"].shape[1])])
        labels = np.asarray(classes, dtype=object)[np.asarray(predicted["label"], dtype=np.int64)]
        return OutputFrame(label=labels, probabilities=predicted["probabilities"], classes=classes)
    return OutputFrame(prediction=np.asarray(predicted["prediction"], dtype=np.float64))


def build_for(store: Store, info: ModelVersionInfo) -> ReferenceProfile | None:
    """The profile of `info` from its dataset version's splits (rows as served), or from the --reference
    rows of an import; None without either."""
    from modelplane.registry.loading import load_runtime
    from modelplane.registry.tables import signature_of

    if info.dataset is None:
        return _from_reference(store, info) if REFERENCE_FORMAT in info.artifacts else None
    from modelplane.data.catalog import get_version as get_dataset_version
    from modelplane.data.splits import SplitConfig, split_indices
    from modelplane.registry.loading import labels_to_model_indices
    from modelplane.registry.tables import model_inputs

    dataset = get_dataset_version(store, info.dataset)
    features, target = model_inputs(store, info, dataset)
    if target is None:
        return None
    split = SplitConfig(**info.params.get("split", {}))
    rows = split_indices(np.asarray(target), split, stratify=info.task == "classification")
    table = signature_of(store, info)
    runtime = load_runtime(store, info)
    train = feature_frame(np.asarray(features[rows["train"]]), table)
    test = _answers(info, runtime.predict(np.asarray(features[rows["test"]])))
    validation = train_labels = None
    if info.task == "classification":
        known = labels_to_model_indices(info, np.asarray(target[rows["train"]]), dataset.classes)
        train_labels = np.asarray(test.classes, dtype=object)[known]
        x_validation = np.asarray(features[rows["validation"]])
        answers = _answers(info, runtime.predict(x_validation))
        truth = labels_to_model_indices(info, np.asarray(target[rows["validation"]]), dataset.classes)
        validation = (answers, np.asarray(answers.classes, dtype=object)[truth])
    profile = build_profile(
        train,
        test_outputs=test,
        validation=validation,
        task=info.task,
        test_metrics=dict(info.metrics.get("test", {})),
        version=info.ref,
        source=f"{dataset.ref} train split",
        train_labels=train_labels,
    )
    if validation is None:
        return profile
    return with_shift_calibration(profile, runtime.predict, x_validation, np.asarray(truth), table)


def _from_reference(store: Store, info: ModelVersionInfo) -> ReferenceProfile:
    import pyarrow.parquet as pq

    from modelplane.registry.imports.samples import shaped
    from modelplane.registry.loading import load_runtime
    from modelplane.registry.tables import signature_of

    table = pq.read_table(io.BytesIO(version_bytes(store, info, REFERENCE_FORMAT)))
    rows = np.stack(
        [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float32) for c in table.columns], 1
    )
    x = shaped(rows, info.input_shape)
    frame: FeatureFrame = feature_frame(x, signature_of(store, info))
    answers = _answers(info, load_runtime(store, info).predict(x))
    return build_profile(
        frame,
        test_outputs=answers,
        validation=None,
        task=info.task,
        test_metrics=dict(info.metrics.get("test", {})),
        version=info.ref,
        source="the --reference rows given at import",
    )
