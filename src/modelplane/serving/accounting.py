"""What a front end records when an inference request ends, the same for REST and gRPC: the caller's usage
(the gate's `settle`) and the request metrics.

Metric labels come only from (model, version) pairs that have answered once, so requests naming made-up
models cannot grow the label set without bound: a failure for a model that never answered shares the ""
labels, and one for a model that did keeps its name but names the version only if that version answered.
It runs once per request, so it is the front ends' only call for it (no layer between them and the gate
and metrics). It also hands failed inferences (a status of 500 or more, gRPC codes mapped to their HTTP
equivalents) to the prediction log, which keeps one row per failed request of a deployment that logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelplane.serving.types import Gate

# (model, version asked or served, status, latency ms, key id): `ModelManager.log_failure`.
FailureLog = Callable[[str, "str | None", int, float, "str | None"], None]
# gRPC status names of server-side failures -> the HTTP status REST answers for the same failure.
GRPC_HTTP = {
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class RequestAccounting:
    """One per front end: `protocol` ("rest" or "grpc") labels its metrics."""

    def __init__(
        self, protocol: str, *, metrics: Any | None, gate: Gate | None, failures: FailureLog | None = None
    ) -> None:
        self.protocol = protocol
        self.metrics = metrics
        self.gate = gate
        self.failures = failures
        self._served: set[tuple[str, str]] = set()
        self._served_models: set[str] = set()

    def record(
        self,
        caller: Any,
        model: str,
        version: str | None,
        served: str | None,
        status: int | str,
        seconds: float,
        samples: int,
    ) -> None:
        """`caller`: what the gate admitted (None: no gate, or refused before); `version`: the version the
        request asked for; `served`: the one that answered (None: none did); `status`: the HTTP status or
        the gRPC status code's name."""
        if caller is not None:
            self.gate.settle(caller, model, served or "", samples, seconds, status)  # type: ignore[union-attr]
        if self.failures is not None:
            code = status if isinstance(status, int) else GRPC_HTTP.get(status, 0)
            if code >= 500:
                self.failures(model, served or version, code, seconds * 1000, getattr(caller, "key_id", None))
        if self.metrics is None:
            return
        if served is not None:
            if (model, served) not in self._served:
                self._served.add((model, served))
                self._served_models.add(model)
        elif model in self._served_models:
            served = version if (model, version) in self._served else ""
        else:
            model, served = "", ""
        self.metrics.observe_request(model, served, self.protocol, status, seconds, samples if served else 0)
