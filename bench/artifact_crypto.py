"""Issue #17 item 7 target: loading the digits CNN encrypted at rest costs <= 1.2x loading it in plaintext.

One CNN is trained on digits in a plaintext home; its files are registered again in a second home with a
master key configured (sealed blobs, data keys wrapped). Each load is what a server does for a deployment:
read the version's record, check its signed manifest, read (and decrypt) its files, build the runtime.
Loads alternate between the two homes, and the median of each is kept.

    .venv/bin/python bench/artifact_crypto.py [--loads 40]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from modelplane.config import Settings
from modelplane.local import Local
from modelplane.registry.integrity import version_bytes
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import NewVersion, get_version, register
from modelplane.registry.views import weights_format
from modelplane.store import Store

TARGET = 1.2
RUNTIMES = ("onnxruntime", "native")


def _train(home: Path) -> tuple[Local, str]:
    local = Local(home=home)
    local.datasets.add("digits", source="builtin:digits")
    run = local.train(
        data="digits", model="cnn", spec={"channels": [8, 16], "dense": [32]}, train={"epochs": 2}
    )
    return local, run.model_version or ""


def _sealed_copy(plain: Store, ref: str, home: Path, scratch: Path) -> tuple[Store, str]:
    """The same version's files registered in a home whose artifacts are encrypted."""
    key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    settings = Settings(home=home, master_key=key)
    store = Store.from_settings(settings)
    info = get_version(plain, ref)
    files = {}
    for fmt in info.artifacts:
        files[fmt] = scratch / fmt
        files[fmt].write_bytes(version_bytes(plain, info, fmt))
    weights = files.pop(weights_format(info.framework))
    onnx = files.pop("onnx", None)
    copy = register(
        store,
        NewVersion(
            model_name=info.model,
            task=info.task,
            framework=info.framework,
            kind=info.kind,
            spec=info.spec,
            weights_path=weights,
            params=info.params,
            metrics=info.metrics,
            classes=info.classes,
            onnx_path=onnx,
            files=dict(files),
        ),
    )
    return store, copy.ref


def _load_s(store: Store, ref: str, runtime: str) -> float:
    began = time.perf_counter()
    load_runtime(store, get_version(store, ref), runtime, threads=1)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=40, help="loads of each kind (median kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "files").mkdir()
        local, ref = _train(root / "plain")
        sealed, sealed_ref = _sealed_copy(local.store, ref, root / "sealed", root / "files")
        size = sum(a.size for a in get_version(sealed, sealed_ref).artifacts.values())
        out = Table(
            title=f"loading the digits CNN ({size / 1e3:.0f} kB of files), median of {args.loads} loads",
            title_justify="left",
        )
        for column in ("runtime", "plaintext ms", "encrypted ms", "ratio", f"target <= {TARGET}x"):
            out.add_column(column, justify="right" if column != "runtime" else "left")
        for runtime in RUNTIMES:
            _load_s(local.store, ref, runtime), _load_s(sealed, sealed_ref, runtime)  # warm imports, caches
            plain_s, sealed_s = [], []
            for _ in range(args.loads):
                plain_s.append(_load_s(local.store, ref, runtime))
                sealed_s.append(_load_s(sealed, sealed_ref, runtime))
            a, b = statistics.median(plain_s), statistics.median(sealed_s)
            ratio = b / a
            out.add_row(
                runtime,
                f"{a * 1e3:.2f}",
                f"{b * 1e3:.2f}",
                f"{ratio:.2f}x",
                "PASS" if ratio <= TARGET else "FAIL",
            )
        Console().print(out)
        sealed.close()
        local.close()


if __name__ == "__main__":
    main()
