"""The floor of Python gRPC: grpc.aio on uvloop, the V2 ModelInfer method, a handler that does nothing.

No parsing, no model, no metrics: each call is answered with one constant serialised response. Whatever
this server answers per second is the most any servicer written on grpcio can answer in one process on
this machine, so it shows how far modelplane's gRPC row is from what the library allows.

python bench/servers/grpc_floor.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from tritonclient.grpc import service_pb2

from modelplane.serving.loop import run

RESPONSE = service_pb2.ModelInferResponse(model_name="floor", model_version="1").SerializeToString()


async def model_infer(request: bytes, context: Any) -> bytes:
    return RESPONSE


async def serve(port: int) -> None:
    server = grpc.aio.server()
    # No deserializers: the request stays bytes and the response is sent as it is.
    handler = grpc.unary_unary_rpc_method_handler(model_infer)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {"ModelInfer": handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await asyncio.Event().wait()  # until the bench stops the process


if __name__ == "__main__":
    run(serve(int(sys.argv[1])))
