"""A small customer table as users have them: an id, a date, categories, a flag, empty cells, a yes/no
target; written by the tests that need it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER = ["customer_id", "signup_date", "plan", "region", "tenure", "spend", "autopay", "churned"]
PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east", "west"]


def customer_rows(rows: int, seed: int = 0) -> list[list[str]]:
    """Churn depends on plan, tenure and the signup month, so a model must read them by name to be right."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(rows):
        plan = PLANS[rng.integers(0, 3)]
        region = REGIONS[rng.integers(0, 4)]
        tenure = int(rng.integers(1, 72))
        spend = round(float(rng.normal(50, 15)), 2)
        month = int(rng.integers(1, 13))
        autopay = bool(rng.integers(0, 2))
        risk = (plan == "basic") * 2.0 - tenure / 18 + (month >= 10) * 1.5 - autopay * 0.5
        risk += rng.normal(0, 0.4)
        churned = "yes" if risk > 0 else "no"
        cells = [
            f"C{10_000 + i}",
            f"2023-{month:02d}-{int(rng.integers(1, 28)):02d}",
            plan,
            region,
            str(tenure),
            f"{spend}",
            "true" if autopay else "false",
            churned,
        ]
        if rng.random() < 0.05:
            cells[5] = ""  # a missing spend
        if rng.random() < 0.03:
            cells[3] = ""  # a missing region
        out.append(cells)
    return out


def write_customers(path: Path, rows: int, seed: int = 0, *, columns: list[str] | None = None) -> Path:
    """The table as CSV, its columns in the order given (default HEADER)."""
    order = columns or HEADER
    picks = [HEADER.index(name) for name in order]
    lines = [",".join(order)]
    lines += [",".join(row[i] for i in picks) for row in customer_rows(rows, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path
