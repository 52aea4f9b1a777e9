"""A replica process: `python -m modelplane.serving.replicas.worker FD`, FD one end of a socket pair.

The first frame from the server says what to load: the store (its handover: paths and settings, sent over
the socket rather than the command line, which other users can read), the exact version, the runtime and
its thread count, and the largest batch. The replica loads it, warms it at that batch, answers "ready" with
its platform, then answers batches in order until the server closes the socket. It ends with the server,
even a kill -9 of it: the kernel closes the server's end, and the replica's next read or write sees
it. (Not PR_SET_PDEATHSIG: that fires when the *thread* that started the process ends, and replicas
are started from short-lived threads.)
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from modelplane.errors import ModelplaneError
from modelplane.serving.replicas import frames


def serve(sock: socket.socket) -> int:
    setup, _ = frames.receive(sock)
    try:
        runtime = load_version(setup)
    except Exception as exc:  # reported to the server, which refuses the version with this reason
        frames.send(sock, error_header(exc))
        return 1
    frames.send(sock, {"platform": runtime.platform})
    while True:
        try:
            _, arrays = frames.receive(sock)
        except frames.ReplicaGone:  # the server closed it: scaled down, swapped out or shut down
            return 0
        try:
            outputs = runtime.predict(arrays["x"])
        except Exception as exc:  # this batch's callers get the error; the replica serves on
            frames.send(sock, error_header(exc))
            continue
        frames.send(sock, {}, outputs)


def load_version(setup: dict[str, Any]) -> Any:
    """The runtime of `setup`'s version, loaded from the store it names and warmed at its largest batch
    (Ray Serve replicas load the same way)."""
    from modelplane.registry.loading import load_runtime
    from modelplane.registry.registry import get_version
    from modelplane.serving.loaded import read_table
    from modelplane.serving.tables import warm_up
    from modelplane.store import Store

    store = Store.from_handover(setup["store"])
    try:
        info = get_version(store, setup["ref"])
        table, takes_rows = read_table(store, info)
        runtime = load_runtime(store, info, setup["runtime"], threads=setup["threads"])
        warm_up(runtime, info.input_shape, table, takes_rows, setup["max_batch_size"])
    finally:
        store.close()
    return runtime


def error_header(exc: Exception) -> dict[str, Any]:
    """An error as the server re-raises it: a typed modelplane error keeps its kind (and its status)."""
    kind = type(exc).__name__ if isinstance(exc, ModelplaneError) else None
    return {"error": str(exc) or type(exc).__name__, "kind": kind}


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    sys.exit(serve(sock))


if __name__ == "__main__":
    main()
