"""The V2 / Open Inference Protocol gRPC front end (`inference.GRPCInferenceService`) over a service.

Messages and service wiring come from the stubs generated in `tritonclient.grpc`, so field numbers are the
ones standard clients speak. Every failure travels as a gRPC status code with the error's message; typed
errors keep their meaning (NotFound -> NOT_FOUND, Invalid -> INVALID_ARGUMENT, ...). A `Gate`, when
given, reads the `authorization` / `x-api-key` metadata and guards the model RPCs exactly as the REST
front end guards their routes (the health and server-metadata RPCs stay open, as probes need). With a
`ModelRepository`, the repository, model configuration and statistics extension RPCs answer as their REST
routes do (`serving.rest_repository`), from the same dicts parsed into the protobuf messages.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as config_pb
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from modelplane.errors import (
    Conflict,
    DeadlineExceeded,
    Forbidden,
    Invalid,
    ModelplaneError,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    Unauthorized,
    Unavailable,
)
from modelplane.serving.accounting import FailureLog, RequestAccounting
from modelplane.serving.codec import Nonfinite, policy
from modelplane.serving.grpc_codec import decode_request, encode_response, model_metadata_response
from modelplane.serving.limits import check_rows
from modelplane.serving.types import (
    REPOSITORY_EXTENSIONS,
    Credentials,
    Gate,
    InferenceService,
    InferRequest,
    ModelRepository,
)

if TYPE_CHECKING:
    from modelplane.security.roles import Action

log = logging.getLogger(__name__)

# What this front end implements beyond the core protocol (binary_tensor_data is HTTP-only).
GRPC_EXTENSIONS = ("parameters",)
# First match wins; anything else that is a ModelplaneError is INTERNAL.
_STATUS: tuple[tuple[type[ModelplaneError], grpc.StatusCode], ...] = (
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Invalid, grpc.StatusCode.INVALID_ARGUMENT),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION),
)
_UNIMPLEMENTED = (
    "ModelStreamInfer",
    "SystemSharedMemoryStatus",
    "SystemSharedMemoryRegister",
    "SystemSharedMemoryUnregister",
    "CudaSharedMemoryStatus",
    "CudaSharedMemoryRegister",
    "CudaSharedMemoryUnregister",
    "TraceSetting",
    "LogSettings",
)

Metadata = tuple[tuple[str, str], ...]


def status_of(exc: Exception, model: str) -> tuple[grpc.StatusCode, str, Metadata]:
    """The status, message and trailing metadata a failure is answered with; unexpected ones are logged."""
    if isinstance(exc, ModelplaneError):
        for kind, code in _STATUS:
            if isinstance(exc, kind):
                if isinstance(exc, (Unavailable, QuotaExceeded)):
                    return code, str(exc), (("retry-after", str(max(1, math.ceil(exc.retry_after)))),)
                return code, str(exc), ()
        log.error("request to model %r failed: %s", model, exc, exc_info=exc)
        return grpc.StatusCode.INTERNAL, str(exc), ()
    log.exception("internal error serving model %r", model)
    target = f"model {model!r}" if model else "the request"
    message = f"internal error serving {target}: {type(exc).__name__}: {exc} (see the server log)"
    return grpc.StatusCode.INTERNAL, message, ()


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The core V2 RPCs; the protocol's extension RPCs answer UNIMPLEMENTED."""

    def __init__(
        self,
        service: InferenceService,
        *,
        metrics: Any | None = None,
        nonfinite: Nonfinite = "reject",
        gate: Gate | None = None,
        repository: ModelRepository | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        if nonfinite not in ("reject", "allow"):
            raise Invalid(f"nonfinite must be 'reject' or 'allow', got {nonfinite!r}")
        self.service = service
        self.gate = gate
        self.repository = repository
        self.nonfinite: Nonfinite = nonfinite
        self._accounting = RequestAccounting("grpc", metrics=metrics, gate=gate, failures=failures)

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=self.service.server_live())

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.service.server_ready())

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """An unknown model is simply not ready (as in Triton), so readiness polls need no error handling."""
        try:
            self._enter(context, request.name)
            ready = self.service.model_ready(request.name, request.version or None)
        except NotFound:
            ready = False
        except Exception as exc:
            await context.abort(*status_of(exc, request.name))
        return pb.ModelReadyResponse(ready=ready)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        meta = self.service.server_metadata()
        return pb.ServerMetadataResponse(
            name=str(meta.get("name", "modelplane")),
            version=str(meta.get("version", "")),
            extensions=GRPC_EXTENSIONS + (REPOSITORY_EXTENSIONS if self.repository is not None else ()),
        )

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            self._enter(context, request.name)
            meta = self.service.model_metadata(request.name, request.version or None)
        except Exception as exc:
            await context.abort(*status_of(exc, request.name))
        return model_metadata_response(meta)

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = perf_counter()
        model, version = request.model_name, request.model_version or None
        caller: Any = None
        samples = 0
        try:
            caller = self._enter(context, model)
            meta = self.service.model_metadata(model, version)
            self.service.check_room(model, version)
            infer_request = decode_request(request, policy(self.nonfinite, meta.takes_missing))
            samples = _samples(infer_request)
            check_rows(meta, samples)
            if caller is not None:
                self.gate.admit(caller, samples)  # type: ignore[union-attr]
                infer_request.key_id = getattr(caller, "key_id", None)
            result = await self.service.infer(infer_request)
            response = encode_response(result, infer_request.id)
        except asyncio.CancelledError:  # the client left, or its deadline passed, mid-request
            self._accounting.record(caller, model, version, None, "CANCELLED", perf_counter() - started, 0)
            raise
        except Exception as exc:
            code, message, trailing = status_of(exc, model)
            # Recorded first: abort answers at once.
            self._accounting.record(
                caller, model, version, None, code.name, perf_counter() - started, samples
            )
            await context.abort(code, message, trailing_metadata=trailing)
        self._accounting.record(
            caller, model, version, result.version, "OK", perf_counter() - started, samples
        )
        return response

    def _enter(self, context: grpc.aio.ServicerContext, model: str) -> Any:
        """The caller the gate admits to `model` (None without a gate)."""
        if self.gate is None:
            return None
        return self.gate.enter(_credentials(context), model)

    # the repository, configuration and statistics extensions -------------------------------------------
    def _repository(
        self, context: grpc.aio.ServicerContext, action: Action, rpc: str
    ) -> tuple[ModelRepository, str]:
        """The repository and who asks, once the caller may do `action` (deployments:read or deploy)."""
        by = "anonymous"
        if self.gate is not None:
            by = self.gate.authorize(_credentials(context), action).actor
        if self.repository is None:
            raise Unimplemented(f"{rpc} is not supported by this modelplane server")
        return self.repository, by

    async def RepositoryIndex(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            repository, _ = self._repository(context, "deployments:read", "RepositoryIndex")
            entries = await repository.index(request.ready)
        except Exception as exc:
            await self._abort(context, exc, "")
        return json_format.ParseDict({"models": entries}, pb.RepositoryIndexResponse())

    async def RepositoryModelLoad(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            repository, by = self._repository(context, "deploy", "RepositoryModelLoad")
            await repository.load(request.model_name, _parameters(request.parameters), by)
        except Exception as exc:
            await self._abort(context, exc, request.model_name)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            repository, by = self._repository(context, "deploy", "RepositoryModelUnload")
            await repository.unload(request.model_name, _parameters(request.parameters), by)
        except Exception as exc:
            await self._abort(context, exc, request.model_name)
        return pb.RepositoryModelUnloadResponse()

    async def ModelConfig(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            repository, _ = self._repository(context, "deployments:read", "ModelConfig")
            config = repository.config(request.name, request.version or None)
        except Exception as exc:
            await self._abort(context, exc, request.name)
        return pb.ModelConfigResponse(config=json_format.ParseDict(config, config_pb.ModelConfig()))

    async def ModelStatistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            repository, _ = self._repository(context, "deployments:read", "ModelStatistics")
            stats = repository.statistics(request.name, request.version or None)
        except Exception as exc:
            await self._abort(context, exc, request.name)
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, exc: Exception, model: str) -> None:
        if isinstance(exc, Unimplemented):
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        await context.abort(*status_of(exc, model))


class Unimplemented(Exception):
    """This server was started without a model repository."""


def _credentials(context: grpc.aio.ServicerContext) -> Credentials:
    authorization = api_key = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value if isinstance(value, str) else value.decode("latin-1")
        elif key == "x-api-key":
            api_key = value if isinstance(value, str) else value.decode("latin-1")
    return Credentials(authorization, api_key)


def _parameters(parameters: Any) -> dict[str, Any]:
    """A repository request's `map<string, ModelRepositoryParameter>` as plain values."""
    return {
        name: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for name, value in parameters.items()
    }


def _unimplemented(name: str) -> Any:
    async def method(self: InferenceServicer, request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, f"{name} is not supported by this modelplane server"
        )

    method.__name__ = name
    return method


# The generated base class answers these with synchronous methods, which a grpc.aio server cannot run.
for _name in _UNIMPLEMENTED:
    setattr(InferenceServicer, _name, _unimplemented(_name))


def _samples(request: InferRequest) -> int:
    first = next(iter(request.inputs.values()))
    return len(first) if first.ndim else 1


async def start_grpc_server(
    service: InferenceService,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    metrics: Any | None = None,
    max_message_bytes: int = 64 * 2**20,
    nonfinite: Nonfinite = "reject",
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    gate: Gate | None = None,
    tls: tuple[bytes, bytes] | None = None,
    repository: ModelRepository | None = None,
    failures: FailureLog | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving on `host:port` (0 picks a free port); returns the server and the bound port.
    `tls` is (certificate chain PEM, private key PEM): the port then speaks TLS only. `failures` is told
    of failed inferences for the prediction log."""
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on the same port is an error, not a silent split
        ],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(
            service, metrics=metrics, nonfinite=nonfinite, gate=gate, repository=repository, failures=failures
        ),
        server,
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([(tls[1], tls[0])]))
    except RuntimeError:  # grpc reports the cause (usually "Address already in use") in its own log
        raise Conflict(
            f"cannot serve gRPC on {address}: the port is in use or not allowed; pick another --grpc-port"
        ) from None
    await server.start()
    return server, bound
