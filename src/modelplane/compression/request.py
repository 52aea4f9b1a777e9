"""What `compress` is asked to do: one method and its options, validated before any work starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelplane.errors import Invalid
from modelplane.validation import validated

METHODS = ("quantize", "prune", "distill")
# Options that only mean something with one method; naming one with another method is a mistake.
_OPTIONS = {
    "quantize": ("mode", "calibration_rows", "per_channel"),
    "prune": ("structured", "finetune_epochs"),
    "distill": ("epochs", "temperature", "alpha"),
}
_DEFAULTS: dict[str, Any] = {
    "mode": "dynamic",
    "calibration_rows": 512,
    "per_channel": False,
    "structured": False,
    "finetune_epochs": 3,
    "epochs": 10,
    "temperature": 4.0,
    "alpha": 0.7,
}


class CompressRequest(BaseModel):
    """One method per request. Options default to None so that one given with the wrong method is seen.

    `train` overrides fields of the training config used for fine-tuning or for the student, which
    otherwise is the source's own (`params.train`: optimizer, lr, batch size, seed) with the request's
    epochs, on device 'auto'. `data` defaults to the dataset version the source was trained on.
    """

    model_config = ConfigDict(extra="forbid")
    quantize: str | None = None
    mode: str | None = None
    calibration_rows: int | None = None
    per_channel: bool | None = None
    prune: float | None = None
    structured: bool | None = None
    finetune_epochs: int | None = None
    distill: str | dict[str, Any] | None = None
    epochs: int | None = None
    temperature: float | None = None
    alpha: float | None = None
    data: str | None = None
    train: dict[str, Any] = {}

    @property
    def method(self) -> str:
        chosen = [m for m in METHODS if getattr(self, m) is not None]
        if len(chosen) != 1:
            raise Invalid(
                "choose one of --quantize int8, --prune AMOUNT or --distill STUDENT "
                f"({'got ' + ', '.join(chosen) if chosen else 'none given'}); to combine them, compress "
                "the new version again"
            )
        method = chosen[0]
        stray = [
            o for m, names in _OPTIONS.items() if m != method for o in names if getattr(self, o) is not None
        ]
        if stray:
            flags = ", ".join("--" + o.replace("_", "-") for o in stray)
            verb = "does" if len(stray) == 1 else "do"
            raise Invalid(
                f"{flags} {verb} not apply to --{method}; remove {'it' if len(stray) == 1 else 'them'}"
            )
        return method

    def option(self, name: str) -> Any:
        value = getattr(self, name)
        return _DEFAULTS[name] if value is None else value

    def student_name(self) -> str:
        return self.distill if isinstance(self.distill, str) else f"{(self.distill or {}).get('kind')} (spec)"


def parse_request(data: Mapping[str, Any]) -> CompressRequest:
    return validated(CompressRequest, data, "compression request")
