"""How a version answered over a window of its log: requests, error rate and latency percentiles.

A request is its row 0 (a request of 64 rows is 64 log rows, one latency); a failed request is one row
whose status is not 200.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.monitoring.schema import ANSWERED, LATENCY_MS, ROW, STATUS


def answered(table: pa.Table) -> pa.Table:
    """The rows the model answered (failed requests carry no features or outputs)."""
    if STATUS not in table.schema.names:
        return table
    return table.filter(pc.equal(table[STATUS], ANSWERED))


def request_stats(table: pa.Table) -> dict[str, float]:
    """`requests`, `rows` (answered), `error_rate`, `p50_ms`, `p99_ms`; empty when the window is."""
    if table.num_rows == 0 or ROW not in table.schema.names:
        return {}
    firsts = table.filter(pc.equal(table[ROW], 0))
    requests = firsts.num_rows
    if requests == 0:
        return {}
    status = firsts[STATUS].to_numpy() if STATUS in firsts.schema.names else np.full(requests, ANSWERED)
    failed = int(np.count_nonzero(status != ANSWERED))
    stats = {
        "requests": float(requests),
        "rows": float(table.num_rows - failed),
        "error_rate": failed / requests,
    }
    if LATENCY_MS in firsts.schema.names:
        latency = firsts[LATENCY_MS].to_numpy(zero_copy_only=False).astype(np.float64)
        p50, p99 = np.percentile(latency, [50, 99])
        stats["p50_ms"], stats["p99_ms"] = float(p50), float(p99)
    return stats
