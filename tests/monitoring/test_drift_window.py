"""Drift on demand over a real prediction log: `monitor drift --json`, the API route, the Platform area."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_digits

from modelplane.client.http import Http
from modelplane.client.monitor_drift import Drift
from modelplane.local import Local
from modelplane.monitoring.log_files import day_dir
from modelplane.monitoring.schema import (
    BASE_FIELDS,
    CLASSES_KEY,
    LABEL,
    PROBABILITIES,
    feature_field,
)
from modelplane.registry.loading import load_runtime
from modelplane.serving.deployments import DeploymentSpec, save_deployment
from tests.api.conftest import Control, control  # noqa: F401  (the fixture)
from tests.cli_helpers import run_cli


def write_log(
    home: Path, deployment: str, version: str, names: list[str], x: np.ndarray, answers: dict, when: datetime
) -> None:  # type: ignore[type-arg]
    """Rows as the prediction log stores them (monitoring/schema.py), one closed segment, plus one failed
    request (no features, no outputs) that drift must ignore."""
    classes = [str(i) for i in range(answers["probabilities"].shape[1])]
    fields = [*BASE_FIELDS, *(feature_field(n, "numeric") for n in names)]
    fields += [pa.field(LABEL, pa.string()), pa.field(PROBABILITIES, pa.list_(pa.float32(), len(classes)))]
    schema = pa.schema(fields, metadata={CLASSES_KEY: json.dumps(classes).encode()})
    n = len(x)
    rows = {
        "request_id": [f"r{i}" for i in range(n)] + ["failed"],
        "row": [0] * (n + 1),
        "time": [when + timedelta(milliseconds=i) for i in range(n + 1)],
        "version": [version] * (n + 1),
        "key_id": [None] * (n + 1),
        "latency_ms": [1.0] * (n + 1),
        "status": [200] * n + [500],
        **{f"f:{name}": [*x[:, j].tolist(), None] for j, name in enumerate(names)},
        LABEL: [*(classes[i] for i in answers["label"]), None],
        PROBABILITIES: [*answers["probabilities"].tolist(), None],
    }
    folder = day_dir(home, deployment, when.date())
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pydict(rows, schema=schema), folder / f"{int(when.timestamp() * 1000)}-1-t.parquet"
    )


@pytest.fixture
def served(isolated_home: Path) -> tuple[Local, str]:
    platform = Local()
    platform.datasets.add("digits", source="builtin:digits")
    ref = platform.train(data="digits", model="logreg").model_version or ""
    save_deployment(platform.store, DeploymentSpec(model=ref), name="digits")
    version = platform.models.version(ref)
    x = load_digits().data.astype(np.float32)[:600]
    shifted = x.copy()
    shifted[:, 27] += 8.0  # pixel_3_3 much brighter
    runtime = load_runtime(platform.store, version)
    names = [f"pixel_{i // 8}_{i % 8}" for i in range(64)]
    now = datetime.now(UTC)
    write_log(isolated_home, "digits", ref, names, x, runtime.predict(x), now - timedelta(hours=3))
    write_log(
        isolated_home, "digits", ref, names, shifted, runtime.predict(shifted), now - timedelta(minutes=5)
    )
    return platform, ref


def test_cli_reports_the_shift_of_the_last_hour(
    served: tuple[Local, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, ref = served
    result = run_cli(capsys, "monitor", "drift", "digits", "--json")
    assert result.code == 0, result.err
    (report,) = result.json()
    assert report["version"] == ref and report["deployment"] == "digits" and report["rows"] == 600
    by_name = {f["feature"]: f for f in report["features"]}
    assert (
        len(by_name) == 64
        and by_name["pixel_3_3"]["drifted"]
        and by_name["pixel_3_3"]["test"] == "wasserstein"
    )
    assert report["quality"]["out_of_range_rate"] > 0 and report["quality"]["missing_rate"] == 0
    assert 0 < report["estimated_accuracy"] <= 1 and report["prediction"]["test"] == "chi2"
    wider = run_cli(capsys, "monitor", "drift", "digits", "--window", "4h", "--json").json()
    assert wider[0]["rows"] == 1200
    shown = run_cli(capsys, "monitor", "drift", "digits")
    assert (
        shown.code == 0
        and "pixel_3_3" in shown.out
        and "DRIFT" in shown.out
        and "estimated accuracy" in shown.out
    )
    bad = run_cli(capsys, "monitor", "drift", "digits", "--window", "soon")
    assert bad.code != 0 and "Traceback" not in bad.err and "1h" in bad.err
    missing = run_cli(capsys, "monitor", "drift", "nope")
    assert missing.code != 0 and "does not exist" in missing.err


def test_api_and_platform_give_the_same_reports(served: tuple[Local, str], control: Control) -> None:  # noqa: F811
    platform, ref = served
    local = platform.drift.compute("digits", window="1h")
    response = control.http.get(
        "/api/v1/deployments/digits/drift?window=1h", headers=control.headers("developer")
    )
    assert response.status_code == 200, response.text
    (remote,) = response.json()["reports"]
    assert remote["version"] == ref and remote["features"] == [
        f.model_dump(mode="json") for f in local[0].features
    ]
    control.http.headers["Authorization"] = control.headers("developer")["Authorization"]
    http = Http("http://testserver", control.keys["developer"], 10.0, True)
    http.client = control.http
    (through_client,) = Drift(http).compute("digits", window="1h")
    assert through_client.model_dump(exclude={"since", "until"}) == local[0].model_dump(
        exclude={"since", "until"}
    )
    bad = control.http.get("/api/v1/deployments/digits/drift?window=xx", headers=control.headers("developer"))
    assert bad.status_code == 400 and "duration" in bad.json()["error"]
