"""POST /api/v1/deployments takes the runtime in the spec; a choice that cannot serve the version is a 400
naming the version and the fix, and nothing is saved."""

from __future__ import annotations

from pathlib import Path

from modelplane.registry.registry import NewVersion, register
from tests.api.conftest import Control


def test_the_runtime_travels_in_the_spec_and_bad_choices_are_400(control: Control, tmp_path: Path) -> None:
    weights = tmp_path / "w"
    weights.write_bytes(b"never loaded")
    spec = {"kind": "mlp", "input_shape": [4], "num_outputs": 3}
    register(control.store, NewVersion("small", "classification", "torch", "mlp", spec, weights, {}, {}))
    headers = control.headers("developer")

    def deploy(runtime: str) -> tuple[int, dict[str, object]]:
        body = {"spec": {"model": "small@1", "runtime": runtime}}
        response = control.http.post("/api/v1/deployments", json=body, headers=headers)
        return response.status_code, response.json()

    assert deploy("onnxruntime") == (
        400,
        {
            "error": "small@1 has no ONNX graph (its export failed when it was registered), so ONNX Runtime "
            "cannot serve it; use runtime native"
        },
    )
    status, body = deploy("tensorrt")
    assert status == 400 and "unknown runtime 'tensorrt'" in str(body["error"])
    assert control.http.get("/api/v1/deployments", headers=headers).json()["items"] == []
    status, body = deploy("native")
    assert status == 201 and body["spec"]["runtime"] == "native"  # type: ignore[index]
    shown = control.http.get("/api/v1/deployments/small", headers=headers).json()
    assert shown["spec"]["runtime"] == "native"
