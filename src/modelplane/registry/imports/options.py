"""What a user may say about a model they import (the contract of `import_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelplane.errors import Invalid

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class ImportOptions:
    task: str | None = None  # "classification" | "regression"; inferred where the file says
    classes: tuple[str, ...] | None = None
    reference: Path | None = None  # a parquet file of reference rows
    data: str | None = None  # NAME@V for evaluate
    evaluate: bool = False
    trust: tuple[str, ...] = ()  # skops types the user trusts
    run_id: str | None = None  # lineage to a modelplane run (the MLflow tracking helper sets it)

    def check(self) -> None:
        """Refuse contradictions before any file is read."""
        if self.task is not None and self.task not in TASKS:
            raise Invalid(f"unknown task {self.task!r}; use --task classification or --task regression")
        if self.classes is not None:
            if self.task == "regression":
                raise Invalid("--classes names a classifier's labels; drop it or use --task classification")
            if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
                raise Invalid(f"--classes needs two or more distinct labels, got {','.join(self.classes)!r}")
        if self.evaluate and not self.data:
            raise Invalid("--evaluate needs test data: add --data NAME@VERSION")
        if self.data and not self.evaluate:
            raise Invalid(f"--data {self.data} names the data to score the model on; add --evaluate")
        if self.reference is not None and not Path(self.reference).is_file():
            raise Invalid(f"reference file {self.reference} does not exist; give a parquet file of rows")
