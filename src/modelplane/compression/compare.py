"""Versions side by side: size, parameters, latency and recorded test metrics, relative to the first.

Metrics are the ones each version recorded when it was registered (on its dataset's test split; a
compressed version uses its source's split), so comparing needs no data and no re-evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelplane.compression.measure import (
    file_sizes,
    parameter_counts,
    time_per_sample,
    timing_input,
    timing_runtime,
)
from modelplane.compression.views import Comparison, VersionMeasures
from modelplane.errors import Invalid
from modelplane.registry.registry import get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store


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
