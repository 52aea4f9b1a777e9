"""Live metrics: each served version's logged predictions in a window, joined with the feedback that has
arrived for them (hours or days later counts), beside the version's test metrics from the registry.

The window is over prediction time: `since <= time < until`. Classifiers get accuracy and macro F1 (over
the classes seen in the labels or the answers, as scikit-learn computes it), regressors MAE and RMSE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.monitoring.feedback import feedback_since
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.schema import ANSWERED, LABEL, PREDICTION, REQUEST_ID, ROW, STATUS, VERSION
from modelplane.monitoring.served import Served, served
from modelplane.store import Store

# Feedback is stored after its prediction was logged, but the log's clock is the serving server's: read
# labels received up to this long before the window opened, so a skewed clock loses none.
CLOCK_SKEW = timedelta(hours=1)
_TEST_KEYS = {"accuracy": "test_accuracy", "f1_macro": "test_f1", "mae": "test_mae", "rmse": "test_rmse"}
TRUE_LABEL, TRUE_VALUE = "true_label", "true_value"
_INDEX = "__index"


@dataclass(frozen=True)
class LiveMetrics:
    """One version's window: `rows` answered, `labelled` of them with feedback, and the live metrics over
    those (None while nothing is labelled); `test` holds the registry's test metrics by snapshot name."""

    deployment: str
    version: str
    model: str | None  # the registry ref, e.g. digits-mlp@3 (None for an ensemble)
    task: str
    since: datetime
    until: datetime
    rows: int
    labelled: int
    accuracy: float | None = None
    f1: float | None = None
    mae: float | None = None
    rmse: float | None = None
    test: dict[str, float] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        """The window-metrics names (live_accuracy, labelled, test_accuracy, ...); unknown ones absent."""
        found: dict[str, float] = {"labelled": float(self.labelled)}
        for name in ("accuracy", "f1", "mae", "rmse"):
            value = getattr(self, name)
            if value is not None:
                found[f"live_{name}"] = float(value)
        found.update(self.test)
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data


def labelled_rows(
    store: Store,
    home: Path,
    deployment: str,
    *,
    since: datetime | None,
    until: datetime | None,
    columns: list[str] | None = None,
    log: pa.Table | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(the answered log rows in the window, those of them with feedback joined: `true_label` /
    `true_value` added). `columns` narrows what is read of the log (request_id, row, version, status are
    always read); `log`: the window already read (the monitor run's), read again otherwise."""
    if log is None:
        wanted = (
            None if columns is None else list(dict.fromkeys([REQUEST_ID, ROW, VERSION, STATUS, *columns]))
        )
        log = read_log(home, deployment, since=since, until=until, columns=wanted)
    if log.num_rows and STATUS in log.column_names:
        log = log.filter(pc.equal(log[STATUS], ANSWERED))
    truth = feedback_since(store, deployment, since - CLOCK_SKEW if since is not None else None)
    labels = pa.table(
        {
            REQUEST_ID: pa.array(truth["request_id"], pa.string()),
            ROW: pa.array(truth["row"], pa.int32()),
            TRUE_LABEL: pa.array(truth["label"], pa.string()),
            TRUE_VALUE: pa.array(truth["value"], pa.float64()),
        }
    )
    if log.num_rows == 0 or REQUEST_ID not in log.column_names:
        return log, _empty_join()
    # Join on the keys and a row index only, then take: the join cannot carry list columns (probabilities,
    # a wide `input`), and `take` can.
    keys = pa.table({REQUEST_ID: log[REQUEST_ID], ROW: log[ROW], _INDEX: pa.array(np.arange(log.num_rows))})
    matched = keys.join(labels, keys=[REQUEST_ID, ROW], join_type="inner")
    matched = matched.sort_by(_INDEX)
    joined = log.take(matched[_INDEX])
    joined = joined.append_column(TRUE_LABEL, matched[TRUE_LABEL]).append_column(
        TRUE_VALUE, matched[TRUE_VALUE]
    )
    return log, joined


def _empty_join() -> pa.Table:
    return pa.table(
        {
            REQUEST_ID: pa.array([], pa.string()),
            ROW: pa.array([], pa.int32()),
            VERSION: pa.array([], pa.string()),
            TRUE_LABEL: pa.array([], pa.string()),
            TRUE_VALUE: pa.array([], pa.float64()),
        }
    )


def live_metrics(
    store: Store,
    home: Path,
    deployment: str,
    *,
    since: datetime,
    until: datetime,
    log: pa.Table | None = None,
) -> list[LiveMetrics]:
    """One entry per version that answered in [since, until), by version (numbers in numeric order);
    `log`: that window of the log if the caller has read it already."""
    what = served(store, deployment)
    output = LABEL if what.task == "classification" else PREDICTION
    log, joined = labelled_rows(store, home, deployment, since=since, until=until, columns=[output], log=log)
    versions = sorted(set(log[VERSION].to_pylist()) if log.num_rows else set(), key=_order)
    found = []
    for version in versions:
        rows = int(pc.sum(pc.equal(log[VERSION], version)).as_py() or 0)
        mine = joined.filter(pc.equal(joined[VERSION], version)) if joined.num_rows else joined
        found.append(_metrics(store, what, version, since, until, rows, mine, output))
    return found


def _order(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def _metrics(
    store: Store,
    what: Served,
    version: str,
    since: datetime,
    until: datetime,
    rows: int,
    joined: pa.Table,
    output: str,
) -> LiveMetrics:
    info = what.version(store, version)
    test = _test_metrics(info.metrics if info else {})
    common = dict(
        deployment=what.deployment,
        version=version,
        model=info.ref if info else None,
        task=what.task,
        since=since,
        until=until,
        rows=rows,
        labelled=joined.num_rows,
        test=test,
    )
    if joined.num_rows == 0 or output not in joined.column_names:
        return LiveMetrics(**common)
    if what.task == "classification":
        from sklearn.metrics import accuracy_score, f1_score

        truth, answered = _codes(joined[TRUE_LABEL], joined[output])
        return LiveMetrics(
            **common,
            accuracy=float(accuracy_score(truth, answered)),
            f1=float(f1_score(truth, answered, average="macro", zero_division=0)),
        )
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    truth_values = joined[TRUE_VALUE].to_numpy(zero_copy_only=False).astype(np.float64)
    predicted = _first_output(joined[output])
    return LiveMetrics(
        **common,
        mae=float(mean_absolute_error(truth_values, predicted)),
        rmse=float(np.sqrt(mean_squared_error(truth_values, predicted))),
    )


def _codes(truth: pa.ChunkedArray, answered: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Both label columns as integer codes of one shared dictionary: scikit-learn scores the same, and
    ints sort far faster than strings (an answer missing from a failed row is a class of its own)."""
    both = pa.chunked_array([*truth.cast(pa.string()).chunks, *answered.cast(pa.string()).chunks])
    codes = both.combine_chunks().dictionary_encode().indices
    values = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False)
    return values[: len(truth)], values[len(truth) :]


def _first_output(column: pa.ChunkedArray) -> np.ndarray:
    """A regressor's prediction per row; of a multi-output model, its first output (feedback is one
    value per row)."""
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
        return np.array([values[0] for values in column.to_pylist()], dtype=np.float64)
    return column.to_numpy(zero_copy_only=False).astype(np.float64)


def _test_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    test = metrics.get("test") or {}
    return {
        name: float(test[key]) for key, name in _TEST_KEYS.items() if isinstance(test.get(key), (int, float))
    }
