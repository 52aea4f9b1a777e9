"""Usage page and CSV: every key's usage for 'usage:read'; a consumer its own key's only."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from modelplane.security.metering import Meter
from tests.console.conftest import Console


def metered(console: Console, *calls: tuple[str, str, str]) -> None:
    """Record requests (key id, deployment, status) through the meter the servers use, and write them."""
    meter = Meter(console.store)
    for key_id, deployment, status in calls:
        meter.record(key_id, deployment, "1", samples=2, compute_ms=1.5, status=status)  # type: ignore[arg-type]
    meter.flush()


def test_usage_table_and_chart_for_a_developer(console: Console) -> None:
    consumer = console.key("consumer", "iris").split("_")[1]
    developer_key = console.key("developer")
    developer = developer_key.split("_")[1]
    metered(console, (consumer, "iris", "ok"), (consumer, "iris", "error"), (developer, "digits", "ok"))
    page = console.signed_in(developer_key).get("/ui/usage")
    assert page.status_code == 200
    assert consumer in page.text and developer in page.text and "digits" in page.text
    assert 'id="total-requests">3<' in page.text and 'id="usage-chart"' in page.text
    only = console.signed_in(developer_key).get(f"/ui/usage?deployment=iris&key={consumer}")
    assert 'id="total-requests">2<' in only.text and "digits</td>" not in only.text


def test_a_consumer_sees_its_own_usage_only(console: Console) -> None:
    mine_key = console.key("consumer", "iris")
    mine = mine_key.split("_")[1]
    other = console.key("consumer", "iris").split("_")[1]
    metered(console, (mine, "iris", "ok"), (other, "iris", "ok"), (other, "iris", "ok"))
    client = console.signed_in(mine_key)
    for path in ("/ui/usage", f"/ui/usage?key={other}"):
        page = client.get(path)
        assert page.status_code == 200 and 'id="own-only"' in page.text
        assert 'id="total-requests">1<' in page.text and other not in page.text
    rows = list(csv.reader(io.StringIO(client.get(f"/ui/usage.csv?key={other}").text)))
    assert [row[1] for row in rows[1:]] == [mine]


def test_usage_csv_has_the_columns_and_rows_as_an_attachment(console: Console) -> None:
    key = console.key("consumer", "iris").split("_")[1]
    metered(console, (key, "iris", "ok"), (key, "iris", "ok"), (key, "iris", "rejected"))
    answer = console.signed_in().get(f"/ui/usage.csv?key={key}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="usage-')
    rows = list(csv.reader(io.StringIO(answer.text)))
    today = datetime.now(timezone.utc).date().isoformat()
    assert rows[0] == [
        "day",
        "key_id",
        "deployment",
        "requests",
        "errors",
        "rejected",
        "samples",
        "compute_ms",
    ]
    assert rows[1] == [today, key, "iris", "2", "0", "1", "4", "3.000"]
    assert len(rows) == 2


def test_a_bad_date_is_the_one_line_error(console: Console) -> None:
    page = console.signed_in().get("/ui/usage?since=yesterday")
    assert page.status_code == 400 and "is not a date; write YYYY-MM-DD" in page.text
