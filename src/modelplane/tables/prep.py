"""The fitted preprocessing pipeline that travels with a tabular model: raw named columns in, features out.

It is fitted with scikit-learn on the training split only, stored with the model version as JSON (no
pickle), and becomes part of the served model as an ONNX graph (``onnx_graph``, ``merged_with``) that is
verified against the scikit-learn pipeline (``verify``). After training everything runs the graph.

    prep = Preprocessor.fit(train_values, columns)
    prep.verify(validation_values)             # the graph agrees with scikit-learn on these rows
    features = prep.transform(values)          # float32 (n, prep.width), through the ONNX graph
    served = prep.merged_with(model_onnx)      # raw columns -> model outputs (+ "unknown")
    stored = prep.to_json()                    # Preprocessor.from_json(stored) builds the same graph
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from modelplane.errors import IntegrityError, Invalid
from modelplane.tables.columns import Column, ColumnValues, feature_columns
from modelplane.tables.prep_merge import merge
from modelplane.tables.prep_onnx import FEATURES, UNKNOWN, Layout, build
from modelplane.tables.prep_params import PrepOptions, PrepParams, is_none, read_values

if TYPE_CHECKING:
    import onnxruntime as ort
    from sklearn.compose import ColumnTransformer

__all__ = ["PrepOptions", "Preprocessor"]


class Preprocessor:
    """A fitted pipeline: its columns, options, output features and the graph that computes them."""

    def __init__(self, params: PrepParams, transformer: ColumnTransformer | None = None) -> None:
        """Use `fit` or `from_json`; `transformer` is the scikit-learn reference, present only after fit."""
        self._params = params
        self._transformer = transformer
        self._session: ort.InferenceSession | None = None
        self.columns: list[Column] = list(params.columns)
        self.options: PrepOptions = params.options
        self.feature_names: list[str] = params.feature_names()
        self.width: int = len(self.feature_names)

    @classmethod
    def fit(
        cls, values: ColumnValues, columns: Sequence[Column], options: PrepOptions | None = None
    ) -> Preprocessor:
        """Fit on the training rows only (`columns` may include ids; they are left out)."""
        return cls.fit_transform(values, columns, options)[0]

    @classmethod
    def fit_transform(
        cls, values: ColumnValues, columns: Sequence[Column], options: PrepOptions | None = None
    ) -> tuple[Preprocessor, np.ndarray]:
        """`fit`, plus the training rows' features by scikit-learn (what `reference_transform` would give
        them), computed while fitting rather than a second time."""
        from modelplane.tables import prep_sklearn

        features = feature_columns(columns)
        if not features:
            raise Invalid(
                "there are no feature columns to preprocess (only ids); give some columns a feature role"
            )
        names = [c.name for c in features]
        if len(set(names)) != len(names):
            raise Invalid(
                f"column names repeat: {sorted({n for n in names if names.count(n) > 1})}; rename them"
            )
        n_rows, arrays = read_values(values, features)
        transformer, params, fitted = prep_sklearn.fit(arrays, n_rows, features, options or PrepOptions())
        return cls(params, transformer), fitted

    def reference_transform(self, values: ColumnValues) -> np.ndarray:
        """float32 (n, width) by the fitted scikit-learn ColumnTransformer, the reference for ``verify``."""
        from modelplane.tables import prep_sklearn

        if self._transformer is None:
            raise Invalid(
                "this pipeline was read from JSON, and only the process that fitted it holds the "
                "scikit-learn pipeline (it is never stored: no pickle); use transform(), which runs the "
                "stored ONNX graph"
            )
        n_rows, arrays = read_values(values, self.columns)
        if n_rows == 0:  # scikit-learn's imputers refuse empty input
            return np.zeros((0, self.width), dtype=np.float32)
        return prep_sklearn.reference_transform(
            self._transformer, prep_sklearn.to_table(arrays, self.columns)
        )

    def transform(self, values: ColumnValues) -> np.ndarray:
        """float32 (n, width) through the ONNX graph, the one every later stage runs."""
        return self._run(values)[0]

    def unknown_counts(self, values: ColumnValues) -> dict[str, int]:
        """Per categorical column, how many values fell in the unknown bucket (rare or never seen at fit)."""
        if not self._params.categorical:
            return {}
        unknown = self._run(values)[1]
        return {c.column: int(n) for c, n in zip(self._params.categorical, unknown.sum(axis=0), strict=True)}

    def verify(
        self, values: ColumnValues, *, atol: float = 1e-5, reference: np.ndarray | None = None
    ) -> float:
        """Max |ONNX - scikit-learn| on these rows; raises IntegrityError above `atol`. `reference`: these
        rows' `reference_transform`, when the caller already has it."""
        if reference is None:
            reference = self.reference_transform(values)
        expected = reference.astype(np.float64)
        got = self.transform(values).astype(np.float64)
        error = np.abs(expected - got)
        worst = float(np.max(error, initial=0.0))
        if not np.all(error <= atol):  # written so that NaN fails too
            row, col = np.unravel_index(np.argmax(np.where(error <= atol, 0.0, np.inf)), error.shape)
            raise IntegrityError(
                f"the preprocessing graph differs from scikit-learn by up to {worst:.3g} (atol {atol:g}), "
                f"first at row {row}, feature {self.feature_names[col]!r}: {got[row, col]!r} vs "
                f"{expected[row, col]!r}; the graph is not faithful, do not serve it (this is a modelplane "
                "bug, report it)"
            )
        return worst

    def to_json(self) -> dict[str, Any]:
        return self._params.to_json()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(PrepParams.from_json(data))

    def onnx_graph(self, *, layout: Layout = "blocks", opset: int | None = None) -> onnx.ModelProto:
        """The preprocessing alone (see tables/prep_onnx.py for its inputs and outputs)."""
        return build(self._params, layout=layout, opset=opset)

    def blocks(self, values: ColumnValues) -> dict[str, np.ndarray]:
        """The feeds of the "blocks" layout from column values."""
        _, arrays = read_values(values, self.columns)
        feeds: dict[str, np.ndarray] = {}
        if self._params.numeric:
            feeds["numeric"] = _stack([arrays[p.column] for p in self._params.numeric], np.float32)
        if self._params.categorical:
            block = _stack([arrays[p.column] for p in self._params.categorical], object)
            block[is_none(block)] = ""
            feeds["categorical"] = block
        if self._params.datetime:
            feeds["datetime"] = _stack([arrays[p.column] for p in self._params.datetime], np.float64)
        return feeds

    def merged_with(
        self, model: onnx.ModelProto, *, layout: Layout = "blocks", in_place: bool = False
    ) -> onnx.ModelProto:
        """One graph: these inputs -> preprocessing -> `model` -> its outputs, plus ``unknown``.

        `model` takes ``input`` float32 [N, width], as modelplane's exporters write it; `in_place` joins
        the preprocessing into `model` itself rather than a copy (a graph loaded just for this).
        """
        return merge(self._params, model, layout=layout, in_place=in_place)

    def _run(self, values: ColumnValues) -> list[np.ndarray]:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                self.onnx_graph().SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        outputs = [FEATURES, UNKNOWN] if self._params.categorical else [FEATURES]
        return list(self._session.run(outputs, self.blocks(values)))


def _stack(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    out = np.empty((len(arrays[0]), len(arrays)), dtype=dtype)
    for j, array in enumerate(arrays):
        out[:, j] = array
    return out
