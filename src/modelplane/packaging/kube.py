"""Kubernetes manifests for a package's image: Deployment, Service, HorizontalPodAutoscaler, and KServe.

Plain dicts dumped as YAML, so a reader can `kubectl apply -f k8s/` without templating. KServe: an
InferenceService cannot declare `protocolVersion: v2` for a bare custom container (the field lives on a
model spec served by a runtime), so kserve.yaml holds a ServingRuntime that runs the image and speaks
V2, and an InferenceService whose predictor model names that runtime. The model is baked into the image,
so the InferenceService has no storageUri."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REST_PORT, GRPC_PORT = 8000, 8001
MODEL_FORMAT = "modelplane"


@dataclass(frozen=True)
class KubeOptions:
    name: str  # the deployment's name: a DNS-1123 label already (refs.check_name)
    image: str
    min_replicas: int = 1
    max_replicas: int = 3
    cpu_target_percent: int = 70


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "modelplane"}


def _probe(path: str, *, initial: int, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _resources() -> dict[str, Any]:
    return {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


def _container(options: KubeOptions) -> dict[str, Any]:
    return {
        "name": "modelplane",
        "image": options.image,
        "args": [
            "serve",
            "--from",
            "/package",
            "--host",
            "0.0.0.0",
            "--port",
            str(REST_PORT),
            "--grpc-port",
            str(GRPC_PORT),
        ],
        "ports": [
            {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": _probe("/v2/health/ready", initial=5, period=5),
        "livenessProbe": _probe("/v2/health/live", initial=15, period=10),
        "resources": _resources(),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False},
    }


def deployment(options: KubeOptions) -> dict[str, Any]:
    labels = _labels(options.name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": options.name, "labels": labels},
        "spec": {
            "replicas": options.min_replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [_container(options)]}},
        },
    }


def service(options: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": options.name, "labels": _labels(options.name)},
        "spec": {
            "selector": _labels(options.name),
            "ports": [
                {"name": "http", "port": REST_PORT, "targetPort": "http", "protocol": "TCP"},
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }


def hpa(options: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": options.name, "labels": _labels(options.name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": options.name},
            "minReplicas": options.min_replicas,
            "maxReplicas": options.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": options.cpu_target_percent},
                    },
                }
            ],
        },
    }


def kserve(options: KubeOptions) -> list[dict[str, Any]]:
    """The ServingRuntime (the image, V2) and the InferenceService that uses it (see the module doc).
    KServe's serverless mode routes one port per container: the REST port is declared; gRPC stays on
    8001 inside the pod."""
    runtime_name = f"{options.name}-runtime"
    container = _container(options) | {"name": "kserve-container"}
    container["ports"] = [{"containerPort": REST_PORT, "protocol": "TCP"}]
    container["readinessProbe"]["httpGet"]["port"] = REST_PORT
    container["livenessProbe"]["httpGet"]["port"] = REST_PORT
    runtime = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": runtime_name, "labels": _labels(options.name)},
        "spec": {
            "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": False}],
            "protocolVersions": ["v2"],
            "containers": [container],
        },
    }
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": options.name, "labels": _labels(options.name)},
        "spec": {
            "predictor": {
                "minReplicas": options.min_replicas,
                "maxReplicas": options.max_replicas,
                "model": {
                    "modelFormat": {"name": MODEL_FORMAT, "version": "1"},
                    "protocolVersion": "v2",
                    "runtime": runtime_name,
                },
            }
        },
    }
    return [runtime, service]


def write_manifests(directory: Path, options: KubeOptions) -> list[Path]:
    """k8s/{deployment,service,hpa,kserve}.yaml under `directory`."""
    out = directory / "k8s"
    out.mkdir(parents=True, exist_ok=True)
    documents: dict[str, list[dict[str, Any]]] = {
        "deployment.yaml": [deployment(options)],
        "service.yaml": [service(options)],
        "hpa.yaml": [hpa(options)],
        "kserve.yaml": kserve(options),
    }
    written = []
    for name, docs in documents.items():
        path = out / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        written.append(path)
    return written
