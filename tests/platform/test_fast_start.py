"""The CLI starts fast: listing and showing import neither torch nor scikit-learn (nor ONNX Runtime or
skl2onnx), in-process and as a client, so they answer in about a second rather than ten. Each check runs
the verbs in a fresh process, as a user's shell would, and reads what that process imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.data.uploads import Uploads
from modelplane.local import Local
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.store import Store
from tests.net import serve

HEAVY = {"torch", "sklearn", "onnxruntime", "skl2onnx"}
LISTING = [
    ["runs", "list"],
    ["models", "list"],
    ["jobs", "list"],
    ["deployments", "list"],
    ["data", "list"],
    ["tune", "list"],
    ["keys", "list"],
    ["audit", "log"],
    ["audit", "verify"],
    ["audit", "head"],
    ["usage", "report", "--since", "2024-01-01"],
    ["retrain-policy", "list"],
]
SHOWING_NOTHING = [
    ["runs", "show", "nothing"],
    ["models", "show", "nothing"],
    ["models", "show", "nothing@1"],
    ["jobs", "show", "nothing"],
    ["deployments", "show", "nothing"],
    ["data", "show", "nothing"],
    ["tune", "show", "nothing"],
    ["retrain-policy", "show", "nothing"],
]

# Runs each verb through the CLI's app in one fresh process, then reports how each ended and what it imported.
_RUN_VERBS = """
import json, sys
from modelplane.cli.main import app
from modelplane.errors import ModelplaneError
verbs, report = json.loads(sys.argv[1]), sys.argv[2]
outcomes = []
for verb in verbs:
    try:
        app(verb, standalone_mode=False)
        outcomes.append("ok")
    except ModelplaneError as exc:
        outcomes.append(type(exc).__name__)
with open(report, "w") as out:
    json.dump({"outcomes": outcomes, "modules": sorted(sys.modules)}, out)
"""


def _run_verbs(verbs: list[list[str]], tmp_path: Path, **env: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    environment = {k: v for k, v in os.environ.items() if k not in ("MODELPLANE_URL", "MODELPLANE_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_VERBS, json.dumps(verbs), str(report)],
        env={**environment, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(report.read_text())
    found["outcomes"] = dict(zip([" ".join(v) for v in verbs], found["outcomes"], strict=True))
    return found


def test_the_platform_interface_imports_nothing_heavy() -> None:
    """Type hints, not dependencies: a script or console typed against `Platform` pays for none of them."""
    check = "import sys, modelplane.platform; print(' '.join({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    heavy = HEAVY | {"numpy", "sqlalchemy", "pyarrow", "optuna", "httpx"}
    assert heavy & set(done.stdout.split()) == set()


def test_listing_in_process_imports_no_training_library(tmp_path: Path) -> None:
    found = _run_verbs(LISTING + SHOWING_NOTHING, tmp_path)  # MODELPLANE_HOME: this test's empty home
    assert found["outcomes"] == {
        **{" ".join(v): "ok" for v in LISTING},
        **{" ".join(v): "NotFound" for v in SHOWING_NOTHING},
    }
    assert HEAVY & {m.split(".")[0] for m in found["modules"]} == set()


def test_listing_as_a_client_imports_no_training_library(store: Store, tmp_path: Path) -> None:
    key = create_key(store, Principal.local("test"), role="admin", name="admin").key
    gate = PlatformGate(Authenticator(store, recheck_s=0), Limiter(store), None)
    app = create_control_app(ControlState(store, gate, Uploads(tmp_path / "uploads", max_bytes=1 << 20)))
    with serve(app) as address:
        found = _run_verbs(
            LISTING + SHOWING_NOTHING, tmp_path, MODELPLANE_URL=f"http://{address}", MODELPLANE_API_KEY=key
        )
    assert found["outcomes"] == {
        **{" ".join(v): "ok" for v in LISTING},
        **{" ".join(v): "NotFound" for v in SHOWING_NOTHING},
    }
    assert (HEAVY | {"optuna"}) & {m.split(".")[0] for m in found["modules"]} == set()


def test_showing_what_a_store_holds_imports_no_training_library(tmp_path: Path) -> None:
    local = Local()
    try:
        local.datasets.add("iris", source="builtin:iris")
        run = local.train(data="iris", model="logreg")
        local.deploy({"model": "iris-logreg@1"})
        queued = local.train(data="iris", model="logreg", wait=False)
        job = local.jobs.list()[0]
    finally:
        local.close()
    assert queued.status == "queued" and job.params["run_id"] == queued.id
    showing = [
        ["runs", "show", run.id],
        ["models", "show", "iris-logreg"],
        ["models", "show", "iris-logreg@1"],
        ["data", "show", "iris"],
        ["deployments", "show", "iris-logreg"],
        ["jobs", "show", job.id],
        ["jobs", "logs", job.id],
    ]
    found = _run_verbs(LISTING + showing, tmp_path)
    assert set(found["outcomes"].values()) == {"ok"}
    assert HEAVY & {m.split(".")[0] for m in found["modules"]} == set()
