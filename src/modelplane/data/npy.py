"""Stream rows into `.npy` artifacts without holding them: header last-known shape, body copied in blocks."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np

from modelplane.store.artifacts import ArtifactStore

_BLOCK = 1 << 22


class RowSpool:
    """Appends fixed-shape rows to a temp file; `publish` turns it into a `.npy` artifact."""

    def __init__(self, tmp_dir: Path, dtype: np.dtype, row_shape: tuple[int, ...]) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="spool-")
        self.path = Path(name)
        self._fh = os.fdopen(fd, "w+b")
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        self._fh.write(data.tobytes())
        self.rows += len(data)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) back from the spool, for a second pass over bounded memory."""
        self._fh.flush()
        row_bytes = self.dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))
        self._fh.seek(start * row_bytes)
        raw = self._fh.read((stop - start) * row_bytes)
        self._fh.seek(0, os.SEEK_END)
        return np.frombuffer(raw, dtype=self.dtype).reshape((stop - start, *self.row_shape))

    def publish(self, store: ArtifactStore) -> str:
        """Write header + body into the store; returns the artifact's sha256."""
        self._fh.flush()
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(
            header,
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (self.rows, *self.row_shape),
            },
        )
        self._fh.seek(0)
        with store.writer() as writer:
            writer.write(header.getvalue())
            while block := self._fh.read(_BLOCK):
                writer.write(block)
            return writer.commit()

    def close(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def load_npy(path: Path) -> np.ndarray:
    """Memory-mapped read: training and evaluation page rows in instead of copying the file."""
    return np.load(path, mmap_mode="r", allow_pickle=False)
