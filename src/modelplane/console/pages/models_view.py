"""What the Models pages say about a version: how it was made (lineage), what took it in, which
deployments serve it, and where an alias would roll back to. Pure functions of the registry's views."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelplane.refs import Ref
from modelplane.registry.views import AliasMove, ModelInfo, ModelVersionInfo
from modelplane.serving.deployments import DeploymentInfo


@dataclass(frozen=True)
class Lineage:
    """How a version was made, in words, and the run, data, parent and study it names (to link to)."""

    how: str
    run_id: str | None
    dataset: str | None
    parent: str | None
    study: str | None
    sha256: str | None


@dataclass(frozen=True)
class VersionRow:
    """One line of a model's versions table."""

    info: ModelVersionInfo
    metrics: dict[str, Any]
    size: int
    lineage: Lineage


def lineage_of(info: ModelVersionInfo) -> Lineage:
    params = info.params
    imported = params.get("imported")
    tuning = params.get("tuning")
    if isinstance(imported, dict):
        how = f"imported from {imported.get('format', 'a file')} {imported.get('file', '')}".rstrip()
        sha = str(imported.get("sha256")) if imported.get("sha256") else None
        return Lineage(how, info.run_id, info.dataset, info.parent, None, sha)
    if "retrain" in params:
        retrain = params["retrain"] if isinstance(params["retrain"], dict) else {}
        how = f"retrained ({retrain.get('method', 'retrain')}, trigger {retrain.get('trigger', '?')}) from"
        return Lineage(how, info.run_id, info.dataset, info.parent, None, None)
    if "compression" in params or (info.parent and not info.run_id):
        compression = params.get("compression") if isinstance(params.get("compression"), dict) else {}
        method = compression.get("method") if compression else None
        how = f"compressed ({method})" if method else "compressed"
        return Lineage(how + " from", info.run_id, info.dataset, info.parent, None, None)
    if isinstance(tuning, dict):
        trial = tuning.get("trial")
        how = f"tuned (best trial {trial})" if trial is not None else "tuned"
        return Lineage(how, info.run_id, info.dataset, info.parent, str(tuning.get("study")), None)
    if info.run_id:
        return Lineage("trained", info.run_id, info.dataset, info.parent, None, None)
    return Lineage("registered", info.run_id, info.dataset, info.parent, None, None)


def size_of(info: ModelVersionInfo) -> int:
    """Bytes of every file the version keeps (shared files counted once per version)."""
    return sum(a.size for a in info.artifacts.values())


def test_metrics(info: ModelVersionInfo) -> dict[str, Any]:
    """The test split's figures where the version has them, else its top-level numbers."""
    test = info.metrics.get("test")
    if isinstance(test, dict):
        return {k: v for k, v in test.items() if isinstance(v, int | float)}
    return {k: v for k, v in info.metrics.items() if isinstance(v, int | float)}


def rollback_target(model: ModelInfo, alias: str) -> int | None:
    """The version `alias` pointed at before its last move, where that version is still registered."""
    current = model.aliases.get(alias)
    live = {v.version for v in model.versions}
    for move in reversed(model.alias_history):
        if move.alias == alias and move.to_version == current:
            found = move.from_version
            return found if found is not None and found in live and found != current else None
    return None


def history_of(model: ModelInfo, alias: str) -> list[AliasMove]:
    """`alias`'s moves, newest first."""
    return [m for m in reversed(model.alias_history) if m.alias == alias]


def deployment_refs(deployment: DeploymentInfo) -> list[str]:
    spec = deployment.spec
    refs = [spec.model, spec.shadow, spec.canary.model if spec.canary else None]
    refs += list(spec.ensemble.members) if spec.ensemble else []
    return [r for r in refs if r]


def serving(deployments: Iterable[DeploymentInfo], model: ModelInfo, version: int) -> list[DeploymentInfo]:
    """The deployments whose spec names `model`@`version`: by number, by an alias on it, or as latest."""
    latest = model.latest.version if model.latest else None
    found = []
    for deployment in deployments:
        for text in deployment_refs(deployment):
            ref = Ref.parse(text, "model")
            if ref.name != model.name:
                continue
            target = latest if ref.selector is None else ref.version or model.aliases.get(ref.selector)
            if target == version:
                found.append(deployment)
                break
    return found
