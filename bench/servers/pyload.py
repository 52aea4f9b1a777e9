"""A Python load generator for comparing gRPC and REST with the same client costs (wrk cannot speak gRPC).

    python bench/servers/pyload.py grpc|rest PORT MODEL FEATURES CONCURRENCY SECONDS
Prints one JSON line: requests/s, p50/p99 ms, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import numpy as np


async def grpc_client(port: int, model: str, features: int):  # type: ignore[no-untyped-def]
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "input", "FP32"
    tensor.shape.extend([1, features])
    request.raw_input_contents.append(np.random.default_rng(0).random((1, features), np.float32).tobytes())

    async def call() -> bool:
        try:
            await stub.ModelInfer(request)
            return True
        except grpc.RpcError:
            return False

    return call


async def rest_client(port: int, model: str, features: int):  # type: ignore[no-untyped-def]
    row = np.random.default_rng(0).random(features).round(4).tolist()
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, features], "datatype": "FP32", "data": row}]}
    )
    raw = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call() -> bool:
        reader, writer = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        pool.append((reader, writer))
        return status.split()[1] == b"200"

    return call


async def main() -> None:
    mode, port, model, features, concurrency, seconds = sys.argv[1:7]
    make = grpc_client if mode == "grpc" else rest_client
    call = await make(int(port), model, int(features))
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + float(seconds)

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            ok = await call()
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(int(concurrency))))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                "rps": len(latencies) / elapsed,
                "p50": float(np.percentile(ms, 50)),
                "p99": float(np.percentile(ms, 99)),
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
