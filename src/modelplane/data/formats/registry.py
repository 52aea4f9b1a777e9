"""The data formats modelplane reads, named by file: one table behind dataset ingest and batch prediction.

A format is one module in data/formats/ plus one entry in FORMATS. The module reads a file as a dataset source
(`SourceReader`); a format with named columns also reads it as tables (`TableReader`), which ingest reads with
column roles; when batch prediction reads the format too, it also checks a file against a model and streams
its rows (`InputReader`). Modules are imported only when a file of theirs is read (pyarrow, Pillow and
scikit-learn are slow to import), so naming a file's format stays light: the HTTP client checks a batch input
with it before uploading, without pyarrow.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from modelplane.errors import Invalid, NotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.data.inputs import InputChunk, InputLayout
    from modelplane.data.sources import Chunk, SourceOptions, SourceSchema


class SourceReader(Protocol):
    """What every format module has: a file (or folder) as a dataset source."""

    def open_source(self, path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
        """Check everything checkable without reading the data, then stream chunks of
        <= options.chunk_rows rows; problems inside the data surface from the iterator as `Invalid`."""
        ...


class TableReader(SourceReader, Protocol):
    """What the module of a format with named columns (`named_columns`) has besides: its rows as Arrow
    tables, which dataset ingest reads with column roles (modelplane.data.roles)."""

    def table_columns(self, path: Path) -> list[str]:
        """The file's column names in file order (a name given twice is listed twice)."""
        ...

    def read_table(
        self, path: Path, columns: Mapping[str, pa.DataType], *, chunk_rows: int
    ) -> Generator[pa.Table, None, None]:
        """Tables of `chunk_rows` rows (the last may be shorter) holding `columns`. A format that converts
        text while reading (CSV) reads each column as the type given; one that stores types (Parquet)
        returns them as stored, for the caller to convert. A value that does not convert is a `BadValue`."""
        ...


class InputReader(SourceReader, Protocol):
    """What the module of a format batch prediction reads has besides: rows to predict."""

    def inspect_input(
        self,
        path: Path,
        *,
        id_column: str | None,
        input_shape: Sequence[int],
        trained_names: Sequence[str] | None,
        roles: Mapping[str, str] | None = None,
    ) -> InputLayout:
        """Check the file against the model when its job is submitted; every problem is an `Invalid`
        that names it and its fix. `roles` (column name -> role) is passed only for a model with
        preprocessing, whose raw columns are read by role; a format that reads numbers alone may leave
        the keyword out."""
        ...

    def read_rows(
        self, path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int
    ) -> Iterator[InputChunk]:
        """float32 feature blocks of `chunk_rows` rows (the last may be shorter) with their ids, starting
        after `skip_chunks` chunks (a resumed job) and holding about one chunk in memory; for a layout with
        `roles`, structured rows of raw columns (tables/signature.py) instead of float32."""
        ...


@dataclass(frozen=True)
class DataFormat:
    name: str
    module: str  # the module that reads it, imported on first use
    suffixes: tuple[str, ...] = ()  # file name endings, lower case
    name_pattern: str | None = None  # for files named by more than a suffix
    folder: bool = False  # read from a folder rather than a file
    described: str = ""  # how the list of supported formats names it
    named_columns: bool = False  # named columns (--drop, roles apply): its module is a TableReader
    text_cells: bool = False  # its values are text (CSV): a target is trimmed, read as numbers if all are
    image_options: bool = False  # --image-size and --image-mode apply
    batch_input: bool = False  # batch prediction reads it: its module is an InputReader

    def names(self, file_name: str) -> bool:
        """Whether a file of this name holds this format."""
        if Path(file_name).suffix.lower() in self.suffixes:
            return True
        return (
            self.name_pattern is not None
            and re.search(self.name_pattern, file_name, re.IGNORECASE) is not None
        )

    def reader(self) -> SourceReader:
        return cast("SourceReader", importlib.import_module(self.module))

    def table_reader(self) -> TableReader:
        """The module of a `named_columns` format."""
        return cast("TableReader", importlib.import_module(self.module))

    def input_reader(self) -> InputReader:
        """The module of a `batch_input` format."""
        return cast("InputReader", importlib.import_module(self.module))


FORMATS: dict[str, DataFormat] = {
    f.name: f
    for f in (
        DataFormat(
            "csv",
            "modelplane.data.formats.delimited",
            suffixes=(".csv", ".tsv"),
            described=".csv .tsv",
            named_columns=True,
            text_cells=True,
            batch_input=True,
        ),
        DataFormat(
            "parquet",
            "modelplane.data.formats.parquet",
            suffixes=(".parquet", ".pq"),
            described=".parquet",
            named_columns=True,
            batch_input=True,
        ),
        DataFormat(
            "npz", "modelplane.data.formats.npz", suffixes=(".npz",), described=".npz", batch_input=True
        ),
        DataFormat(
            "idx",
            "modelplane.data.formats.idx",
            name_pattern=r"(-ubyte|\.idx[1-3])(\.gz)?$",
            described="IDX files (*-ubyte, *.idx[1-3], optionally .gz)",
        ),
        DataFormat(
            "images",
            "modelplane.data.formats.images",
            folder=True,
            described="a folder of images (one sub-folder per class)",
            image_options=True,
        ),
    )
}


def format_of(path: Path) -> DataFormat | None:
    """The format an existing path holds, by its name (or by being a folder); None when none claims it."""
    if path.is_dir():
        return next((fmt for fmt in FORMATS.values() if fmt.folder), None)
    return next((fmt for fmt in FORMATS.values() if not fmt.folder and fmt.names(path.name)), None)


def described_formats() -> str:
    """`.csv .tsv .parquet .npz, IDX files (...), a folder of images (...)`: for messages."""
    by_suffix = " ".join(fmt.described for fmt in FORMATS.values() if fmt.suffixes)
    return ", ".join([by_suffix, *(fmt.described for fmt in FORMATS.values() if not fmt.suffixes)])


def check_batch_input(path: Path) -> DataFormat:
    """The format of a file of rows to predict, by its name; refused unless batch prediction reads it and
    the file exists."""
    fmt = next((f for f in FORMATS.values() if f.batch_input and f.names(path.name)), None)
    if fmt is None:
        raise Invalid(f"cannot read '{path.name}' as rows to predict; {_batch_hint()}")
    if not path.is_file():
        raise NotFound(f"no such file: '{path}'; check the --input path")
    return fmt


def _batch_hint() -> str:
    suffixes = [s for fmt in FORMATS.values() if fmt.batch_input for s in fmt.suffixes]
    return f"give a {', '.join(suffixes)} file"
