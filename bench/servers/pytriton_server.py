"""NVIDIA PyTriton (#23's gRPC reference): Triton Inference Server's C++ HTTP/gRPC front end and dynamic
batcher, with the ONNX model run by ONNX Runtime in a Python callback.

PYTRITON_PYTHON bench/servers/pytriton_server.py MODEL.onnx NAME HTTP_PORT GRPC_PORT METRICS_PORT

Runs in its own virtualenv made with Debian's /usr/bin/python3.11 (PyTriton's bundled stub links the
system libpython): `make .venv-pytriton/.installed` (or `make bench`) builds it; bench/serve.py skips
the row where it is missing.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

onnx_path, name, http_port, grpc_port, metrics_port = sys.argv[1:6]
options = ort.SessionOptions()  # as modelplane's ONNX runtime sets it: every usable core, no spinning
options.intra_op_num_threads = len(os.sched_getaffinity(0))
options.inter_op_num_threads = 1
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


@batch
def infer(input: np.ndarray) -> dict[str, np.ndarray]:
    _label, probabilities = session.run(None, {"input": input.astype(np.float32, copy=False)})
    return {"probabilities": probabilities}


config = TritonConfig(
    http_address="127.0.0.1",
    http_port=int(http_port),
    grpc_address="127.0.0.1",
    grpc_port=int(grpc_port),
    metrics_address="127.0.0.1",
    metrics_port=int(metrics_port),
)
with Triton(config=config) as triton:
    triton.bind(
        model_name=name,
        infer_func=infer,
        inputs=[Tensor(name="input", dtype=np.float32, shape=(-1,))],
        outputs=[Tensor(name="probabilities", dtype=np.float32, shape=(-1,))],
        config=ModelConfig(max_batch_size=64, batcher=DynamicBatcher(max_queue_delay_microseconds=100)),
    )
    triton.serve()
