"""Why replicas sit behind the server's router instead of sharing its port with SO_REUSEPORT (#22).

Two HTTP server processes listen on one port with SO_REUSEPORT, as replicas sharing the REST port would.
wrk holds 64 keep-alive connections, as a load balancer or a client pool does. Run 1: both processes are
up before the load starts. Run 2: the second starts 2 s into the load, as a replica added by an autoscaler
would. The table shows the share of requests each process answered: the kernel spreads connections, not
requests, so a process that joins under load gets (nearly) none of them.

    .venv/bin/python bench/reuseport.py [--seconds 6]
Needs Debian's `wrk`.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve import free_port, table, wait_http, wrk

CHILD = """
import asyncio, signal, socket, sys
import uvicorn

port, out = int(sys.argv[1]), sys.argv[2]
count = 0

async def app(scope, receive, send):
    global count
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    count += 1
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", port))
sock.listen(2048)
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
try:
    asyncio.run(server.serve(sockets=[sock]))
finally:
    open(out, "w").write(str(count))
"""


def start(port: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(out)], stderr=subprocess.DEVNULL)


def counts(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> list[int]:
    for process, _ in processes:
        process.send_signal(signal.SIGINT)
    for process, _ in processes:
        process.wait(30)
    return [int(out.read_text()) for _, out in processes]


def run(seconds: float, join_after: float | None) -> list[int]:
    port = free_port()
    work = Path(tempfile.mkdtemp())
    first = (start(port, work / "a"), work / "a")
    wait_http(f"http://127.0.0.1:{port}/")
    processes = [first]
    if join_after is None:
        processes.append((start(port, work / "b"), work / "b"))
        time.sleep(2)  # up and listening before the load
    url = f"http://127.0.0.1:{port}/"
    if join_after is None:
        wrk(url, "x", 64, seconds)
    else:
        load = threading.Thread(target=wrk, args=(url, "x", 64, seconds))
        load.start()
        time.sleep(join_after)
        processes.append((start(port, work / "b"), work / "b"))
        load.join()
    return counts(processes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    rows = []
    for label, join in (("both up before the load", None), ("second joins 2 s into the load", 2.0)):
        a, b = run(args.seconds, join)
        rows.append([label, f"{a:,}", f"{b:,}", f"{100 * b / max(1, a + b):.1f} %"])
    table(
        "SO_REUSEPORT, 64 keep-alive connections (wrk): requests answered per process",
        ["run", "first process", "second process", "second's share"],
        rows,
    )


if __name__ == "__main__":
    main()
