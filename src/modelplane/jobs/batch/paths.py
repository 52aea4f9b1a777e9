"""File names batch prediction writes: output formats by extension, the output's checks and temp names.
(Inputs are named by data.formats.registry.)

Kept free of pyarrow so the HTTP client can check paths before it uploads anything.
"""

from __future__ import annotations

import glob
from pathlib import Path

from modelplane.errors import Conflict, Invalid, NotFound

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def output_format(path: Path) -> str:
    found = OUTPUT_FORMATS.get(path.suffix.lower())
    if found is None:
        raise Invalid(f"cannot write predictions to '{path.name}'; name a .parquet or .csv output file")
    return found


def check_output(output: Path, *, overwrite: bool) -> str:
    """The output's format; refuses a path whose folder is missing, or that exists without overwrite."""
    fmt = output_format(output)
    if not output.parent.is_dir():
        raise NotFound(f"folder '{output.parent}' does not exist; create it or write the output elsewhere")
    if output.is_dir():
        raise Invalid(f"'{output}' is a folder; name the output file, e.g. {output / ('predictions.' + fmt)}")
    if output.exists() and not overwrite:
        raise Conflict(f"'{output}' already exists; pass --overwrite to replace it")
    return fmt


def temp_output(output: Path, tag: str) -> Path:
    """Hidden, next to the output (a rename within one folder is atomic), named by `tag`: a job's id, and
    for a batch job's attempt the attempt too, so that an attempt which lost the job (and is still
    stopping) never writes into the file of the attempt that took it over."""
    return output.with_name(f".{output.name}.{tag}.partial")


def attempt_output(output: Path, job_id: str, attempt: int) -> Path:
    return temp_output(output, f"{job_id}.{attempt}")


def attempt_outputs(output: Path, job_id: str) -> list[Path]:
    """The temp outputs of every attempt of the job (a killed attempt's stays behind)."""
    return list(output.parent.glob(glob.escape(f".{output.name}.{job_id}.") + "*.partial"))
