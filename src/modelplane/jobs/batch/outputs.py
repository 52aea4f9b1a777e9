"""Predictions on disk: one part file per committed chunk, and the output written table by table.

A part is an Arrow IPC file written to a temp name, fsynced and renamed, so a part that exists is whole.
The output (Parquet or CSV, by its extension) grows in a hidden temp file next to it, is fsynced, then
renamed over the final path: a reader sees no file or the complete one, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelplane.errors import Invalid
from modelplane.store.durable import fsync_path

ROW_NUMBER = "row"


def output_columns(task: str, classes: list[str] | None, width: int) -> list[str]:
    """The prediction columns, after the id column: `label`, `probability` and one `proba_CLASS` per class,
    or `prediction` (`prediction_I` for several values)."""
    if task == "classification":
        names = classes or [str(i) for i in range(width)]
        return ["label", "probability", *(f"proba_{name}" for name in names)]
    return ["prediction"] if width == 1 else [f"prediction_{i}" for i in range(width)]


def prediction_table(
    id_name: str, ids: pa.Array, outputs: dict[str, np.ndarray], task: str, classes: list[str] | None
) -> pa.Table:
    columns: dict[str, pa.Array] = {id_name: ids}
    if task == "classification":
        probabilities = np.asarray(outputs["probabilities"], dtype=np.float32)
        label = np.asarray(outputs["label"], dtype=np.int64)
        names = output_columns(task, classes, probabilities.shape[1])
        columns["label"] = (
            pa.DictionaryArray.from_arrays(pa.array(label.astype(np.int32)), pa.array(classes))
            if classes
            else pa.array(label)
        )
        columns["probability"] = pa.array(probabilities[np.arange(len(label)), label])
        for j, name in enumerate(names[2:]):
            columns[name] = pa.array(probabilities[:, j])
    else:
        prediction = np.asarray(outputs["prediction"], dtype=np.float32).reshape(len(ids), -1)
        for j, name in enumerate(output_columns(task, None, prediction.shape[1])):
            columns[name] = pa.array(prediction[:, j])
    return pa.table(columns)


class PartFiles:
    """part-NNNNNN.arrow under `folder`, one per committed chunk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}.arrow"

    def write(self, index: int, table: pa.Table, *, make_folder: bool = True) -> None:
        """`make_folder=False`: fail (FileNotFoundError) if the folder is gone, as a job's cleanup leaves it,
        rather than make it again for a part no one will read (a Ray actor still stopping)."""
        if make_folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-", suffix=".tmp")
        os.close(fd)
        try:
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            fsync_path(Path(tmp))
            os.replace(tmp, self.path(index))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, index: int) -> pa.Table:
        path = self.path(index)
        if not path.is_file():
            raise Invalid(
                f"part {index} of the output is missing from {self.folder}; cancel and submit the job again"
            )
        with pa.OSFile(str(path)) as source:
            return pa.ipc.open_file(source).read_all()

    def remove(self) -> None:
        if self.folder.is_dir():
            for part in self.folder.iterdir():
                part.unlink(missing_ok=True)
            self.folder.rmdir()


class OutputFile:
    """The output, written into `target` table by table: Parquet (one row group per table) or CSV."""

    def __init__(self, target: Path, fmt: str) -> None:
        self.target = target
        self.fmt = fmt
        self.rows = 0
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def add(self, table: pa.Table) -> None:
        if self.fmt == "csv":  # CSV has no dictionary type: labels are written as their names
            table = pa.table({n: _plain(c) for n, c in zip(table.column_names, table.columns, strict=True)})
        if self._writer is None:
            self._writer = (
                pq.ParquetWriter(self.target, table.schema, use_dictionary=_dictionary_columns(table))
                if self.fmt == "parquet"
                else pacsv.CSVWriter(self.target, table.schema)
            )
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Complete the file (Parquet's footer) and fsync it."""
        if self._writer is None:
            raise Invalid("no rows were predicted, so there is no output to write; check the input file")
        self._writer.close()
        fsync_path(self.target)

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # a writer that failed may fail again on close
                self._writer.close()
        self.target.unlink(missing_ok=True)


def _dictionary_columns(table: pa.Table) -> list[str] | bool:
    """Dictionary-encode the labels only: on probabilities (all distinct) Parquet's default attempt at a
    dictionary costs ~5x the whole write and saves nothing."""
    names = [field.name for field in table.schema if pa.types.is_dictionary(field.type)]
    return names or False


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def publish(temp: Path, output: Path) -> None:
    os.replace(temp, output)
    fsync_path(output.parent)
