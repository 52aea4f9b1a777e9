"""What `package` writes: the versions resolved now, their files hashed, a Dockerfile that needs no torch
for ONNX-served versions, and manifests valid against the Kubernetes and KServe schemas (offline)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from modelplane.local import Local
from modelplane.packaging.manifest import MANIFEST

K8S_VERSION = "1.34.0"  # a release current clusters run; kubernetes-validate ships its schemas


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST).read_text())


def _docs(directory: Path, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((directory / "k8s" / name).read_text()))


def test_versions_are_resolved_now_and_every_file_is_hashed(packages: dict[str, Path]) -> None:
    manifest = _manifest(packages["iris"])
    assert manifest["deployment"] == "iris" and manifest["format_version"] == 1
    assert manifest["spec"]["model"] == "iris-mlp@1"  # the alias, followed when packaged
    assert manifest["spec_as_deployed"]["model"] == "iris-mlp@production"
    assert manifest["spec"]["batching"]["max_batch_size"] == 16
    (version,) = manifest["versions"]
    assert (version["model"], version["version"], version["task"]) == ("iris-mlp", 1, "classification")
    assert version["classes"] == ["setosa", "versicolor", "virginica"]
    assert {"onnx", "safetensors", "columns"} <= set(version["files"])  # columns: the dataset's names
    columns = json.loads((packages["iris"] / version["files"]["columns"]["path"]).read_text())
    assert columns[0] == "sepal length (cm)" and len(columns) == 4
    for found in version["files"].values():
        data = (packages["iris"] / found["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == found["sha256"] and len(data) == found["size"]
    ensemble = _manifest(packages["ens"])
    assert [v["version"] for v in ensemble["versions"]] == [1, 2]
    assert ensemble["spec"]["ensemble"]["members"] == ["iris-mlp@1", "iris-mlp@2"]


def test_the_build_context_is_self_contained_and_runs_as_a_non_root_user(packages: dict[str, Path]) -> None:
    context = packages["iris"]
    dockerfile = (context / "Dockerfile").read_text()
    assert "ARG PYTHON_VERSION=3.12" in dockerfile and "FROM python:${PYTHON_VERSION}-slim" in dockerfile
    assert "USER modelplane" in dockerfile and "EXPOSE 8000 8001" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/v2/health/ready" in dockerfile
    assert '"serve", "--from", "/package", "--host", "0.0.0.0"' in dockerfile
    assert (context / "app" / "modelplane" / "cli" / "main.py").is_file()  # the code is in the context
    assert not list((context / "app").rglob("__pycache__"))
    pins = (context / "requirements.txt").read_text().split()
    names = {pin.split("==")[0].split("[")[0].lower() for pin in pins}
    assert all("==" in pin for pin in pins) and {"onnxruntime", "numpy", "fastapi"} <= names
    assert "torch" not in names  # every version is served by ONNX Runtime
    assert _manifest(context)["needs_torch"] is False


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "hpa.yaml"])
def test_kubernetes_manifests_validate_against_the_schemas(packages: dict[str, Path], name: str) -> None:
    for doc in _docs(packages["iris"], name):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_manifests_probe_v2_health_and_scale_one_to_three(packages: dict[str, Path]) -> None:
    (deployment,) = _docs(packages["iris"], "deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "modelplane/iris:1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    (service,) = _docs(packages["iris"], "service.yaml")
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [8000, 8001]
    (hpa,) = _docs(packages["iris"], "hpa.yaml")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)


def _k8s(name: str) -> dict[str, Any]:
    folder = (
        resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    )
    return json.loads((folder / name).read_text())


def _object(properties: dict[str, Any], required: list[str], **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        **more,
    }


_DEFS = "/api/_definitions.json#/$defs/"
_META = {"$ref": _DEFS + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
_CONTAINERS = {"type": "array", "items": {"$ref": _DEFS + "io.k8s.api.core.v1.Container"}}
_FORMAT = _object({"name": {"type": "string"}, "version": {"type": "string"}}, ["name"])
# The KServe fields the package writes, their names and types as the kserve 0.21 SDK's models declare them
# (V1alpha1ServingRuntime(Spec), V1alpha1SupportedModelFormat, V1beta1InferenceService(Spec),
# V1beta1PredictorSpec, V1beta1ModelSpec, V1beta1ModelFormat; attribute_map gives the camelCase names);
# containers and metadata are checked against Kubernetes' own Container and ObjectMeta schemas, strict.
SERVING_RUNTIME = _object(
    {
        "apiVersion": {"const": "serving.kserve.io/v1alpha1"},
        "kind": {"const": "ServingRuntime"},
        "metadata": _META,
        "spec": _object(
            {
                "supportedModelFormats": {
                    "type": "array",
                    "items": _object(
                        {
                            "name": {"type": "string"},
                            "version": {"type": "string"},
                            "autoSelect": {"type": "boolean"},
                            "priority": {"type": "integer"},
                        },
                        ["name"],
                    ),
                },
                "protocolVersions": {"type": "array", "items": {"enum": ["v1", "v2", "grpc-v1", "grpc-v2"]}},
                "containers": _CONTAINERS,
            },
            ["containers"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
    **{
        "$id": "https://kubernetes.io/api/servingruntime/serving.kserve.io/v1alpha1"
    },  # the base the "/api/..." refs resolve against
)
INFERENCE_SERVICE = _object(
    {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": _META,
        "spec": _object(
            {
                "predictor": _object(
                    {
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 0},
                        "model": _object(
                            {
                                "modelFormat": _FORMAT,
                                "protocolVersion": {"enum": ["v1", "v2", "grpc-v1", "grpc-v2"]},
                                "runtime": {"type": "string"},
                                "storageUri": {"type": "string"},
                            },
                            ["modelFormat"],
                        ),
                    },
                    [],
                )
            },
            ["predictor"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
    **{"$id": "https://kubernetes.io/api/inferenceservice/serving.kserve.io/v1beta1"},
)


def test_kserve_manifest_validates_and_speaks_v2_through_its_runtime(packages: dict[str, Path]) -> None:
    runtime, service = _docs(packages["iris"], "kserve.yaml")
    registry: Registry = Resource.from_contents(_k8s("_definitions.json")) @ Registry()
    for doc, schema in ((runtime, SERVING_RUNTIME), (service, INFERENCE_SERVICE)):
        jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    assert service["spec"]["predictor"]["model"]["protocolVersion"] == "v2"
    assert service["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert runtime["spec"]["containers"][0]["image"] == "modelplane/iris:1"
    broken = {**service, "spec": {"predictor": {"model": {"modelFormat": {}, "protocol": "v2"}}}}
    with pytest.raises(jsonschema.ValidationError):  # the schema does catch a wrong field
        jsonschema.Draft202012Validator(INFERENCE_SERVICE, registry=registry).validate(broken)


def test_the_pod_autoscaler_takes_the_deployments_own_bounds(home: Path, tmp_path: Path) -> None:
    local = Local(home)
    try:
        local.deploy(
            {"model": "iris-mlp@1", "scaling": {"autoscale": {"min_replicas": 0, "max_replicas": 5}}},
            name="elastic",
        )
        local.deploy({"model": "iris-mlp@1", "scaling": {"replicas": 2}}, name="pair")
        bounds = {}
        for name in ("elastic", "pair"):
            (hpa,) = _docs(local.package(name, tmp_path / name).directory, "hpa.yaml")
            bounds[name] = (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
        (hpa,) = _docs(local.package("pair", tmp_path / "given", max_replicas=6).directory, "hpa.yaml")
    finally:
        local.deployments.undeploy("elastic")
        local.deployments.undeploy("pair")
        local.close()
    assert bounds == {"elastic": (1, 5), "pair": (2, 2)}  # at least one pod: a scaled-to-zero pod is gone
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
