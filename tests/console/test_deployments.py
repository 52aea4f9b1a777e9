"""The Deployments pages: the list, one deployment (live charts fed by a real ServingMetrics, the canary
split, the drift heat map, accuracy, alerts) and the live JSON they poll, for each role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from modelplane.api.gate import PlatformGate
from modelplane.console.live import LiveSampler
from modelplane.console.pages.deployments import KNOWN
from modelplane.console.sessions import Sessions
from modelplane.console.web import ConsoleState
from modelplane.local import Local
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.alert_store import add_rule
from modelplane.monitoring.windows import WindowInfo, save_windows
from modelplane.security.keys import Authenticator, ensure_admin_key
from modelplane.security.limits import Limiter
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.serving.metrics import ServingMetrics
from tests.console.conftest import Console

FEATURES = ("sepal length (cm)", "petal width (cm)")


class Clock:
    """The sampler's clock, moved by the test: one `tick()` is one second of traffic."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += 1.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Local, str]]:
    """A store with iris-logreg@1 and @2 deployed as 'iris' (with a canary) and 'other', windows and a
    firing alert on 'iris'; built once (training takes seconds)."""
    local = Local(tmp_path_factory.mktemp("console-deployments"))
    admin_key = ensure_admin_key(local.store)
    assert admin_key
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")
    local.train(data="iris", model="logreg", train={"seed": 2})
    spec = {"model": "iris-logreg@1", "canary": {"model": "iris-logreg@2", "percent": 10}}
    save_deployment(local.store, parse_spec(spec), name="iris", by="test")
    save_deployment(local.store, parse_spec({"model": "iris-logreg@1"}), name="other", by="test")
    _monitor(local, "iris")
    yield local, admin_key
    local.close()


def _monitor(local: Local, name: str) -> None:
    """Three monitor windows with drift reports, and a rule that fires on the last."""
    add_rule(local.store, name, "drift > 0.4", by="test")
    end = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    for i, share in enumerate((0.0, 0.5, 1.0)):
        at = end + timedelta(minutes=5 * i)
        features = [
            {
                "feature": feature,
                "kind": "numeric",
                "test": "ks",
                "statistic": 0.1 * (i + 1),
                "p_value": 0.5 / (i + 1) ** 3,
                "threshold": 0.05,
                "drifted": share * len(FEATURES) > j,
                "score": share * 2 - j * 0.5,
            }
            for j, feature in enumerate(FEATURES)
        ]
        metrics = {
            "drift": share,
            "live_accuracy": 0.9 - 0.1 * i,
            "estimated_accuracy": 0.92,
            "test_accuracy": 0.95,
        }
        report = {"features": features, "share_drifted": share}
        save_windows(local.store, [WindowInfo(name, "1", at - timedelta(minutes=5), at, at, metrics, report)])
        evaluate_alerts(local.store, name, {"1": metrics}, window_end=at)


@pytest.fixture
def live(platform: tuple[Local, str]) -> Iterator[tuple[Console, Clock]]:
    """A console on the module's store with its own metrics and a sampler on a test clock."""
    local, admin_key = platform
    clock, metrics = Clock(), ServingMetrics()
    gate = PlatformGate(Authenticator(local.store), Limiter(local.store), None)
    state = ConsoleState(local.store, gate, Sessions(local.store), LiveSampler(metrics, clock=clock))
    KNOWN._until.clear()
    yield Console(local.store, state, admin_key, metrics), clock


def _traffic(metrics: ServingMetrics, name: str, requests: int, *, failed: int = 0) -> None:
    for i in range(requests):
        status = 500 if i < failed else 200
        metrics.observe_request(name, "1", "rest", status, 0.004 + 0.0001 * i, 1)
    metrics.observe_batch(name, "1", requests, [0.001] * requests, 0.002)
    metrics.set_queue(name, "1", 3, 1)


def test_the_list_shows_every_deployment_with_its_models_and_canary_split(
    live: tuple[Console, Clock],
) -> None:
    console, _ = live
    page = console.signed_in().get("/ui/deployments")
    assert page.status_code == 200
    assert 'data-deployment="iris"' in page.text and 'data-deployment="other"' in page.text
    assert "iris-logreg@1" in page.text and "90 / 10 → iris-logreg@2" in page.text
    assert re.search(
        r'<span class="badge bad"[^>]*>100%</span>', page.text
    )  # the newest window's drift share


def test_live_json_follows_the_data_planes_metrics(live: tuple[Console, Clock]) -> None:
    console, clock = live
    client = console.signed_in()
    assert client.get("/ui/live/deployments/iris").json() == {"points": [], "live": True}  # first sample
    _traffic(console.metrics, "iris", 20, failed=2)
    clock.tick()
    points = client.get("/ui/live/deployments/iris").json()["points"]
    assert len(points) == 1
    point = points[0]
    assert point["rps"] == pytest.approx(20) and point["errors_per_s"] == pytest.approx(2)
    assert 4 <= point["p50_ms"] <= 10 and point["p99_ms"] >= point["p50_ms"]
    assert point["batch_size"] == 20 and point["queue_depth"] == 3 and point["in_flight"] == 1
    clock.tick()
    both = client.get("/ui/live/deployments/iris").json()["points"]
    assert [p["rps"] for p in both] == [pytest.approx(20), 0]
    newer = client.get(f"/ui/live/deployments/iris?since={point['t']}").json()["points"]
    assert [p["t"] for p in newer] == [both[1]["t"]]
    latest = client.get("/ui/live/latest?name=iris&name=nothing").json()["latest"]
    assert latest["iris"]["rps"] == 0 and latest["nothing"] is None


def test_the_deployment_page_has_charts_split_heat_map_accuracy_and_alerts(
    live: tuple[Console, Clock],
) -> None:
    console, _ = live
    page = console.signed_in().get("/ui/deployments/iris")
    assert page.status_code == 200
    text = page.text
    for chart in (
        "chart-rps",
        "chart-latency",
        "chart-errors",
        "chart-batch",
        "chart-queue",
        "chart-accuracy",
    ):
        assert f'id="{chart}"' in text
    assert '"/ui/live/deployments/iris"' in text
    assert re.search(r"<td>main</td><td>iris-logreg@1</td><td class=\"num\">90%</td>", text)
    assert re.search(r"<td>canary</td><td>iris-logreg@2</td><td class=\"num\">10%</td>", text)
    heat = text.split('id="drift-heat"')[1].split("</section>")[0]
    assert all(feature in heat for feature in FEATURES)
    assert heat.count("hsl(") == 6 and "hsl(120, 70%, 78%)" in heat and "hsl(0, 70%, 78%)" in heat
    assert '"live accuracy"' in text and '"test"' in text and "0.95" in text
    alerts = text.split('id="alerts"')[1]
    assert "drift &gt; 0.4" in alerts and '<span class="badge bad">firing</span>' in alerts


def test_overview_counts_firing_alerts_and_shows_drift(live: tuple[Console, Clock]) -> None:
    console, _ = live
    page = console.signed_in().get("/ui/")
    row = page.text.split('data-deployment="iris"')[1].split("</tr>")[0]
    assert '<span class="badge bad">1</span>' in row and ">100%</span>" in row
    other = page.text.split('data-deployment="other"')[1].split("</tr>")[0]
    assert '<span class="badge ok">0</span>' in other and ">—</span>" in other


def test_a_consumer_sees_its_deployment_and_live_requests_only(live: tuple[Console, Clock]) -> None:
    console, _ = live
    client = console.signed_in(console.key("consumer", "iris"))
    listing = client.get("/ui/deployments").text
    assert 'data-deployment="iris"' in listing and 'data-deployment="other"' not in listing
    assert "Alerts</th>" not in listing
    page = client.get("/ui/deployments/iris")
    assert page.status_code == 200 and 'id="chart-rps"' in page.text
    for internal in ('id="drift-heat"', 'id="alerts"', 'id="routing"', 'id="chart-batch"', "iris-logreg@2"):
        assert internal not in page.text
    refused = client.get("/ui/deployments/other")
    assert refused.status_code == 403 and "deployments:read" in refused.text
    assert client.get("/ui/live/deployments/iris").status_code == 200
    assert client.get("/ui/live/deployments/other").status_code == 403
    assert client.get("/ui/live/latest?name=iris&name=other").json()["latest"].keys() == {"iris"}


def test_an_unknown_deployment_is_a_404_page_and_a_404_json(live: tuple[Console, Clock]) -> None:
    console, _ = live
    client = console.signed_in()
    page = client.get("/ui/deployments/nowhere")
    assert (
        page.status_code == 404
        and 'id="way-back"' in page.text
        and "nowhere" in page.text
        and "does not exist" in page.text
    )
    answer = client.get("/ui/live/deployments/nowhere")
    assert answer.status_code == 404 and "does not exist" in answer.json()["error"]


def test_live_polls_do_not_query_the_deployment_each_time(live: tuple[Console, Clock]) -> None:
    console, _ = live
    client = console.signed_in()
    assert client.get("/ui/live/deployments/other").status_code == 200
    with _statements(console) as queries:
        for _ in range(5):
            assert client.get("/ui/live/deployments/other").status_code == 200
    assert not any("FROM deployments" in q for q in queries), queries
    own = [q for q in queries if "api_key_generation" not in q]  # the key cache's recheck is on a timer
    assert len(own) <= 5 * 2  # the session's lookup (and its occasional extension) only


@contextmanager
def _statements(console: Console) -> Iterator[list[str]]:
    """The SQL statements the console's store runs inside the block."""
    queries: list[str] = []

    def count(*args: object) -> None:
        queries.append(str(args[2]))

    engine = console.store.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield queries
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_without_a_data_plane_figures_show_a_dash(live: tuple[Console, Clock]) -> None:
    console, _ = live
    console.state.live = None
    client = console.signed_in()
    row = client.get("/ui/deployments").text.split('data-deployment="other"')[1].split("</tr>")[0]
    assert row.count("—") >= 4
    assert client.get("/ui/live/deployments/other").json() == {"points": [], "live": False}


def test_fifty_deployments_render_with_the_queries_of_two(
    live: tuple[Console, Clock], platform: tuple[Local, str]
) -> None:
    """Pages stay fast as deployments grow because their queries do not grow with them (no query per row);
    a count, not a stopwatch, so a busy machine cannot fail it. The session lookup and the key cache's
    recheck (due every 0.5 s, so in a pass or not as the machine's speed has it) are not the page's."""
    console, _ = live
    local, _ = platform
    client = console.signed_in()
    paths = ("/ui/", "/ui/deployments", "/ui/deployments/iris")
    not_the_page = ("console_sessions", "api_key_generation")

    def statements_per_page() -> list[int]:
        counts = []
        for path in paths:
            assert client.get(path).status_code == 200  # warm
            with _statements(console) as queries:
                assert client.get(path).status_code == 200
            counts.append(sum(not any(table in query for table in not_the_page) for query in queries))
        return counts

    with_two = statements_per_page()
    for i in range(50):
        save_deployment(local.store, parse_spec({"model": "iris-logreg@1"}), name=f"many-{i:02d}", by="test")
    assert statements_per_page() == with_two
    assert client.get("/ui/deployments").text.count("data-deployment=") == 52
