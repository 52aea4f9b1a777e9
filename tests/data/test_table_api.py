"""Roles and notices over HTTP: the client uploads a table with role flags, the server reads it with them,
and the version comes back with its columns, ingest options and notices (Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.client.catalog import Datasets
from modelplane.client.http import Http
from modelplane.data.uploads import Uploads
from modelplane.errors import Invalid
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.store import Store
from modelplane.tables.columns import Column
from tests.data.test_table_ingest import customers


@pytest.fixture
def datasets(store: Store, tmp_path: Path) -> Iterator[Datasets]:
    key = create_key(store, Principal.local("test"), role="developer", name="dev").key
    gate = PlatformGate(Authenticator(store, recheck_s=0), Limiter(store), None)
    app = create_control_app(ControlState(store, gate, Uploads(tmp_path / "uploads", max_bytes=1 << 24)))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        http = Http("http://testserver", key, 10.0, True)
        http.client = client
        yield Datasets(http)


def test_roles_and_notices_travel_over_http(datasets: Datasets, tmp_path: Path) -> None:
    path = customers(tmp_path / "c.csv")
    with pytest.raises(Invalid, match="column 'notes' holds free text"):
        datasets.add("churn", source=str(path), target="churned")
    result = datasets.add(
        "churn",
        source=str(path),
        target="churned",
        drop_columns=("notes",),
        categorical=("age",),
        ids=("customer_id",),
    )
    v = result.version
    assert result.created and v.columns == [
        Column("customer_id", "id"),
        Column("signup_date", "datetime"),
        Column("plan", "categorical"),
        Column("age", "categorical"),
    ]
    assert v.ingest_options["roles"] == {"categorical": ["age"], "id": ["customer_id"]}
    assert result.notices == []  # the id was declared, so nothing was decided for the user
    more = tmp_path / "more.csv"
    more.write_text(path.read_text().splitlines()[0] + "\nX1,2025-01-01,pro,33,hi,no\n")
    appended = datasets.add("churn", source=str(more), append=True)
    assert appended.notices == ["appending with the parent's target 'churned', roles and dropped columns"]
    assert datasets.get("churn").columns == v.columns and datasets.get("churn").num_rows == v.num_rows + 1
