"""The naive design of a tutorial: FastAPI + uvicorn, one ONNX Runtime call per request, pydantic body.

python bench/servers/naive.py MODEL.onnx PORT
"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
app = FastAPI()


class Body(BaseModel):
    instances: list[list[float]]


@app.post("/predict")
def predict(body: Body) -> dict[str, list[list[float]]]:
    _label, probabilities = session.run(None, {"input": np.asarray(body.instances, dtype=np.float32)})
    return {"probabilities": probabilities.tolist()}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
