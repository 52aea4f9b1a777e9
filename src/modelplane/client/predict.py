"""`Client.predict` over the data plane: named columns go to `/v1/predict` as raw JSON values (the server
matches them by name and reads each by its role, as it does for curl), arrays to V2 infer as one FP32
tensor. Answers come back as numpy arrays: `label` as str (the class names), the rest as numbers."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelplane import errors
from modelplane.client.http import Http, quoted

if TYPE_CHECKING:
    import numpy as np


def reads_columns(http: Http, deployment: str) -> bool:
    """Whether the deployment's model takes named columns (its V2 metadata lists them)."""
    meta = http.json("GET", f"/v2/models/{quoted(deployment)}")
    return "columns" in (meta.get("parameters") or {})


def predict_columns(
    http: Http, deployment: str, columns: Mapping[str, Any], *, strict: bool, source: str | None = None
) -> dict[str, np.ndarray]:
    """Named columns (`modelplane.serving.named` arrays) through `/v1/predict`; columns the model ignored
    are reported as a `Notice` (the server refuses them when `strict`)."""
    from modelplane.serving.named import json_columns

    body = {"inputs": json_columns(columns), "strict": strict}
    found = http.json("POST", f"/v1/predict/{quoted(deployment)}", json=body)
    ignored = found.get("ignored_columns") or []
    if ignored:
        where = f" of {source}" if source else ""
        names = ", ".join(ignored)
        warnings.warn(
            errors.Notice(f"ignored {len(ignored)} column(s){where} the model does not read: {names}"),
            stacklevel=3,
        )
    return outputs_of(found["predictions"])


def outputs_of(predictions: Sequence[Any]) -> dict[str, np.ndarray]:
    """`/v1` predictions (one entry per row) as the runtime contract's arrays: `label` and `probabilities`
    for a classifier, `prediction` (N, k) for a regressor."""
    import numpy as np

    if predictions and isinstance(predictions[0], Mapping):
        names = list(predictions[0])
        out = {name: np.asarray([row[name] for row in predictions]) for name in names}
        if "probabilities" in out:
            out["probabilities"] = out["probabilities"].astype(np.float32)
        return out
    values = np.asarray(predictions, dtype=np.float32)
    return {"prediction": values.reshape(len(values), -1)}


def predict_array(http: Http, deployment: str, rows: Any) -> dict[str, np.ndarray]:
    """Rows as one float matrix in the model's column order, as V2's single FP32 `input`."""
    import numpy as np

    try:
        x = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise errors.Invalid(
            "rows must be numbers (an array or nested lists), rows as dicts, a dict of columns or a "
            f"DataFrame ({exc})"
        ) from None
    body = {
        "inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
    }
    found = http.json("POST", f"/v2/models/{quoted(deployment)}/infer", json=body)
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in found["outputs"]}
