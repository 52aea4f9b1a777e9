"""`modelplane up` as a team runs it: the lifecycle through the Python client, API keys on both
transports, rate limits under concurrency, usage metering, and the audit trail — against a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc

from modelplane import errors
from modelplane.client import Client
from tests.net import free_port

KEY = re.compile(r"mp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


class Up:
    """`modelplane up` in its own process; the admin key is read from what it prints."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.rest_port, self.grpc_port = free_port(), free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        self.url = f"{scheme}://127.0.0.1:{self.rest_port}"
        self.log = home / "up.log"
        home.mkdir(parents=True, exist_ok=True)
        args = [
            "up",
            "--port",
            str(self.rest_port),
            "--grpc-port",
            str(self.grpc_port),
            "--poll",
            "0.1",
            *extra,
        ]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "modelplane.cli.main", *args],
                env={**os.environ, "MODELPLANE_HOME": str(home), "COLUMNS": "200"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.admin_key = self._wait_for_key()

    def _wait_for_key(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if "gRPC" in text and (found := KEY.search(text)):
                return found.group(0)
            if self.process.poll() is not None:
                raise RuntimeError(f"up exited:\n{text}")
            time.sleep(0.1)
        raise RuntimeError(f"up did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("up-home"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(up: Up) -> Iterator[Client]:
    client = Client(up.url, up.admin_key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def deployed(up: Up, admin: Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """iris from a CSV on the client's disk (uploaded), trained and deployed through the API."""
    csv = tmp_path_factory.mktemp("client-files") / "iris.csv"
    from sklearn.datasets import load_iris

    iris = load_iris()
    lines = ["a,b,c,d,species"] + [
        ",".join(f"{v:g}" for v in row) + f",{iris.target_names[y]}"
        for row, y in zip(iris.data, iris.target, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    added = admin.datasets.add("iris", source=str(csv), target="species")
    assert added.created and added.version.num_rows == 150
    epochs: list[dict[str, float]] = []
    run = admin.train(data="iris", model="mlp", train={"epochs": 3}, on_epoch=epochs.append)
    assert run.status == "succeeded" and run.model_version == "iris-mlp@1" and len(epochs) == 3
    admin.models.alias("iris-mlp@1", "production")
    admin.deploy({"model": "iris-mlp@production"})
    ready = f"{admin.url}/v2/models/iris-mlp/ready"
    deadline = time.monotonic() + 10
    while httpx.get(ready, headers={"x-api-key": up.admin_key}).status_code != 200:
        assert time.monotonic() < deadline, "the deployment never became ready"
        time.sleep(0.1)
    return "iris-mlp"


def test_lifecycle_through_the_client(admin: Client, deployed: str, tmp_path: Path) -> None:
    outputs = admin.predict(deployed, ROWS)
    assert outputs["probabilities"].shape == (2, 3) and outputs["label"].shape == (2,)
    assert [m.name for m in admin.models.list()] == ["iris-mlp"]
    report = admin.evaluate("iris-mlp@production", "iris")
    assert report.n_samples > 0 and "accuracy" in report.metrics
    files = admin.export("iris-mlp@1", "onnx", tmp_path / "out")
    assert sorted(p.suffix for p in files) == [".json", ".onnx"] and files[0].stat().st_size > 0
    with pytest.raises(errors.NotFound, match="no version 9"):
        admin.models.version("iris-mlp@9")
    with pytest.raises(errors.Invalid, match="upload:ID"):
        admin._http.json("POST", "/api/v1/datasets", json={"name": "x", "source": "/etc/passwd"})
    deadline = time.monotonic() + 10
    while not (rows := admin.usage.report()):  # this month's, by default
        assert time.monotonic() < deadline, "usage never showed the prediction"
        time.sleep(0.2)
    assert rows[0].deployment == deployed and rows[0].requests >= 1 and rows[0].samples >= 2


def test_the_client_sends_named_columns(admin: Client, deployed: str, tmp_path: Path) -> None:
    by_matrix = admin.predict(deployed, ROWS)
    labels = by_matrix["label"].tolist()
    assert by_matrix["label"].dtype.kind == "U" and set(labels) <= {"setosa", "versicolor", "virginica"}
    records = [dict(reversed(list(zip("abcd", row, strict=True)))) for row in ROWS.tolist()]
    assert admin.predict(deployed, records)["label"].tolist() == labels
    columns = {name: ROWS[:, j] for j, name in enumerate("abcd")}
    np.testing.assert_allclose(admin.predict(deployed, columns)["probabilities"], by_matrix["probabilities"])
    noted = [{**row, "note": "x"} for row in records]
    with pytest.warns(errors.Notice, match="ignored 1 column.*: note"):
        admin.predict(deployed, noted)
    with pytest.raises(errors.Invalid, match="does not read: note"):
        admin.predict(deployed, noted, strict=True)
    with pytest.raises(errors.Invalid, match=r"missing column\(s\) d"):
        admin.predict(deployed, [{k: v for k, v in row.items() if k != "d"} for row in records])
    with pytest.raises(errors.Invalid, match="column 'a' row 2"):
        admin.predict(deployed, [records[0], {**records[1], "a": "wide"}])
    csv = tmp_path / "rows.csv"  # columns in another order, and the target: sent by name, matched there
    csv.write_text("species,d,c,b,a\n" + "".join(f"x,{d},{c},{b},{a}\n" for a, b, c, d in ROWS.tolist()))
    with pytest.warns(errors.Notice, match="of rows.csv the model does not read: species"):
        assert admin.predict(deployed, csv)["label"].tolist() == labels
    pandas = pytest.importorskip("pandas")
    assert admin.predict(deployed, pandas.DataFrame(records))["label"].tolist() == labels


def test_consumer_keys_on_rest_and_grpc(admin: Client, deployed: str, up: Up) -> None:
    created = admin.keys.create(role="consumer", name="acme", deployments=[deployed])
    consumer = Client(up.url, created.key)
    assert consumer.predict(deployed, ROWS)["label"].shape == (2,)
    with pytest.raises(errors.Forbidden, match="may not 'models:read'"):
        consumer.models.list()
    with pytest.raises(errors.Forbidden, match="may predict only on iris-mlp"):
        consumer.predict("other", ROWS)
    with pytest.raises(errors.Unauthorized):
        Client(up.url, "mp_000000000000_" + "x" * 43).predict(deployed, ROWS)

    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{up.grpc_port}")
    tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    answer = grpc.infer(deployed, [tensor], headers={"authorization": f"Bearer {created.key}"})
    assert answer.as_numpy("label").shape == (2,)
    with pytest.raises(triton_grpc.InferenceServerException, match="API key") as missing:
        grpc.infer(deployed, [tensor])
    assert missing.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(triton_grpc.InferenceServerException) as other:
        grpc.infer("other", [tensor], headers={"x-api-key": created.key})
    assert other.value.status() == "StatusCode.PERMISSION_DENIED"
    assert grpc.is_server_live()  # health stays open for probes

    admin.keys.revoke(created.info.id)
    deadline = time.monotonic() + 3
    while True:
        try:
            consumer.predict(deployed, ROWS)
        except errors.Unauthorized as exc:
            assert "revoked" in str(exc)
            break
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.1)
    consumer.close()


def test_rate_limit_holds_under_concurrency(admin: Client, deployed: str, up: Up) -> None:
    created = admin.keys.create(role="consumer", name="limited", deployments=[deployed], rate="5/s")
    body = {"instances": ROWS.tolist()}

    async def burst() -> tuple[Counter[int], float, list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=up.url, headers={"x-api-key": created.key}, timeout=30) as http:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(http.post(f"/v1/predict/{deployed}", json=body) for _ in range(60))
            )
            return Counter(r.status_code for r in responses), time.monotonic() - started, list(responses)

    statuses, elapsed, responses = asyncio.run(burst())
    assert set(statuses) == {200, 429}, statuses
    assert statuses[200] <= 5 + 5 * elapsed + 1, (statuses, elapsed)  # one bucket's burst plus the refill
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1 and "rate limit" in refused.json()["error"]


def test_every_change_is_in_a_verified_audit_chain(admin: Client, deployed: str) -> None:
    actions = [entry.action for entry in admin.audit.log(limit=100)]
    expected_actions = (
        "dataset.version.added",
        "run.started",
        "run.finished",
        "model.version.registered",
        "model.alias.moved",
        "deployment.saved",
        "key.created",
    )
    for expected in expected_actions:
        assert expected in actions, actions
    verification = admin.audit.verify()
    assert verification.ok and verification.entries == len(admin.audit.log(limit=10_000))
    assert admin.audit.head().hash == verification.head.hash


def test_tls_round_trip_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = Up(tmp_path / "tls-home", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        client = Client(server.url, server.admin_key, verify=str(cert))
        assert client.deployments.list() == []
        with pytest.raises(errors.Unavailable, match="cannot reach"):
            Client(server.url, server.admin_key).models.list()  # the default trust store does not know it
        grpc = triton_grpc.InferenceServerClient(
            f"localhost:{server.grpc_port}", ssl=True, root_certificates=str(cert)
        )
        assert grpc.is_server_live()
        client.close()
    finally:
        server.stop()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tuning_and_compression_run_as_jobs_on_the_server(admin: Client, deployed: str) -> None:
    study = admin.tune(data="iris", model="logreg", trials=2)
    assert study.trials_done == 2 and study.model_version == "iris-logreg@1"
    assert [s.name for s in admin.studies.list()] == [study.name]
    assert admin.studies.get(study.name).best_params

    result = admin.compress("iris-mlp@1", quantize="int8")
    assert result.version.parent == "iris-mlp@1" and result.version.framework == "onnx"
    assert result.report.baseline == "iris-mlp@1" and len(result.report.versions) == 2
    compared = admin.compare([result.version.ref, "iris-mlp@1"])
    assert [m.ref for m in compared.versions] == [result.version.ref, "iris-mlp@1"]
    with pytest.raises(errors.Invalid, match="prune"):
        admin.compress("iris-mlp@1", prune=1.5)
    kinds = {job.kind for job in admin.jobs.list(limit=100)}
    assert {"train", "tune", "compress"} <= kinds
