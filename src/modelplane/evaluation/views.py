"""An evaluation as users see it; apart from the metrics code so clients load it without scikit-learn."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class EvaluationReport:
    task: str
    n_samples: int
    metrics: dict[str, Any]
    # ms per sample: batch1_p50_ms / batch1_p95_ms over single-row calls (the online case) and
    # batch256_ms_per_sample (the batch-prediction case); empty when latency was not measured.
    latency: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
