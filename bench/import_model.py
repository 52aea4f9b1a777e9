"""Issue #18 item 1 target: importing a 100 MB ONNX file through the server (`modelplane up`, the Python
client's chunked upload, then the import: graph checked, run once in ONNX Runtime, rewired and stored)
takes <= 1.5x copying the same file over loopback HTTP with curl (`curl -T` to a sink that discards it).
The server's RSS growth is reported too: the upload is chunked, so only the import's own graph work
should hold the model in memory.

    .venv/bin/python bench/import_model.py [--mb 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from rich.console import Console
from rich.table import Table

from modelplane.client import Client

TARGET = 1.5
KEY = re.compile(r"mp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def big_onnx(path: Path, mb: int, seed: int) -> Path:
    """x (N, 1024) @ W (1024, k) with k chosen so W is `mb` MB: a regressor with k outputs. Each round
    imports another file (`seed`): the same file again would resume its finished upload and send nothing."""
    width = max(1, (mb << 20) // (1024 * 4))
    weights = np.random.default_rng(seed).standard_normal((1024, width), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        [numpy_helper.from_array(weights, "W")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Sink(BaseHTTPRequestHandler):
    """Reads a PUT body in 1 MiB pieces and discards it: what a copy over loopback costs."""

    def do_PUT(self) -> None:
        left = int(self.headers["content-length"])
        while left:
            left -= len(self.rfile.read(min(left, 1 << 20)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def _sink() -> None:
    port = int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), _Sink).serve_forever()


def _curl(path: Path, port: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        # `Expect:` off: curl would otherwise wait up to a second for a "100 Continue" the sink never sends.
        ["curl", "-sS", "-H", "Expect:", "-o", "/dev/null", "-T", str(path), f"http://127.0.0.1:{port}/sink"],
        check=True,
    )
    return time.perf_counter() - start


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _up(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, grpc = _free_port(), _free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelplane.cli.main",
                "up",
                "--port",
                str(port),
                "--grpc-port",
                str(grpc),
            ],
            env={**os.environ, "MODELPLANE_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text()
        if "gRPC" in text and (found := KEY.search(text)):
            return process, f"http://127.0.0.1:{port}", found.group(0)
        if process.poll() is not None:
            raise RuntimeError(f"up exited:\n{text}")
        time.sleep(0.2)
    raise RuntimeError("up did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        models = [big_onnx(root / f"big{i}.onnx", args.mb, i) for i in range(args.rounds)]
        size_mb = models[0].stat().st_size / (1 << 20)
        sink_port = _free_port()
        sink = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(sink_port)], stdout=subprocess.DEVNULL
        )
        try:
            server, url, key = _up(root / "home")
            try:
                client = Client(url, key)
                base_rss = _rss_mb(server.pid)
                copies, uploads, imports = [], [], []
                for model in models:  # alternate, so load elsewhere on the machine hits both alike
                    copies.append(_curl(model, sink_port))
                    start = time.perf_counter()
                    client.models.import_model("big", model)
                    imports.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    client.datasets.upload(model)  # the upload import_model began with, again on its own
                    uploads.append(time.perf_counter() - start)
                peak_rss = _rss_mb(server.pid, "VmHWM")
                client.close()
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(30)
        finally:
            sink.terminate()
            sink.wait(10)
    copy, upload, imported = statistics.median(copies), statistics.median(uploads), statistics.median(imports)
    table = Table(
        title=f"import a {size_mb:.0f} MB ONNX file through `modelplane up` (median of {args.rounds})"
    )
    for column in ("step", "seconds", "MB/s", "vs curl", f"target <= {TARGET}x"):
        table.add_column(column)
    table.add_row("curl -T to a loopback sink", f"{copy:.3f}", f"{size_mb / copy:.0f}", "1.00x", "")
    ratio = imported / copy
    table.add_row(
        "Client.models.import_model",
        f"{imported:.3f}",
        f"{size_mb / imported:.0f}",
        f"{ratio:.2f}x",
        "met" if ratio <= TARGET else "NOT met",
    )
    table.add_row(
        "  chunked upload (/api/v1/uploads)",
        f"{upload:.3f}",
        f"{size_mb / upload:.0f}",
        f"{upload / copy:.2f}x",
        "",
    )
    rest = imported - upload
    table.add_row("  the rest: import of the uploaded file", f"{rest:.3f}", "", f"{rest / copy:.2f}x", "")
    table.add_row(
        "server RSS before / peak / growth (MB)",
        f"{base_rss:.0f} / {peak_rss:.0f} / {peak_rss - base_rss:.0f}",
        "",
        "",
        "",
    )
    Console().print(table)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--sink":
        _sink()
    else:
        main()
