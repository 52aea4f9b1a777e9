"""Who may do what, one implementation for every door: control-plane routes, V2 REST and V2 gRPC.

The data plane calls `enter`/`admit`/`settle` (the `serving.types.Gate` protocol); the control plane calls
`principal` and `authorize`. With auth off (`modelplane up --no-auth`) everyone is an anonymous admin and
nothing is metered per key.
"""

from __future__ import annotations

from collections.abc import Callable

from modelplane.errors import Unauthorized
from modelplane.security.keys import Authenticator
from modelplane.security.limits import Limiter
from modelplane.security.metering import Meter, Status
from modelplane.security.principal import Principal
from modelplane.security.roles import Action, authorize
from modelplane.serving.types import Credentials

ANONYMOUS = Principal.local("anonymous")
_MISSING = (
    "this server needs an API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY' "
    "(an admin creates keys with `modelplane keys create`)"
)
_ADMITTED_LIMIT = 10_000  # only granted requests get in; past this many distinct ones, start over
_OK: frozenset[int | str] = frozenset((200, "OK"))  # HTTP status or gRPC code name
_REJECTED: frozenset[int | str] = frozenset((429, "RESOURCE_EXHAUSTED"))


def raw_key(credentials: Credentials) -> str:
    """The key a caller sent, from either header; a malformed or contradictory pair is refused."""
    authorization, api_key = credentials
    bearer = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("malformed Authorization header: use 'Authorization: Bearer KEY'")
        bearer = value.strip()
    if bearer is not None and api_key is not None and bearer != api_key.strip():
        raise Unauthorized("the Authorization and x-api-key headers carry different keys; send one")
    key = bearer or (api_key.strip() if api_key is not None else None)
    if not key:
        raise Unauthorized(_MISSING)
    return key


class PlatformGate:
    """Authenticates once per request, authorizes per action, rate-limits and meters inference."""

    def __init__(self, authenticator: Authenticator | None, limiter: Limiter, meter: Meter | None) -> None:
        self.authenticator = authenticator
        self.limiter = limiter
        self.meter = meter
        # serving.types.Gate.admit: the limiter's own method, one call less on every request.
        self.admit: Callable[[Principal, int], None] = limiter.admit
        # Predict decisions already made, per (headers, deployment), under the keys' generation they were
        # made in: a repeat caller is one lookup instead of parsing, authenticating and authorizing.
        self._admitted: dict[tuple[Credentials, str], tuple[int, Principal]] = {}

    @property
    def enabled(self) -> bool:
        return self.authenticator is not None

    def principal(self, credentials: Credentials) -> Principal:
        if self.authenticator is None:
            return ANONYMOUS
        return self.authenticator.authenticate(raw_key(credentials))

    def authorize(self, credentials: Credentials, action: Action, deployment: str | None = None) -> Principal:
        caller = self.principal(credentials)
        authorize(caller, action, deployment)
        return caller

    # serving.types.Gate ----------------------------------------------------------------------------------
    def enter(self, credentials: Credentials, deployment: str | None) -> Principal:
        if deployment is None:
            return self.authorize(credentials, "usage:read")  # server-wide figures (/metrics)
        if self.authenticator is None:
            return ANONYMOUS
        generation = self.authenticator.generation()
        seen = self._admitted.get((credentials, deployment))
        if seen is not None and seen[0] == generation:
            return seen[1]
        caller = self.authorize(credentials, "predict", deployment)
        if len(self._admitted) >= _ADMITTED_LIMIT:
            self._admitted = {}
        self._admitted[(credentials, deployment)] = (generation, caller)
        return caller

    def settle(
        self,
        caller: Principal,
        deployment: str,
        version: str,
        samples: int,
        seconds: float,
        status: int | str,
    ) -> None:
        if self.meter is None or caller.key_id is None:
            return
        outcome: Status = "ok" if status in _OK else "rejected" if status in _REJECTED else "error"
        self.meter.record(caller.key_id, deployment, version, samples, seconds * 1000, outcome)
