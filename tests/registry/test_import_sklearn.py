"""Importing scikit-learn models: skops files and MLflow folders, trusted types explicit, pickle refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.registry.imports import ImportOptions, import_model
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import list_models
from modelplane.store import Store
from tests.registry.import_files import iris_like

TREE = "sklearn.tree._tree.Tree"  # forests' node storage: skops trusts it only when told


def _forest(tmp_path: Path) -> tuple[Path, object, np.ndarray]:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris_like()
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)).fit(x, y)
    path = tmp_path / "forest.skops"
    sio.dump(model, path)
    return path, model, x


def test_skops_pipeline_imports_as_an_onnx_graph_that_agrees_with_sklearn(
    store: Store, tmp_path: Path
) -> None:
    path, model, x = _forest(tmp_path)
    with pytest.raises(Invalid, match=r"--trust sklearn\.tree\._tree\.Tree") as refused:
        import_model(store, "forest", path)
    assert "\n" not in str(refused.value) and list_models(store) == []
    options = ImportOptions(classes=("small", "mid", "large"), trust=(TREE,))
    info = import_model(store, "forest", path, options)

    assert info.task == "classification" and info.framework == "onnx"
    assert info.classes == ["small", "mid", "large"]
    assert {"onnx", "skops"} <= set(info.artifacts)
    imported = info.params["imported"]
    assert imported["format"] == "skops"
    assert TREE in imported["trusted_types"]
    assert "sklearn.ensemble._forest.RandomForestClassifier" in imported["trusted_types"]
    out = load_runtime(store, info).predict(x)
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(x), atol=1e-5)  # type: ignore[attr-defined]


def test_skops_regressor_task_comes_from_the_estimator(store: Store, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import Ridge

    x, y = iris_like()
    model = Ridge().fit(x, y.astype(float))
    sio.dump(model, tmp_path / "ridge.skops")
    info = import_model(store, "ridge", tmp_path / "ridge.skops")
    assert info.task == "regression" and info.classes is None
    np.testing.assert_allclose(
        load_runtime(store, info).predict(x)["prediction"][:, 0], model.predict(x), atol=1e-4
    )
    with pytest.raises(Invalid, match="a regression model; drop --task classification"):
        import_model(store, "ridge", tmp_path / "ridge.skops", ImportOptions(task="classification"))


class Doubler:
    """A type skops does not know: loading it runs this module's code."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Doubler:
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x * 2


def test_untrusted_types_are_refused_naming_them_and_the_flag(store: Store, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x, y = iris_like()
    sio.dump(make_pipeline(Doubler(), LogisticRegression()).fit(x, y), tmp_path / "odd.skops")
    with pytest.raises(Invalid) as refused:
        import_model(store, "odd", tmp_path / "odd.skops")
    message = str(refused.value)
    assert "tests.registry.test_import_sklearn.Doubler" in message
    assert "--trust tests.registry.test_import_sklearn.Doubler" in message and "\n" not in message
    assert list_models(store) == []
    # Trusted, it loads; skl2onnx has no converter for it, which is refused in one line too.
    with pytest.raises(Invalid, match="cannot be converted to ONNX"):
        import_model(
            store,
            "odd",
            tmp_path / "odd.skops",
            ImportOptions(trust=("tests.registry.test_import_sklearn.Doubler",)),
        )
    assert list_models(store) == []


def test_mlflow_sklearn_folder_saved_with_skops_imports(store: Store, tmp_path: Path) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    x, y = iris_like()
    model = LogisticRegression(max_iter=500).fit(x, y)
    mlflow.sklearn.save_model(model, str(tmp_path / "mlf"), serialization_format="skops", pip_requirements=[])
    info = import_model(store, "mlf", tmp_path / "mlf")

    imported = info.params["imported"]
    assert (imported["format"], imported["flavor"]) == ("mlflow", "sklearn")
    assert imported["mlflow_version"] == mlflow.__version__
    assert info.classes == ["0", "1", "2"]
    np.testing.assert_allclose(
        load_runtime(store, info).predict(x)["probabilities"], model.predict_proba(x), atol=1e-5
    )


def test_mlflow_onnx_folder_imports(store: Store, tmp_path: Path) -> None:
    import mlflow.onnx
    import onnx

    from tests.registry.import_files import expected_logits, linear_onnx

    mlflow.onnx.save_model(
        onnx.load(str(linear_onnx(tmp_path / "m.onnx"))), str(tmp_path / "mlf"), pip_requirements=[]
    )
    info = import_model(store, "mlo", tmp_path / "mlf", ImportOptions(task="classification"))
    assert info.params["imported"]["flavor"] == "onnx"
    x = np.eye(4, dtype=np.float32)
    assert (load_runtime(store, info).predict(x)["label"] == expected_logits(x).argmax(1)).all()


def test_mlflow_pickle_flavours_are_refused_naming_what_is_there(store: Store, tmp_path: Path) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    x, y = iris_like()
    model = LogisticRegression(max_iter=500).fit(x, y)
    mlflow.sklearn.save_model(
        model, str(tmp_path / "pkl"), serialization_format="cloudpickle", pip_requirements=[]
    )
    with pytest.raises(Invalid) as refused:
        import_model(store, "pkl", tmp_path / "pkl")
    message = str(refused.value)
    assert "python_function, sklearn (cloudpickle)" in message and "serialization_format='skops'" in message
    only_pyfunc = tmp_path / "pyfunc"
    only_pyfunc.mkdir()
    (only_pyfunc / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mine\n")
    with pytest.raises(Invalid, match="has MLflow flavours python_function; modelplane imports onnx"):
        import_model(store, "pyfunc", only_pyfunc)
    assert list_models(store) == []
