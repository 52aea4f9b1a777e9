"""LitServe with dynamic batching (max 64, 5 ms), ONNX Runtime inside.

python bench/servers/litserve_server.py MODEL.onnx PORT
"""

# No `from __future__ import annotations`: LitServe reads decode_request's annotation at run time to
# build its endpoint, and a string annotation turns the body into a missing query parameter (422).
import sys
from typing import Any

import litserve as ls
import numpy as np
import onnxruntime as ort


class OnnxAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])

    def decode_request(self, request: dict[str, Any]) -> np.ndarray:
        return np.asarray(request["input"], dtype=np.float32)

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": x})[1]

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, output: np.ndarray) -> dict[str, Any]:
        return {"probabilities": output.tolist()}


if __name__ == "__main__":
    server = ls.LitServer(OnnxAPI(max_batch_size=64, batch_timeout=0.005), accelerator="cpu")
    server.run(host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", generate_client_file=False)
