"""The contract between the inference front ends (REST, gRPC) and the model manager behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

if TYPE_CHECKING:
    from modelplane.security.roles import Action

# KServe V2 datatype -> numpy dtype (BYTES are numpy object arrays of `bytes`).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype name of a numpy array (object arrays are BYTES)."""
    for name, dtype in DATATYPES.items():
        if array.dtype == dtype:
            return name
    raise ValueError(f"no V2 datatype for numpy dtype {array.dtype}")


@dataclass(frozen=True)
class TensorMeta:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1 marks a variable dimension (the batch)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelMeta:
    """V2 model metadata. `parameters` carries what V2 has no field for (`classes`: the class names `label`
    holds and `probabilities` follows; `columns`: each input column's name and role). `takes_missing`: NaN
    (or JSON null) in an input is a missing value the model fills in, not an error. `max_rows` and
    `max_body_bytes` bound one request (None: no bound beyond the server's)."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    takes_missing: bool = False
    max_rows: int | None = None
    max_body_bytes: int | None = None

    @property
    def named_columns(self) -> bool:
        """Whether the model's inputs are named table columns (matched by name) rather than one tensor."""
        return "columns" in self.parameters

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "versions": list(self.versions),
            "platform": self.platform,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }
        if self.parameters:
            data["parameters"] = self.parameters
        return data


@dataclass
class InferRequest:
    """A decoded request: each input already a numpy array of its declared datatype and shape."""

    model: str
    version: str | None
    inputs: dict[str, np.ndarray]
    id: str | None = None
    outputs: list[str] | None = None  # requested output names; None = all
    parameters: dict[str, Any] = field(default_factory=dict)
    key_id: str | None = None  # the caller's API key (None without auth), for the prediction log


@dataclass
class InferResult:
    model: str
    version: str
    outputs: dict[str, np.ndarray]  # in the model's declared order, filtered to what was asked
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


class InferenceService(Protocol):
    """What REST and gRPC call. Errors are modelplane.errors: NotFound (unknown model/version),
    Invalid (wrong input name/shape/datatype: the message names the input, the expected and the received
    shape), Unavailable (queue full or not ready; has retry_after), DeadlineExceeded (timeout),
    ModelplaneError (a crashed runtime call: 500, only that batch fails)."""

    def server_live(self) -> bool: ...

    def server_ready(self) -> bool: ...

    def server_metadata(self) -> dict[str, Any]: ...

    def model_ready(self, model: str, version: str | None) -> bool: ...

    def model_metadata(self, model: str, version: str | None) -> ModelMeta: ...

    def check_room(self, model: str, version: str | None) -> None:
        """Raises Unavailable (with retry_after) when the deployment could not queue another request. The
        front ends ask before reading and decoding a body, so a refusal under overload costs almost
        nothing and the accepted requests keep the runtime busy."""

    async def infer(self, request: InferRequest) -> InferResult: ...


class Credentials(NamedTuple):
    """What a caller presented: the `authorization` and `x-api-key` header (or gRPC metadata) values."""

    authorization: str | None
    api_key: str | None


class Gate(Protocol):
    """Access control and metering for the front ends; the platform supplies one, `serve` runs without.

    `enter` raises Unauthorized/Forbidden (deployment None means server-wide data such as /metrics);
    `admit` raises QuotaExceeded (with retry_after) once the request's sample count is known;
    `authorize` raises Unauthorized/Forbidden unless the caller may do a control `action` (the repository
    extension: "deployments:read" to look, "deploy" to load and unload) and returns the caller, whose
    `actor` the audit ledger records;
    `settle` records what the request cost, whatever its outcome, and must not block (`status`: the HTTP
    status, or the gRPC status code's name).
    """

    def enter(self, credentials: Credentials, deployment: str | None) -> Any: ...

    def admit(self, caller: Any, samples: int) -> None: ...

    def authorize(self, credentials: Credentials, action: Action, deployment: str | None = None) -> Any: ...

    def settle(
        self, caller: Any, deployment: str, version: str, samples: int, seconds: float, status: int | str
    ) -> None: ...


# What a server with a `ModelRepository` advertises in its metadata (Triton's names).
REPOSITORY_EXTENSIONS = (
    "model_repository",
    "model_repository(unload_dependents)",
    "model_configuration",
    "statistics",
)


class ModelRepository(Protocol):
    """Triton's model repository, configuration and statistics extensions over the deployments a server
    serves (`serving.repository` has the mapping). Entries are plain dicts in Triton's JSON field names;
    the gRPC front end parses the same dicts into its protobuf messages. `by` is who asked (the audit's
    actor)."""

    async def index(self, ready_only: bool, sizes: bool = False) -> list[dict[str, Any]]: ...

    async def load(self, name: str, parameters: Mapping[str, Any], by: str) -> None: ...

    async def unload(self, name: str, parameters: Mapping[str, Any], by: str) -> None: ...

    def config(self, name: str, version: str | None) -> dict[str, Any]: ...

    def statistics(self, name: str, version: str | None) -> dict[str, Any]: ...
