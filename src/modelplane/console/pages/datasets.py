"""Console pages: the dataset catalog — every dataset, and one dataset's versions with the schema, class
balance and lineage of the version chosen. Read-only; the catalog functions the API's routes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from modelplane.api.deps import MAX_OFFSET
from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.data.catalog import DatasetVersionInfo, list_datasets, list_versions
from modelplane.data.npy import load_npy
from modelplane.data.sources import BUILTIN_PREFIX, FEEDBACK_PREFIX
from modelplane.errors import NotFound
from modelplane.store import Store

router = APIRouter()

PAGE = 100  # rows per page of either list


@dataclass(frozen=True)
class SchemaRow:
    column: str
    type: str
    role: str
    summary: str


@dataclass(frozen=True)
class Balance:
    """Rows per class of the target; `computed`: counted from the stored target now (not in its stats)."""

    counts: list[tuple[str, int]]
    computed: bool

    @property
    def most(self) -> int:
        return max((n for _, n in self.counts), default=0)


@router.get("/datasets", response_class=HTMLResponse)
def datasets_list(
    request: Request,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("data:read")
    found = list_datasets(state.store)
    more = offset + PAGE if offset + PAGE < len(found) else None
    return render(
        request,
        viewer,
        "datasets/list.html",
        datasets=found[offset : offset + PAGE],
        total=len(found),
        more=more,
    )


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(
    request: Request,
    name: str,
    version: int | None = Query(None, ge=1, le=MAX_OFFSET),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("data:read")
    versions = list_versions(state.store, name)
    chosen = versions[-1] if version is None else next((v for v in versions if v.version == version), None)
    if chosen is None:
        known = ", ".join(str(v.version) for v in versions)
        raise NotFound(f"dataset '{name}' has no version {version}; its versions are {known}")
    newest_first = versions[::-1]
    more = offset + PAGE if offset + PAGE < len(versions) else None
    return render(
        request,
        viewer,
        "datasets/dataset.html",
        name=name,
        versions=[(v, lineage_of(v)) for v in newest_first[offset : offset + PAGE]],
        total=len(versions),
        more=more,
        chosen=chosen,
        schema=schema_of(chosen),
        balance=balance_of(state.store, chosen),
    )


def lineage_of(info: DatasetVersionInfo) -> str:
    """Where a version's rows came from, as the catalog records it (its source and parent version)."""
    source = info.source
    if source.startswith(FEEDBACK_PREFIX):
        made = f"derived from the labelled feedback of deployment {source[len(FEEDBACK_PREFIX) :]}"
    elif source.startswith(BUILTIN_PREFIX):
        made = f"the builtin dataset {source[len(BUILTIN_PREFIX) :]}"
    else:
        made = f"read from {source}"
    if info.parent_version is None:
        return made
    added = info.num_rows - info.new_rows_start
    if info.new_rows_start > 0:
        return f"appended {added:,} rows to v{info.parent_version} ({made})"
    return f"follows v{info.parent_version} ({made})"


def schema_of(info: DatasetVersionInfo) -> list[SchemaRow]:
    """Column, the type it is read as, its role (feature, id, target) and its stored statistics."""
    stats = info.stats.get("columns", {}) if isinstance(info.stats.get("columns"), dict) else {}
    rows = []
    if info.columns is not None:
        for column in info.columns:
            role = "id" if column.role == "id" else "feature"
            rows.append(SchemaRow(column.name, column.role, role, _summary(stats.get(column.name, {}))))
    else:
        kind = f"{info.feature_dtype} image {info.image_shape}" if info.image_shape else info.feature_dtype
        names = info.feature_names or [f"x{i}" for i in range(int(np.prod(info.feature_shape)))]
        shown = names[:200]
        rows += [SchemaRow(n, kind, "feature", "") for n in shown]
        if len(names) > len(shown):
            rows.append(SchemaRow(f"… {len(names) - len(shown):,} more", kind, "feature", ""))
    if info.target_name:
        kind = "class" if info.task == "classification" else "number"
        rows.append(
            SchemaRow(
                info.target_name, kind, "target", f"{len(info.classes or [])} classes" if info.classes else ""
            )
        )
    return rows


def _summary(stats: dict[str, Any]) -> str:
    parts = [f"{stats['missing']:,} missing"] if stats.get("missing") else []
    if "min" in stats:
        parts.append(f"{stats['min']:.4g} … {stats['max']:.4g}, mean {stats['mean']:.4g}")
    if "distinct" in stats:
        parts.append(f"{stats['distinct']:,}{'+' if stats.get('distinct_capped') else ''} distinct")
    if "true" in stats:
        parts.append(f"{stats['true']:,} true")
    return "; ".join(parts)


def balance_of(store: Store, info: DatasetVersionInfo) -> Balance | None:
    """The target's rows per class: the version's stored counts, else counted from its stored target
    (one small integer array) — a classification target only."""
    if info.task != "classification" or not info.classes:
        return None
    stored = info.stats.get("class_counts")
    if isinstance(stored, dict):
        return Balance([(str(k), int(v)) for k, v in stored.items()], computed=False)
    if info.target_sha is None:
        return None
    codes = np.asarray(load_npy(store.artifacts.verified_path(info.target_sha)), dtype=np.int64)
    counts = np.bincount(codes, minlength=len(info.classes))
    return Balance([(c, int(n)) for c, n in zip(info.classes, counts.tolist(), strict=False)], computed=True)
