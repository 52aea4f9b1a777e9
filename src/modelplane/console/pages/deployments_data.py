"""What the Overview and Deployments pages show of deployments, read the cheap way: one row per deployment
from summary reads (the deployment rows, every alert rule, the newest monitor window of each served version:
three queries however many deployments) plus the live sampler's latest point (no query at all)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelplane.console.live import NOT_LOADED, READY, Point
from modelplane.console.web import ConsoleState, Viewer
from modelplane.jobs.views import aware
from modelplane.monitoring.alert_store import FIRING, list_rules
from modelplane.monitoring.windows import WindowInfo, latest_windows
from modelplane.serving.deployments import DeploymentInfo, get_deployment, list_deployments

# The share of drifted features at which the badge turns red: the rule language's example
# ('drift > 0.2 for 2 windows') and the default alert a user writes first.
DRIFT_SHARE_LIMIT = 0.2
EXISTS_CACHE_S = 5.0


@dataclass(frozen=True)
class DeploymentRow:
    """One deployment as the list pages show it; None where a figure is unknown (shown as "—")."""

    info: DeploymentInfo
    health: str | None  # ready | unloaded | not loaded; None without a data plane beside the console
    live: Point | None
    firing: int | None  # None: the viewer may not see monitoring
    drift: float | None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def models(self) -> list[str]:
        spec = self.info.spec
        return [spec.model] if spec.model else list(spec.ensemble.members if spec.ensemble else [])

    @property
    def split(self) -> str:
        """The canary split as "90 / 10 → ref", or "—" without a canary."""
        canary = self.info.spec.canary
        if canary is None:
            return "—"
        return f"{100 - canary.percent:g} / {canary.percent:g} → {canary.model}"

    @property
    def health_badge(self) -> str:
        return {READY: "ok", NOT_LOADED: "bad"}.get(self.health or "", "warn")

    @property
    def error_rate(self) -> float | None:
        if self.live is None or self.live.rps <= 0:
            return None
        return self.live.errors_per_s / self.live.rps

    @property
    def drift_badge(self) -> str:
        return drift_badge(self.drift)


def drift_badge(share: float | None) -> str:
    """The badge class: none (grey) without a window, ok at no drift, bad from DRIFT_SHARE_LIMIT."""
    if share is None:
        return ""
    if share == 0:
        return "ok"
    return "bad" if share >= DRIFT_SHARE_LIMIT else "warn"


def deployment_rows(state: ConsoleState, viewer: Viewer) -> list[DeploymentRow]:
    """Every deployment the viewer may see, by name; monitoring figures only for who may read them."""
    infos = [info for info in list_deployments(state.store) if viewer.sees_deployment(info.name)]
    internals = viewer.can("deployments:read")
    firing: Counter[str] = Counter()
    drift: dict[str, float] = {}
    if internals and infos:
        firing.update(rule.deployment for rule in list_rules(state.store) if rule.state == FIRING)
        for window in latest_windows(state.store):
            share = window.metrics.get("drift")
            if share is not None:
                drift[window.deployment] = max(share, drift.get(window.deployment, 0.0))
    return [
        DeploymentRow(
            info,
            state.served.health(info.name) if state.served else None,
            state.live.latest(info.name) if state.live else None,
            firing[info.name] if internals else None,
            drift.get(info.name),
        )
        for info in infos
    ]


class KnownDeployments:
    """Which deployment names exist, remembered for a few seconds: a page polling its live figures every
    second must not query the store each time (a deleted deployment's charts stop within EXISTS_CACHE_S)."""

    def __init__(self, ttl_s: float = EXISTS_CACHE_S) -> None:
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._until: dict[tuple[int, str], float] = {}

    def check(self, state: ConsoleState, name: str) -> None:
        """NotFound (as the API says it) unless `name` is deployed."""
        key, now = (id(state.store), name), time.monotonic()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return
        get_deployment(state.store, name)
        with self._lock:
            self._until[key] = now + self._ttl


@dataclass(frozen=True)
class HeatCell:
    test: str
    statistic: float
    p_value: float | None
    score: float  # 1.0 at the threshold
    drifted: bool

    @property
    def colour(self) -> str:
        """Green at no drift, yellow at half the threshold, red from twice the threshold on."""
        hue = round(120 * (1 - min(max(self.score, 0.0), 2.0) / 2))
        return f"hsl({hue}, 70%, 78%)"

    @property
    def title(self) -> str:
        p = f", p={self.p_value:.3g}" if self.p_value is not None else ""
        return f"{self.test} {self.statistic:.3g}{p} (score {self.score:.2f})"


@dataclass(frozen=True)
class HeatMap:
    """Rows: features; columns: monitor windows, oldest first."""

    features: list[str]
    columns: list[WindowInfo]
    cells: list[list[HeatCell | None]]


def heat_map(windows: list[WindowInfo]) -> HeatMap:
    """From the windows' stored drift reports (monitoring/drift.py DriftReport), newest-first in."""
    columns = [w for w in reversed(windows) if w.report.get("features")]
    per_window = [{f["feature"]: f for f in w.report["features"]} for w in columns]
    features = sorted({name for found in per_window for name in found})
    cells = [[_cell(found.get(feature)) for found in per_window] for feature in features]
    return HeatMap(features, columns, cells)


def _cell(result: dict[str, Any] | None) -> HeatCell | None:
    if result is None:
        return None
    return HeatCell(
        str(result.get("test", "")),
        float(result.get("statistic", 0.0)),
        result.get("p_value"),
        float(result.get("score", 0.0)),
        bool(result.get("drifted", False)),
    )


def accuracy_series(windows: list[WindowInfo]) -> dict[str, Any]:
    """Live and estimated accuracy over the main version's windows against its test accuracy, for a chart
    (x: window ends in unix seconds, oldest first; null where a window has no figure)."""
    if not windows:
        return {"version": None, "x": [], "series": []}
    version = Counter(w.version for w in windows).most_common(1)[0][0]
    mine = [w for w in reversed(windows) if w.version == version]
    names = (
        ("live accuracy", "live_accuracy"),
        ("estimated", "estimated_accuracy"),
        ("test", "test_accuracy"),
    )
    return {
        "version": version,
        "x": [_unix(w.window_end) for w in mine],
        "series": [{"label": label, "values": [w.metrics.get(key) for w in mine]} for label, key in names],
    }


def _unix(moment: datetime) -> float:
    return aware(moment).timestamp()  # SQLite hands back naive datetimes; every one stored is UTC
