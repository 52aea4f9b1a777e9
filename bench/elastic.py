"""Issue #22 targets in one run, one table, on `modelplane serve` processes:

1. autoscaling: a load step from c=1 to c=64 (wrk) on the wide MLP deployed with --autoscale 1:CORES:
   seconds from the step to the steady replica count (target <= 10 s); a hot swap to another version in
   the middle of the c=64 phase, then c=1 again until it scaled back down: failed requests over the whole
   run (wrk's non-2xx and socket errors, and the server's own count; target 0);
2. scale to zero: the digits CNN with --autoscale 0:1, left idle until no replica runs, then one request:
   seconds to its answer (target <= 3 s), three times;
3. memory budget: 20 deployments of the wide MLP (trained on digits, ~65 MiB resident each) under a
   `--memory-budget` that holds 5 (5.5x one deployment's measured size), a round robin over all 20 from
   4 clients: failed requests (target 0), and the most the server accounted and its RSS growth over its
   idle RSS, against the budget (target <= budget + 15 %);
4. one replica: the digits MLP at c=1 (p50) and c=64 (req/s) served by this checkout and by the code of
   `--baseline REV` (default: the commit before replicas) side by side, alternating runs; target: within
   noise (the default `--replicas 1` runs the model inside the server, as before).

    .venv/bin/python bench/elastic.py [--seconds 5] [--baseline REV] [--only autoscale,zero,budget,one]
Needs Debian's `wrk`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from serve import Proc, failed_requests, free_port, rss_mb, table, wait_http, wrk

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "5b6664c"  # main before replicas (#22)
COOLDOWN_S = 5.0  # the bench's scale-down cooldown (the default is 30 s)


def v2_body(row: list[float]) -> str:
    import json

    return json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]})


def prepare(home: Path) -> list[float]:
    """Two wide MLP versions (the hot swap), the digits MLP and the digits CNN."""
    import modelplane

    local = modelplane.Local(home)
    local.datasets.add("digits", source="builtin:digits")
    for seed in (1, 2):
        local.train(
            data="digits",
            model="mlp",
            name="wide",
            spec={"hidden": [2048, 2048, 2048], "dropout": 0.0},
            train={"epochs": 1, "seed": seed},
        )
    local.train(data="digits", model="mlp", train={"epochs": 3})
    local.train(data="digits", model="cnn", train={"epochs": 1})
    local.close()
    from sklearn.datasets import load_digits

    return [float(v) for v in load_digits().data[0]]


def deploy(home: Path, spec: dict[str, Any], name: str, python_path: Path | None = None) -> None:
    """Deploy with this checkout's code, or with another checkout's (`python_path`: its src)."""
    code = f"import modelplane; modelplane.Local({str(home)!r}).deploy({spec!r}, name={name!r})"
    env = {"PYTHONPATH": str(python_path)} if python_path else None
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def serve(home: Path, python_path: Path | None = None) -> tuple[Proc, str]:
    port = free_port()
    env = {"MODELPLANE_HOME": str(home)}
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    args = ["serve", "--port", str(port), "--grpc-port", "-1", "--poll", "0.2"]
    return Proc([sys.executable, "-m", "modelplane.cli.main", *args], env), f"http://127.0.0.1:{port}"


def replicas(base: str, deployment: str) -> int:
    """Replica processes serving `deployment` now, over all its versions (the server's own gauge)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "modelplane_replicas" and sample.labels.get("deployment") == deployment:
                total += sample.value
    return int(total)


class Sampler:
    """The replica count every 100 ms, with the time it was read."""

    def __init__(self, base: str, deployment: str) -> None:
        self.base, self.deployment = base, deployment
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append((time.monotonic(), replicas(self.base, self.deployment)))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def autoscaling(home: Path, row: list[float], seconds: float) -> list[list[Any]]:
    from modelplane.cores import usable_cores

    most = usable_cores()
    spec = {
        "model": "wide@1",
        "scaling": {
            "autoscale": {"min_replicas": 1, "max_replicas": most, "window_s": 2.0, "cooldown_s": COOLDOWN_S}
        },
    }
    deploy(home, spec, "wide")
    server, base = serve(home)
    url = f"{base}/v2/models/wide/infer"
    body = v2_body(row)
    errors = 0.0
    try:
        wait_http(f"{base}/v2/models/wide/ready")
        errors += wrk(url, body, 1, seconds)["errors"]
        swapped = threading.Timer(
            seconds, deploy, (home, {**spec, "model": "wide@2"}, "wide")
        )  # the hot swap, mid-step
        with Sampler(base, "wide") as sampler:
            step = time.monotonic()
            swapped.start()
            high = wrk(url, body, 64, 3 * seconds)
            errors += high["errors"]
            swapped.join()
            steady = sampler.samples[-1][1]
            reached = next((t - step for t, n in sampler.samples if t >= step and n >= steady), float("nan"))
            calm = time.monotonic()
            low_errors = 0.0
            while replicas(base, "wide") > 1 and time.monotonic() - calm < COOLDOWN_S + 30:
                low_errors += wrk(url, body, 1, 2)["errors"]
            down = time.monotonic() - calm
        errors += low_errors + failed_requests(base, "wide")
        versions = httpx.get(f"{base}/v2/models/wide", timeout=10).json()["versions"]
    finally:
        server.stop()
    return [
        [
            f"autoscale 1:{most}, wide MLP, c=1 -> c=64 step",
            f"steady {steady} replicas after {reached:.1f} s",
            "<= 10 s",
            "PASS" if reached <= 10 and steady == most else "FAIL",
        ],
        [
            f"failed requests: scale up, hot swap (v1 -> v{versions[0]}), scale down",
            f"{errors:.0f} (c=64: {high['rps']:,.0f} req/s; down to 1 replica {down:.1f} s after the load)",
            "0",
            "PASS" if errors == 0 and versions == ["2"] else "FAIL",
        ],
    ]


def scale_to_zero(home: Path, row: list[float]) -> list[list[Any]]:
    spec = {
        "model": "digits-cnn@1",
        "scaling": {"autoscale": {"min_replicas": 0, "max_replicas": 1, "window_s": 1.0, "cooldown_s": 1.0}},
    }
    deploy(home, spec, "cold")
    server, base = serve(home)
    firsts = []
    try:
        wait_http(f"{base}/v2/models/cold/ready")
        body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]}
        for _ in range(3):
            deadline = time.monotonic() + 30
            while replicas(base, "cold") > 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.perf_counter()
            status = httpx.post(f"{base}/v2/models/cold/infer", json=body, timeout=30).status_code
            firsts.append(time.perf_counter() - started if status == 200 else float("inf"))
    finally:
        server.stop()
    return [
        [
            "scale to zero (0:1), digits CNN: first request after idle",
            ", ".join(f"{s:.2f} s" for s in firsts),
            "<= 3 s",
            "PASS" if max(firsts) <= 3 else "FAIL",
        ]
    ]


def gauge_sum(base: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def one_size(home: Path, row: list[float]) -> float:
    """One wide MLP deployment's resident size as a server measures it."""
    for name in ("size-a", "size-b"):
        deploy(home, {"model": "wide@1"}, name)
    server, base = serve(home)
    try:
        wait_http(f"{base}/v2/models/size-b/ready")
        index = httpx.post(f"{base}/v2/repository/index", json={"sizes": True}, timeout=10).json()
    finally:
        server.stop()
    for name in ("size-a", "size-b"):
        subprocess.run(
            [sys.executable, "-m", "modelplane.cli.main", "deployments", "undeploy", name],
            check=True,
            env={**os.environ, "MODELPLANE_HOME": str(home)},
            capture_output=True,
        )
    return float(next(e["resident_bytes"] for e in index if e["name"] == "size-b"))


def memory_budget(home: Path, row: list[float], rounds: int = 3, clients: int = 4) -> list[list[Any]]:
    size = one_size(home, row)
    budget = int(5.5 * size)
    names = [f"wide-{i:02d}" for i in range(20)]
    for name in names:
        deploy(home, {"model": "wide@1"}, name)
    port = free_port()
    args = ["serve", "--port", str(port), "--grpc-port", "-1", "--memory-budget", str(budget)]
    server = Proc([sys.executable, "-m", "modelplane.cli.main", *args], {"MODELPLANE_HOME": str(home)})
    base = f"http://127.0.0.1:{port}"
    body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]}
    failures, answered, accounted, rss = 0, 0, 0.0, 0.0
    try:
        wait_http(f"{base}/v2/health/ready")
        idle = rss_mb(server.popen.pid) - gauge_sum(base, "modelplane_deployment_resident_bytes") / 2**20
        lock = threading.Lock()
        started = time.perf_counter()

        def client(offset: int) -> None:
            nonlocal failures, answered
            with httpx.Client(timeout=60) as http:
                for i in range(rounds * len(names)):
                    name = names[(i + offset) % len(names)]
                    ok = http.post(f"{base}/v2/models/{name}/infer", json=body).status_code == 200
                    with lock:
                        answered += ok
                        failures += not ok

        threads = [threading.Thread(target=client, args=(5 * k,)) for k in range(clients)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            accounted = max(accounted, gauge_sum(base, "modelplane_deployment_resident_bytes"))
            rss = max(rss, rss_mb(server.popen.pid) - idle)
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        unloads = gauge_sum(base, "modelplane_budget_unloads_total")
    finally:
        server.stop()
    limit = 1.15 * budget / 2**20
    return [
        [
            f"budget {budget / 2**20:.0f} MiB (5.5 x {size / 2**20:.1f} MiB), 20 deployments, round robin",
            f"{answered} answered, {failures} failed, {unloads:.0f} unloads in {seconds:.1f} s",
            "0 failed",
            "PASS" if failures == 0 and answered == rounds * len(names) * clients else "FAIL",
        ],
        [
            "memory budget: most accounted / RSS growth over idle",
            f"{accounted / 2**20:.1f} MiB / {rss:.1f} MiB (budget + 15 % = {limit:.1f} MiB)",
            "<= budget + 15 %",
            "PASS" if accounted / 2**20 <= limit and rss <= limit else "FAIL",
        ],
    ]


def one_replica(
    home: Path, row: list[float], seconds: float, baseline: str, rounds: int = 3
) -> list[list[Any]]:
    """This checkout against `baseline`'s code, each with its own copy of the trained store."""
    old = Path(tempfile.mkdtemp(prefix="modelplane-baseline-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", baseline, "src"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    homes = {"this checkout": home / "one-new", f"baseline {baseline}": home / "one-old"}
    paths: dict[str, Path | None] = {"this checkout": None, f"baseline {baseline}": old / "src"}
    for label, where in homes.items():
        shutil.copytree(home / "store", where)
        deploy(where, {"model": "digits-mlp@1"}, "digits", paths[label])
    body = v2_body(row)
    figures: dict[str, dict[int, list[float]]] = {label: {1: [], 64: []} for label in homes}
    try:
        for _ in range(rounds):  # alternating: each server in turn, one at a time
            for label, where in homes.items():
                server, base = serve(where, paths[label])
                try:
                    wait_http(f"{base}/v2/models/digits/ready")
                    url = f"{base}/v2/models/digits/infer"
                    wrk(url, body, 16, 1)  # warm
                    figures[label][1].append(wrk(url, body, 1, seconds)["p50"])
                    figures[label][64].append(wrk(url, body, 64, seconds)["rps"])
                finally:
                    server.stop()
    finally:
        shutil.rmtree(old, ignore_errors=True)
    new, base_label = figures["this checkout"], f"baseline {baseline}"
    p50 = float(np.median(new[1])) / float(np.median(figures[base_label][1]))
    rps = float(np.median(new[64])) / float(np.median(figures[base_label][64]))
    return [
        [
            "--replicas 1, digits MLP, c=1 p50 (this / baseline)",
            f"{np.median(new[1]):.3f} ms / {np.median(figures[base_label][1]):.3f} ms = {p50:.2f}x",
            "within noise (<= 1.10x)",
            "PASS" if p50 <= 1.10 else "FAIL",
        ],
        [
            "--replicas 1, digits MLP, c=64 req/s (this / baseline)",
            f"{np.median(new[64]):,.0f} / {np.median(figures[base_label][64]):,.0f} = {rps:.2f}x",
            "within noise (>= 0.90x)",
            "PASS" if rps >= 0.90 else "FAIL",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load phase")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare one replica with")
    parser.add_argument("--only", default="autoscale,zero,budget,one", help="comma-separated parts to run")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="modelplane-elastic-"))
    rows: list[list[Any]] = []
    try:
        row = prepare(work / "store")
        if "autoscale" in parts:
            shutil.copytree(work / "store", work / "auto")
            rows += autoscaling(work / "auto", row, args.seconds)
        if "zero" in parts:
            shutil.copytree(work / "store", work / "zero")
            rows += scale_to_zero(work / "zero", row)
        if "budget" in parts:
            shutil.copytree(work / "store", work / "budget")
            rows += memory_budget(work / "budget", row)
        if "one" in parts:
            rows += one_replica(work, row, args.seconds, args.baseline)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table("Issue #22: elastic serving", ["target", "measured", "target value", "result"], rows)


if __name__ == "__main__":
    main()
