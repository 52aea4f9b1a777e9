"""Versions side by side: size, parameters, latency and recorded test metrics, relative to the first.

Metrics are the ones each version recorded when it was registered (on its dataset's test split; a
compressed version uses its source's split), so comparing needs no data and no re-evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from modelplane.compression.measure import (
    file_sizes,
    parameter_counts,
    time_per_sample,
    timing_input,
    timing_runtime,
)
from modelplane.errors import Invalid
from modelplane.registry.registry import get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

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


def describe_method(info: ModelVersionInfo) -> str:
    """How a version was made, in a few words."""
    made: dict[str, Any] = info.params.get("compression", {})
    method = made.get("method")
    if method == "quantize":
        return "int8 weights, float compute" if made.get("mode") == "weights" else f"int8 {made.get('mode')}"
    if method == "prune":
        return (
            f"pruned {made.get('amount', 0):.0%} {'structured' if made.get('structured') else 'unstructured'}"
        )
    if method == "distill":
        return f"distilled into {made.get('student')}"
    return "trained" if info.run_id else "registered"


def compare_versions(store: Store, refs: Sequence[str]) -> Comparison:
    """Measure each of `refs` (the first is the baseline); latency is timed in turns across them."""
    if not refs:
        raise Invalid("name at least one version to compare, e.g. digits-cnn@3 digits-cnn@6")
    infos = [get_version(store, ref) for ref in refs]
    timed = [timing_runtime(store, info) for info in infos]
    latencies = time_per_sample([rt for rt, _ in timed], [timing_input(i.input_shape) for i in infos])
    versions = []
    for info, (_, runtime), latency in zip(infos, timed, latencies, strict=True):
        size, deflated = file_sizes(store, info)
        total, nonzero = parameter_counts(store, info)
        test = info.metrics.get("test", {})
        versions.append(
            VersionMeasures(
                ref=info.ref,
                parent=info.parent,
                method=describe_method(info),
                framework=info.framework,
                kind=info.kind,
                dataset=info.dataset,
                runtime=runtime,
                file_bytes=size,
                zlib_bytes=deflated,
                parameters=total,
                nonzero_parameters=nonzero,
                latency_ms=latency,
                metrics={k: v for k, v in test.items() if v is None or isinstance(v, int | float)},
            )
        )
    return Comparison(baseline=infos[0].ref, versions=versions)
