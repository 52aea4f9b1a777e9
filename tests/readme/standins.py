"""Small stand-ins for the files the README assumes a reader has (their churn export, rows to predict, ...):
just big enough for the README's commands to mean something, small enough to keep the test quick."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits

PLANS = ("basic", "pro", "team")
REGIONS = ("north", "south", "east", "west")


def _customers(rows: int, seed: int, first_id: int = 1) -> dict[str, list[object]]:
    """Churn-like customers whose churn follows tenure, plan and autopay, so every model learns something."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, rows)
    tenure = rng.integers(1, 72, rows)
    autopay = rng.random(rows) < 0.5
    risk = (72 - tenure) / 72 + (plan == "basic") * 0.4 - autopay * 0.3 + rng.normal(0, 0.15, rows)
    return {
        "customer_id": [f"c{first_id + i:05d}" for i in range(rows)],
        "plan": plan.tolist(),
        "region": rng.choice(REGIONS, rows).tolist(),
        "tenure": tenure.tolist(),
        "autopay": ["true" if a else "false" for a in autopay],
        "signup_date": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)],
        "notes": [f"call {i} about the bill" if i % 3 else "" for i in range(rows)],
        "churned": ["yes" if r > 0.5 else "no" for r in risk],
    }


def _csv(path: Path, table: dict[str, list[object]], columns: list[str]) -> None:
    rows = zip(*(table[c] for c in columns), strict=True)
    path.write_text("\n".join([",".join(columns), *(",".join(map(str, r)) for r in rows)]) + "\n")


def write_standins(work: Path) -> None:
    """The reader's files, in the folder the README's commands run in."""
    churn = ["plan", "tenure", "autopay", "churned"]
    _csv(work / "churn.csv", _customers(240, seed=0), churn)
    _csv(work / "more_rows.csv", _customers(60, seed=1), churn)
    _csv(work / "april.csv", _customers(60, seed=2), churn)
    _csv(work / "rows.csv", _customers(5, seed=3), churn[:-1])
    customers = _customers(240, seed=4)
    _csv(work / "customers.csv", customers, list(customers))
    digits = load_digits()
    pixels = digits.data[:300]
    columns = {name: pa.array(pixels[:, i]) for i, name in enumerate(digits.feature_names)}
    table = pa.table({"row_id": pa.array(np.arange(len(pixels))), **columns})
    pq.write_table(table, work / "rows.parquet", row_group_size=100)
    # Labels for predictions this README never made: `monitor feedback` reports their ids as unknown.
    (work / "labels.csv").write_text("request_id,row,label\nreq-1,0,3\nreq-2,0,7\n")


def write_venv(work: Path) -> None:
    """`.venv/bin/activate` as `make run` leaves it (the installed CLI first on PATH), for `source`."""
    activate = work / ".venv" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
