"""Where the prediction log lives and how it is read back.

`<home>/monitoring/<deployment>/<YYYY-MM-DD>/` (UTC day of the rows) holds closed segments
(`<start-ms>-<pid>-<tag>.parquet`) and at most one open segment per writing process
(`<start-ms>-<pid>-<tag>.arrows`, an Arrow IPC stream appended to at least once a second, so a `kill -9`
loses at most the last second; a reader takes every complete batch of it). Several servers may write one
deployment's log: each names its own files.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from modelplane.monitoring.schema import TIME, TIME_TYPE, VERSION

log = logging.getLogger(__name__)

CLOSED, OPEN = ".parquet", ".arrows"
DAY_FORMAT = "%Y-%m-%d"


def log_root(home: Path) -> Path:
    return home / "monitoring"


def log_dir(home: Path, deployment: str) -> Path:
    return log_root(home) / deployment


def day_dir(home: Path, deployment: str, day: date) -> Path:
    return log_dir(home, deployment) / day.strftime(DAY_FORMAT)


def segment_files(home: Path, deployment: str, since: datetime | None, until: datetime | None) -> list[Path]:
    """The segment files that may hold rows in [since, until), oldest day first."""
    folder = log_dir(home, deployment)
    if not folder.is_dir():
        return []
    first = since.astimezone(UTC).date() if since else None
    last = until.astimezone(UTC).date() if until else None
    files = []
    for day in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            when = datetime.strptime(day.name, DAY_FORMAT).date()
        except ValueError:
            continue
        if (first and when < first) or (last and when > last):
            continue
        files += sorted(p for p in day.iterdir() if p.suffix in (CLOSED, OPEN))
    return files


def read_segment(
    path: Path,
    columns: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table | None:
    """A segment's rows (an open one's complete batches); None when it vanished (rotated or expired
    between listing and reading) or holds nothing readable yet. `since`/`until` let a closed segment skip
    the row groups outside them (the caller still filters rows)."""
    try:
        if path.suffix == CLOSED:
            bounds = []
            if since is not None:
                bounds.append((TIME, ">=", pa.scalar(since, TIME_TYPE)))
            if until is not None:
                bounds.append((TIME, "<", pa.scalar(until, TIME_TYPE)))
            parquet = pq.ParquetFile(path)
            keep = _present(parquet.schema_arrow, columns)
            if not bounds:
                return parquet.read(columns=keep)
            return pq.read_table(path, columns=keep, filters=bounds)
        return _read_stream(path, columns)
    except FileNotFoundError:
        return None
    except (pa.ArrowInvalid, OSError) as exc:
        log.warning("prediction log segment %s cannot be read (%s); skipping it", path, exc)
        return None


def _read_stream(path: Path, columns: list[str] | None) -> pa.Table | None:
    batches = []
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = ipc.open_stream(source)
        except pa.ArrowInvalid:  # nothing but a partial schema message yet
            return None
        schema = reader.schema
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError):  # a batch cut short by a crash, or being written now
                break
    table = pa.Table.from_batches(batches, schema=schema)
    keep = _present(schema, columns)
    return table.select(keep) if keep is not None else table


def _present(schema: pa.Schema, columns: list[str] | None) -> list[str] | None:
    return None if columns is None else [c for c in columns if c in schema.names]


def read_log(
    home: Path,
    deployment: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """The logged rows with `since <= time < until` (of `version` only, if given), oldest first; with
    `limit`, the newest `limit` of them. Segments written under another model (other features) are merged:
    a column one lacks is null there. `columns` narrows what is read (time and version are always read)."""
    wanted = None if columns is None else list(dict.fromkeys([*columns, TIME, VERSION]))
    tables = []
    for path in segment_files(home, deployment, since, until):
        table = read_segment(path, wanted, since, until)
        if table is None or table.num_rows == 0:
            continue
        mask = None
        if since is not None:
            mask = pc.greater_equal(table[TIME], pa.scalar(since, TIME_TYPE))
        if until is not None:
            upper = pc.less(table[TIME], pa.scalar(until, TIME_TYPE))
            mask = upper if mask is None else pc.and_(mask, upper)
        if version is not None:
            same = pc.equal(table[VERSION], version)
            mask = same if mask is None else pc.and_(mask, same)
        if mask is not None:
            table = table.filter(mask)
        if table.num_rows:
            tables.append(table)
    if not tables:
        return pa.table({TIME: pa.array([], TIME_TYPE), VERSION: pa.array([], pa.string())})
    merged = pa.concat_tables(tables, promote_options="permissive")
    times = merged[TIME].to_numpy()
    if len(times) > 1 and not (times[1:] >= times[:-1]).all():  # segments of several writers interleave
        merged = merged.take(pc.sort_indices(merged[TIME]))
    if limit is not None and merged.num_rows > limit:
        merged = merged.slice(merged.num_rows - limit)
    return merged
