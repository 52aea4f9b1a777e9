"""Issue #18 item 3 target: `gc` on a store of 10,000 artifacts runs in <= 5 s and frees exactly the
unreferenced bytes.

The store is built for real: every artifact is a file written by `put` (temp file, fsync, rename) and a
row. Half are files of live versions; a quarter belong to versions that were then deleted (their rows
stay until gc); a quarter are files whose writer never committed a row. Everything is aged past gc's grace
period, then gc runs once as a dry run and once for real; the bytes it frees are checked against the sum of
the sizes written.

    .venv/bin/python bench/gc.py [--artifacts 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update

from modelplane.config import Settings
from modelplane.registry.artifacts import attach, put
from modelplane.registry.deletion import delete_version
from modelplane.registry.gc import collect
from modelplane.registry.registry import NewVersion, register
from modelplane.store import Store
from modelplane.store.orm import Artifact, ModelVersion

TARGET_S = 5.0
PER_VERSION = 250


def _build(store: Store, scratch: Path, count: int) -> int:
    """Write `count` artifacts as described above; returns the bytes no live row references."""
    rng = random.Random(18)
    versions = count // 2 // PER_VERSION + count // 4 // PER_VERSION
    unreferenced = 0
    for n in range(versions):
        weights = scratch / "w.bin"
        weights.write_bytes(rng.randbytes(64))
        spec = {"kind": "mlp", "input_shape": [4]}
        info = register(store, NewVersion("bench", "classification", "torch", "mlp", spec, weights, {}, {}))
        retired = n >= count // 2 // PER_VERSION
        stored = [put(store, rng.randbytes(rng.randint(200, 4000))) for _ in range(PER_VERSION - 1)]
        with store.db.session() as session:
            row = session.scalar(select(ModelVersion).where(ModelVersion.version == info.version))
            assert row is not None
            for i, found in enumerate(stored):
                attach(session, row, f"part{i}", found)
        if retired:
            delete_version(store, info.ref)
            unreferenced += 64 + sum(s.size for s in stored)
    for _ in range(count - versions * PER_VERSION):
        data = rng.randbytes(rng.randint(200, 4000))
        store.artifacts.put_bytes(data)
        unreferenced += len(data)
    old = time.time() - 7200
    for path in store.artifacts.root.glob("??/*"):
        os.utime(path, (old, old))
    with store.db.session() as session:
        session.execute(update(Artifact).values(created_at=datetime.fromtimestamp(old, timezone.utc)))
    return unreferenced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_settings(Settings(home=Path(tmp) / "home"))
        started = time.perf_counter()
        expected = _build(store, Path(tmp), args.artifacts)
        files = sum(1 for _ in store.artifacts.root.glob("??/*"))
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        dry = collect(store, dry_run=True)
        dry_s = time.perf_counter() - started
        started = time.perf_counter()
        real = collect(store)
        real_s = time.perf_counter() - started
        left = sum(1 for _ in store.artifacts.root.glob("??/*"))
        store.close()
    freed = real.categories[0].bytes
    table = Table(title=f"gc over {files} artifacts (built in {build_s:.1f} s)")
    for column in ("pass", "seconds", "artifacts freed", "bytes freed", "expected bytes", "exact", "target"):
        table.add_column(column)
    for name, report, seconds in (("dry run", dry, dry_s), ("gc", real, real_s)):
        got = report.categories[0]
        table.add_row(
            name,
            f"{seconds:.2f}",
            str(got.items),
            str(got.bytes),
            str(expected),
            "yes" if got.bytes == expected else "NO",
            "met" if seconds <= TARGET_S else f"MISSED (> {TARGET_S} s)",
        )
    Console().print(table)
    Console().print(f"files left: {left} (live versions' files); freed {freed} bytes")


if __name__ == "__main__":
    main()
