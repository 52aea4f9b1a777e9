"""Schemathesis, as CI runs it (`schemathesis run`), over every operation of the control plane's OpenAPI
schema, against a real uvicorn server with an admin key: no request, valid or not, may get a 5xx, and every
answer must match the schema's response (content type, body).

Its phases run for each operation: the schema's examples, coverage (boundary values such as a huge offset,
and values just outside each constraint, in positive and negative modes) and fuzzing. The server holds one
of everything, and each path parameter names a thing that exists half the time, so requests reach past the
404s. The budget is bounded by counts, not time, and reproducible: a few fuzzed examples per operation,
deterministic generation, no shrinking, so a failure in CI is the same failure on a laptop (~2,600 requests,
15-30 s here). No worker runs: the jobs that POST /runs, /studies, /compressions, /batch and a retrain
trigger queue stay queued, so nothing generated trains. No operation is left out; the stateful phase (a
random walk through links, its length varying run to run) is not run.

Not checked: `status_code_conformance`. FastAPI documents 422 for a request that fails validation, and this
API answers 400 with `{"error": ...}` (DESIGN: errors), as it answers 401/403/404/409 no route lists; the
checks above hold every answer to its documented body where there is one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.data.ingest import add_dataset
from modelplane.data.uploads import Uploads
from modelplane.jobs.train import submit_train
from modelplane.registry.registry import set_alias
from modelplane.retrain.policies import set_policy
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from modelplane.training.runs import parse_run_config, start_run
from tests.net import serve

EXAMPLES = 30  # fuzzed per operation, besides the examples and boundary cases of the other phases
CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"


@dataclass
class Seeded:
    """A control plane with one of everything in it, so that path parameters can name real things."""

    url: str
    key: str
    known: dict[str, list[str]]  # path parameter -> values that exist


@pytest.fixture
def control_plane(store: Store, tmp_path: Path) -> Iterator[Seeded]:
    """The control plane on a free port; iris, a logistic regression trained on it (production, deployed,
    with a retrain policy), a queued training job, an open upload and a consumer key."""
    admin = Principal.local("test")
    add_dataset(store, "iris", "builtin:iris")
    run = start_run(store, parse_run_config({"data": "iris", "model": "logreg"}), by="test")
    set_alias(store, "iris-logreg@1", "production", by="test")
    save_deployment(store, parse_spec({"model": "iris-logreg@production"}), by="test")
    set_policy(store, "iris-logreg", data="iris", on="manual")
    job = submit_train(store, parse_run_config({"data": "iris", "model": "logreg"}), by="test")
    uploads = Uploads(tmp_path / "uploads", max_bytes=1 << 24)
    upload = uploads.create("x.csv", 10, "0" * 64, 1 << 20, owner="test")
    consumer = create_key(store, admin, role="consumer", name="other", deployments=["iris-logreg"]).info.id
    key = create_key(store, admin, role="admin", name="fuzz").key
    gate = PlatformGate(Authenticator(store, recheck_s=0), Limiter(store), None)
    known = {
        "name": ["iris", "iris-logreg"],
        "model": ["iris-logreg"],
        "ref": ["iris@1", "iris-logreg@1", "iris-logreg@production"],
        "alias": ["production", "staging"],
        "run_id": [str(run.id)],
        "job_id": [job.id],
        "upload_id": [upload.id],
        "key_id": [consumer],
    }
    with serve(create_control_app(ControlState(store, gate, uploads))) as address:
        yield Seeded(f"http://{address}", key, known)


def _config(known: dict[str, list[str]]) -> str:
    """schemathesis.toml: each path parameter names a thing that exists half the time, a generated value
    otherwise."""
    lines = []
    for name, values in known.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in known]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_no_server_error(control_plane: Seeded, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {control_plane.key}"}
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(control_plane.known))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{control_plane.url}/openapi.json",
        "--header",
        f"Authorization: {headers['Authorization']}",
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Server error" not in report
    operations = sum(
        len(ops)
        for ops in httpx.get(f"{control_plane.url}/openapi.json", headers=headers).json()["paths"].values()
    )
    assert f"Selected: {operations}/{operations}" in report and f"Tested: {operations}" in report, report
