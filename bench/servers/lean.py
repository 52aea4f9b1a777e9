"""The lean design (#23's reference for single-request latency): FastAPI + uvicorn, an `async def` endpoint
that reads the raw body with orjson and calls ONNX Runtime inline on the event loop: no thread hand-off,
no pydantic model, no batching.

python bench/servers/lean.py MODEL.onnx PORT
"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> Response:
    instances = orjson.loads(await request.body())["instances"]
    _label, probabilities = session.run(None, {"input": np.asarray(instances, dtype=np.float32)})
    return Response(orjson.dumps({"probabilities": probabilities.tolist()}), media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
