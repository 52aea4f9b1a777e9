"""Typed errors: each names the problem and the fix, and maps to one HTTP status and CLI exit code."""

from __future__ import annotations


class ModelplaneError(Exception):
    """Base of every error a user can act on; never raised bare."""

    status_code = 500
    exit_code = 1


class NotFound(ModelplaneError):
    status_code = 404
    exit_code = 2


class NoSuchAlias(NotFound):
    """A model exists but the alias named does not: callers tell it apart from a missing model by type."""


class Notice(UserWarning):
    """Something done on the user's behalf that they should hear about (e.g. columns a model ignored);
    raised with `warnings.warn`, shown by the CLI as one line."""


class Invalid(ModelplaneError):
    status_code = 400
    exit_code = 2


class Conflict(ModelplaneError):
    status_code = 409
    exit_code = 2


class Unauthorized(ModelplaneError):
    status_code = 401
    exit_code = 2


class Forbidden(ModelplaneError):
    status_code = 403
    exit_code = 2


class QuotaExceeded(ModelplaneError):
    """Over a rate limit or quota; retry after `retry_after` seconds (sent as `Retry-After`)."""

    status_code = 429
    exit_code = 2

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrityError(ModelplaneError):
    """Stored bytes no longer match their recorded hash: never load them silently."""

    status_code = 500
    exit_code = 3


class Misconfigured(ModelplaneError):
    """The platform lacks a setting it needs (a master key for encrypted artifacts): the operator's fix."""

    status_code = 500
    exit_code = 2


class PayloadTooLarge(ModelplaneError):
    status_code = 413
    exit_code = 2


class Unavailable(ModelplaneError):
    """The server is overloaded or a model is not ready; retry after `retry_after` seconds."""

    status_code = 503
    exit_code = 1

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(ModelplaneError):
    status_code = 504
    exit_code = 1
