"""The data plane's REST front end: KServe V2 (with Triton's binary tensors), `/v1/predict`, `/metrics`.

A raw ASGI callable with its own router rather than FastAPI routes: the infer path is a few string tests
to route, one orjson parse, numpy decoding, the service call, one orjson dump and two `send`s; no
pydantic, no middleware stack, no per-request Request/Response objects. A large request (a body of
`LARGE_BODY` bytes or more, an answer of more than `PIECE_ROWS` rows) is decoded and encoded in a worker
thread, a piece at a time, so the event loop keeps answering small requests meanwhile; its body is
bounded by the deployment's limit (`serving.limits`), and its freed memory goes back to the system.
Every answer, errors included, has a JSON body `{"error": ...}` when it is not a success, because V2
clients decode that key.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from time import perf_counter
from typing import Any, Literal, NamedTuple

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelplane.errors import (
    DeadlineExceeded,
    Invalid,
    ModelplaneError,
    PayloadTooLarge,
    QuotaExceeded,
    Unavailable,
)
from modelplane.serving.accounting import FailureLog, RequestAccounting
from modelplane.serving.codec import policy
from modelplane.serving.json_numbers import LARGE_BODY, PIECE_ROWS
from modelplane.serving.limits import check_rows
from modelplane.serving.memory import MemoryReturn
from modelplane.serving.rest_repository import (
    CONTROL_POSTS,
    MAX_BODY,
    READS,
    answer,
    repository_route,
)
from modelplane.serving.rest_v1 import decode_predict, encode_predict
from modelplane.serving.rest_v2 import decode_infer, encode_infer
from modelplane.serving.types import (
    REPOSITORY_EXTENSIONS,
    Credentials,
    Gate,
    InferenceService,
    InferRequest,
    ModelRepository,
)

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
_JSON = (b"content-type", b"application/json")
_OCTETS = (b"content-type", b"application/octet-stream")
_OK_LIVE = orjson.dumps({"live": True})
_OK_READY = orjson.dumps({"ready": True})
_STATIC = {
    "/v2/health/live": "live",
    "/v2/health/ready": "ready",
    "/v2": "server",
    "/v2/": "server",
    "/metrics": "metrics",
    "/v2/repository/index": "repository_index",
    "/v2/models/stats": "stats",  # every model's statistics; a deployment named "stats": .../versions/V
}
_INFER = {"infer": "POST", "predict": "POST"}
_METHOD = {**_INFER, **CONTROL_POSTS}  # every other route is GET
_MODEL_ACTIONS = {"infer": "infer", "ready": "model_ready", "config": "config", "stats": "stats"}
_EXTENSION = "binary_tensor_data"  # implemented here, so advertised whatever the service says
_CLIENT_GONE = 499  # the status recorded (never sent) when the client hangs up mid-request
_PUBLIC = ("live", "ready", "server")  # answered without credentials: probes and clients' handshakes


class Reply(NamedTuple):
    status: int
    body: bytes
    headers: Headers


class _Disconnected(Exception):
    """The client went away before its body arrived: nobody to answer."""


def route(path: str) -> tuple[str, str, str | None] | None:
    """(action, model, version) for a path, or None; `/versions/{v}` is optional on model routes."""
    action = _STATIC.get(path)
    if action is not None:
        return action, "", None
    if path.startswith("/v2/models/"):
        parts = path[11:].split("/")
    elif path.startswith("/v1/predict/"):
        parts = path[12:].split("/")
    else:
        return repository_route(path)
    model, rest, version = parts[0], parts[1:], None
    if len(rest) >= 2 and rest[0] == "versions":
        version, rest = rest[1], rest[2:]
        if not version:
            return None
    if not model:
        return None
    if path[2] == "1":
        return ("predict", model, version) if not rest else None
    if not rest:
        return "model", model, version
    if len(rest) == 1 and rest[0] in _MODEL_ACTIONS:
        return _MODEL_ACTIONS[rest[0]], model, version
    return None


def error_reply(status: int, message: str, headers: Headers | None = None) -> Reply:
    return Reply(status, orjson.dumps({"error": message}), [_JSON, *(headers or [])])


def failure_reply(exc: Exception, model: str) -> Reply:
    """Typed errors keep their status and message; anything else is a logged 500 that names its type."""
    if isinstance(exc, ModelplaneError):
        headers: Headers = []
        if isinstance(exc, (Unavailable, QuotaExceeded)):
            headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
        elif isinstance(exc, PayloadTooLarge):
            headers.append((b"connection", b"close"))  # the rest of the body was never read
        elif exc.status_code >= 500 and not isinstance(exc, DeadlineExceeded):
            log.error("request to model %r failed: %s", model, exc, exc_info=exc)
        return error_reply(exc.status_code, str(exc), headers)
    log.exception("internal error serving model %r", model)
    target = f"model {model!r}" if model else "the request"
    return error_reply(
        500, f"internal error serving {target}: {type(exc).__name__}: {exc} (see the server log)"
    )


class RestApp:
    """The ASGI callable; one instance serves every connection uvicorn hands it."""

    def __init__(
        self,
        service: InferenceService,
        *,
        metrics: Any | None,
        max_body_bytes: int,
        nonfinite: Literal["reject", "allow"],
        gate: Gate | None,
        repository: ModelRepository | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        self.service = service
        self.gate = gate
        self.repository = repository
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.nonfinite: Literal["reject", "allow"] = nonfinite
        self._accounting = RequestAccounting("rest", metrics=metrics, gate=gate, failures=failures)
        self._memory = MemoryReturn()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        path, method = scope["path"], scope["method"]
        found = route(path)
        reply: Reply | None
        if found is None:
            reply = error_reply(404, f"no route {path}; the inference API is under /v2 (KServe V2)")
        elif method != _METHOD.get(found[0], "GET"):
            allowed = _METHOD.get(found[0], "GET")
            reply = error_reply(
                405, f"{method} is not allowed on {path}; use {allowed}", [(b"allow", allowed.encode())]
            )
        elif found[0] in _INFER:
            reply, large = await self._infer(scope, receive, *found)
            if large:
                self._memory.trim_soon()
        elif found[0] in _METHOD or found[0] in READS:
            reply = await self._control(scope, receive, *found)
        else:
            reply = self._get(scope, *found)
        if reply is None:
            return
        headers = reply.headers
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _infer(
        self, scope: Scope, receive: Receive, action: str, model: str, version: str | None
    ) -> tuple[Reply | None, bool]:
        """The reply (None: the client left), and whether the request was large."""
        started = perf_counter()
        served: str | None = None
        samples = 0
        reply: Reply | None
        caller: Any = None
        gate = self.gate
        large = False
        try:
            if gate is not None:
                caller = gate.enter(_credentials(scope), model)
            meta = self.service.model_metadata(model, version)
            self.service.check_room(model, version)
            limit = self.max_body_bytes
            if meta.max_body_bytes is not None:
                limit = min(limit, meta.max_body_bytes)
            body, header_length = await self._read_body(scope, receive, limit)
            nonfinite = policy(self.nonfinite, meta.takes_missing)
            large = len(body) >= LARGE_BODY
            fmt = None
            if action == "infer":
                if large:
                    request, fmt = await asyncio.to_thread(
                        decode_infer, model, version, body, header_length, nonfinite
                    )
                else:
                    request, fmt = decode_infer(model, version, body, header_length, nonfinite)
            elif large:
                request = await asyncio.to_thread(decode_predict, model, version, body, meta, nonfinite)
            else:
                request = decode_predict(model, version, body, meta, nonfinite)
            del body  # a large body's memory goes while the request computes
            rows = _samples(request)
            check_rows(meta, rows)
            if gate is not None:
                gate.admit(caller, rows)
                request.key_id = getattr(caller, "key_id", None)
            result = await self.service.infer(request)
            served, samples = result.version, rows
            large = large or rows > PIECE_ROWS
            if fmt is not None:
                if large:
                    out, json_length = await asyncio.to_thread(encode_infer, result, request.id, fmt)
                else:
                    out, json_length = encode_infer(result, request.id, fmt)
                if json_length is None:
                    reply = Reply(200, out, [_JSON])
                else:
                    reply = Reply(
                        200, out, [_OCTETS, (b"inference-header-content-length", str(json_length).encode())]
                    )
            else:
                encoded = await asyncio.to_thread(encode_predict, result) if large else encode_predict(result)
                reply = Reply(200, encoded, [_JSON])
        except _Disconnected:
            reply = None
        except Exception as exc:  # every failure becomes a JSON answer, never a bare 500 from uvicorn
            reply = failure_reply(exc, model)
        status = _CLIENT_GONE if reply is None else reply.status
        self._accounting.record(caller, model, version, served, status, perf_counter() - started, samples)
        return reply, large

    async def _read_body(
        self, scope: Scope, receive: Receive, limit: int
    ) -> tuple[bytes | bytearray, int | None]:
        """The whole body, refused with 413 as soon as it is known to exceed the limit."""
        length = header_length = encoding = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"inference-header-content-length":
                header_length = value
            elif key == b"content-encoding":
                encoding = value
        if length is not None and _integer(length, "Content-Length") > limit:
            raise _too_large(limit)
        message = await receive()
        body: bytes | bytearray = message.get("body", b"")
        if message.get("more_body", False):
            buffer = bytearray(body)
            while message.get("more_body", False):
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                buffer += message.get("body", b"")
                if len(buffer) > limit:
                    raise _too_large(limit)
            body = buffer
        elif message["type"] == "http.disconnect":
            raise _Disconnected
        if len(body) > limit:
            raise _too_large(limit)
        if encoding is not None and encoding != b"identity":
            body = _decompress(body, encoding, limit)
        if header_length is None:
            return body, None
        return body, _integer(header_length, "Inference-Header-Content-Length")

    async def _control(
        self, scope: Scope, receive: Receive, action: str, model: str, version: str | None
    ) -> Reply | None:
        """The repository, configuration and statistics extensions (`serving.rest_repository`)."""
        try:
            body: bytes | bytearray = b""
            if action in _METHOD:
                body, _ = await self._read_body(scope, receive, MAX_BODY)
            credentials = _credentials(scope)
            out = await answer(self.repository, self.gate, credentials, action, model, version, body)
            return Reply(200, out, [_JSON])
        except _Disconnected:
            return None
        except Exception as exc:
            return failure_reply(exc, model)

    def _get(self, scope: Scope, action: str, model: str, version: str | None) -> Reply:
        service = self.service
        try:
            if self.gate is not None and action not in _PUBLIC:
                self.gate.enter(_credentials(scope), model or None)
            if action == "model":
                return Reply(200, orjson.dumps(service.model_metadata(model, version).to_dict()), [_JSON])
            if action == "model_ready":
                if service.model_ready(model, version):
                    return Reply(200, _OK_READY, [_JSON])
                return error_reply(503, f"model {model!r} is not ready yet")
            if action == "live":
                return (
                    Reply(200, _OK_LIVE, [_JSON])
                    if service.server_live()
                    else error_reply(503, "the server is not live")
                )
            if action == "ready":
                if service.server_ready():
                    return Reply(200, _OK_READY, [_JSON])
                return error_reply(503, "the server is not ready (models still loading)")
            if action == "server":
                meta = dict(service.server_metadata())
                extensions = list(meta.get("extensions", []))
                if _EXTENSION not in extensions:
                    extensions.append(_EXTENSION)
                if self.repository is not None:
                    extensions += [e for e in REPOSITORY_EXTENSIONS if e not in extensions]
                meta["extensions"] = extensions
                return Reply(200, orjson.dumps(meta), [_JSON])
            if self.metrics is None:  # action == "metrics"
                return error_reply(404, "metrics are not enabled on this server")
            body, content_type = self.metrics.render()
            return Reply(200, body, [(b"content-type", content_type.encode())])
        except Exception as exc:  # a JSON answer whatever the service raised
            return failure_reply(exc, model)


def _credentials(scope: Scope) -> Credentials:
    authorization = api_key = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value.decode("latin-1")
        elif key == b"x-api-key":
            api_key = value.decode("latin-1")
    return Credentials(authorization, api_key)


def _samples(request: InferRequest) -> int:
    first = next(iter(request.inputs.values()))
    return len(first) if first.ndim else 1


def _integer(value: bytes, header: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Invalid(
            f"the {header} header must be an integer, got {value.decode(errors='replace')!r}"
        ) from None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is over the {limit}-byte limit; send smaller batches")


def _decompress(body: bytes | bytearray, encoding: bytes, limit: int) -> bytes:
    """gzip/deflate request bodies (tritonclient's `request_compression_algorithm`), bounded by `limit`."""
    if encoding.lower() not in (b"gzip", b"deflate"):
        raise Invalid(
            f"Content-Encoding {encoding.decode(errors='replace')!r} is not supported; use gzip or deflate"
        )
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: zlib or gzip header, detected
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Invalid(f"the compressed request body is corrupt: {exc}") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise Invalid("the compressed request body is truncated")
    return out


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: the service's owner manages its life."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_rest_app(
    service: InferenceService,
    *,
    metrics: Any | None = None,
    max_body_bytes: int = 64 * 2**20,
    nonfinite: Literal["reject", "allow"] = "reject",
    gate: Gate | None = None,
    repository: ModelRepository | None = None,
    failures: FailureLog | None = None,
) -> ASGIApp:
    """The V2 + /v1 + /metrics ASGI app over `service`.

    `nonfinite="reject"` (the default) answers 400 to NaN/Inf in floating inputs, naming the input, except
    NaN for a model that fills in missing values (Inf is still refused); "allow" hands them to the model.
    `metrics`, when given, needs `observe_request(...)` and `render()`. `gate`, when given, guards every
    route but the health probes and server metadata, and meters inference. `repository`, when given,
    answers Triton's repository, model configuration and statistics extensions (404 without). `failures`,
    when given, is told of every failed inference (status >= 500) for the prediction log.
    """
    if nonfinite not in ("reject", "allow"):
        raise Invalid(f"nonfinite must be 'reject' or 'allow', got {nonfinite!r}")
    return RestApp(
        service,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        nonfinite=nonfinite,
        gate=gate,
        repository=repository,
        failures=failures,
    )
