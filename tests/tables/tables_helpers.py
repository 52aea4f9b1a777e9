"""A small mixed table with every role, for the preprocessing tests."""

from __future__ import annotations

import numpy as np

from modelplane.tables.columns import Column

COLUMNS = [
    Column("id", "id"),
    Column("tenure", "numeric"),
    Column("active", "boolean"),
    Column("plan", "categorical"),
    Column("age", "numeric"),
    Column("signup", "datetime"),
    Column("region", "categorical"),
]
PLANS = ["basic", "pro", "team", "rare"]


def mixed(n: int, seed: int) -> dict[str, np.ndarray]:
    """Training-like rows: tenure, active, plan and signup have missing values; age and region have none;
    "rare" is a rare plan."""
    rng = np.random.default_rng(seed)
    tenure = rng.normal(20, 5, n)
    tenure[rng.random(n) < 0.15] = np.nan
    active = (rng.random(n) < 0.6).astype(np.float64)
    active[rng.random(n) < 0.15] = np.nan
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.17, 0.03]).astype(object)
    plan[rng.random(n) < 0.15] = None
    signup = np.floor(rng.uniform(-1.5e9, 2.5e9, n)) + rng.choice([0.0, 0.25], n)
    signup[rng.random(n) < 0.15] = np.nan
    return {
        "id": np.arange(n),
        "tenure": tenure,
        "active": active,
        "plan": plan,
        "age": rng.normal(40, 10, n),
        "signup": signup,
        "region": rng.choice(["north", "south", "east"], n).astype(object),
    }


def held_out(n: int, seed: int) -> dict[str, np.ndarray]:
    """Rows the pipeline never saw: unseen categories, empty strings and missing values in every column,
    those without missing values at fit included."""
    rows = mixed(n, seed)
    rows["plan"][:4] = ["enterprise", "", None, "rare"]
    rows["region"][:3] = ["west", None, ""]
    for name in ("tenure", "active", "age", "signup"):
        rows[name][4:6] = np.nan
    return rows
