"""Compression results as users see them; apart from the measuring code so clients load them cheaply."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelplane.registry.views import ModelVersionInfo

# Measures where smaller is the point: shown as a ratio to the baseline.
RATIO_FIELDS = ("file_bytes", "zlib_bytes", "parameters", "nonzero_parameters")


@dataclass(frozen=True)
class VersionMeasures:
    ref: str
    parent: str | None
    method: str
    framework: str
    kind: str
    dataset: str | None
    runtime: str
    file_bytes: int
    zlib_bytes: int
    parameters: int | None
    nonzero_parameters: int | None
    latency_ms: dict[str, float]  # per sample, keyed batch1 / batch64
    metrics: dict[str, float | None]  # the scalar test metrics

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    baseline: str
    versions: list[VersionMeasures]

    def relative(self, measures: VersionMeasures) -> dict[str, Any]:
        """Ratios to the baseline for sizes and latency, differences for metrics (None where undefined)."""
        base = self.versions[0]
        out: dict[str, Any] = {
            name: _ratio(getattr(measures, name), getattr(base, name)) for name in RATIO_FIELDS
        }
        out["latency"] = {k: _ratio(v, base.latency_ms.get(k)) for k, v in measures.latency_ms.items()}
        out["metrics"] = {k: _difference(v, base.metrics.get(k)) for k, v in measures.metrics.items()}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "versions": [{**m.to_dict(), "relative": self.relative(m)} for m in self.versions],
        }


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _difference(value: float | None, base: float | None) -> float | None:
    return value - base if value is not None and base is not None else None


@dataclass(frozen=True)
class CompressResult:
    version: ModelVersionInfo
    report: Comparison

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version.to_dict(), "report": self.report.to_dict()}
