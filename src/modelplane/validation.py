"""pydantic validation errors -> one actionable `Invalid` line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelplane.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        parts.append(f"field '{where}': {message}")
    return "; ".join(parts)


def validated(model: type[M], data: Mapping[str, Any], what: str) -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise Invalid(f"invalid {what}: {describe(exc)}") from exc
