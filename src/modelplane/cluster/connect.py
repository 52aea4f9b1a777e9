"""Which backend runs jobs, whether its cluster answers, and connecting to it.

The reachability check is a TCP connect to the head's GCS port, made before a job is queued: a wrong
MODELPLANE_RAY_ADDRESS fails the submit in one line, instead of a job that fails later in a worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modelplane
from modelplane.errors import Invalid

if TYPE_CHECKING:
    from modelplane.config import Settings

NAMESPACE = "modelplane"
_PROBE_TIMEOUT_S = 2.0
# Where `ray start --head` records the address of the head it started on this machine (Ray's convention).
_CURRENT_CLUSTER = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
_START_HINT = "start a head with `ray start --head --node-ip-address 127.0.0.1 --port 6379`"


class ClusterUnreachable(Invalid):
    """No Ray cluster answers where the settings point."""


def ray_address(settings: Settings) -> str | None:
    """The Ray address jobs run on, or None for the embedded backend."""
    if settings.ray_address:
        return settings.ray_address.strip()
    return "auto" if settings.backend == "ray" else None


def resolve_address(address: str) -> str:
    """`host:port` of the head: `auto` reads the head this machine started; `ray://` keeps its host:port."""
    if address == "auto":
        try:
            found = _CURRENT_CLUSTER.read_text().strip()
        except OSError:
            raise ClusterUnreachable(
                f"no Ray cluster runs on this machine (backend ray, address auto); {_START_HINT}, "
                "or set MODELPLANE_RAY_ADDRESS=HOST:PORT"
            ) from None
        return found
    return address.removeprefix("ray://")


def check_reachable(address: str) -> str:
    """Fail in one line, naming the address and how to start a head, unless the head's port answers.
    Returns the resolved host:port."""
    target = resolve_address(address)
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnreachable(
            f"MODELPLANE_RAY_ADDRESS {address!r} is not HOST:PORT (or auto, or ray://HOST:PORT); "
            "set it to the address `ray start --head` printed"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ClusterUnreachable(
            f"no Ray cluster answers at {target} ({exc.strerror or exc}); {_START_HINT} on that machine, "
            "or unset MODELPLANE_RAY_ADDRESS to run jobs embedded"
        ) from None
    return target


def check_backend(settings: Settings) -> str | None:
    """Before a job that may run on Ray is queued: None when jobs run embedded, else the checked address."""
    address = ray_address(settings)
    if address is None:
        return None
    _require_ray()
    check_reachable(address)
    return address


def cluster_params(settings: Settings) -> dict[str, str]:
    """What a job records at submit about where it runs: the checked Ray address, or nothing (embedded).
    Recorded on the job, the submitter's choice holds whichever worker of the store takes the job."""
    address = check_backend(settings)
    return {} if address is None else {"ray_address": address}


def job_address(params: Mapping[str, Any], settings: Settings) -> str | None:
    """Where a job runs: on the cluster its submitter chose, else as this worker's settings say."""
    recorded = params.get("ray_address")
    return str(recorded) if recorded else ray_address(settings)


def _require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise Invalid(
            "the ray backend needs Ray: pip install 'modelplane[ray]' (or unset MODELPLANE_RAY_ADDRESS and "
            "MODELPLANE_BACKEND to run jobs embedded)"
        )


def connect(address: str) -> None:
    """Join the cluster as a driver (once per process). Its workers import the same modelplane as this
    process, whatever environment the head was started from."""
    _require_ray()
    # Never a cluster of our own by accident: Ray starts a new local one (and turns token auth on for
    # this machine's later heads) when any Ray call, e.g. a Serve handle's metrics push, runs after this
    # process left the cluster.
    import ray

    with contextlib.suppress(ImportError):  # where Ray keeps the switch RAY_ENABLE_AUTO_CONNECT=0 sets
        import ray._private.auto_init_hook as auto_init

        auto_init.enable_auto_connect = False
    if ray.is_initialized():
        return
    target = check_reachable(address)
    ray.init(
        address=target if not address.startswith("ray://") else address,
        namespace=NAMESPACE,
        runtime_env=worker_env(),
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=False,
    )


def worker_env() -> dict[str, Any]:
    """The runtime_env under which Ray workers (tasks, actors, Serve replicas) import this process's
    modelplane, whatever environment the head was started from."""
    source = str(Path(modelplane.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}
