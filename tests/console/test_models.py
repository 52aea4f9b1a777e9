"""The Models pages over a real registry: listings, lineage, alias history, and promote / roll back
through the confirmation page (CSRF, roles, audit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelplane.console.pages import models
from modelplane.data.catalog import find_version_row
from modelplane.data.ingest import add_dataset
from modelplane.refs import Ref
from modelplane.registry.registry import NewVersion, get_model, register, set_alias, version_id
from modelplane.security.audit import log
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.console.conftest import Console, csrf_of


def _version(store: Store, tmp_path: Path, payload: bytes, **lineage: object) -> str:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(payload)
    info = register(
        store,
        NewVersion(
            model_name="iris-mlp",
            task="classification",
            framework="torch",
            kind="mlp",
            spec={"kind": "mlp", "input_shape": [4]},
            weights_path=weights,
            params=dict(lineage.pop("params", {})),  # type: ignore[call-overload]
            metrics={"test": {"accuracy": 0.9 + len(payload) / 100, "f1": 0.8}},
            classes=["setosa", "versicolor", "virginica"],
            **lineage,  # type: ignore[arg-type]
        ),
        by="alice",
    )
    return info.ref


@pytest.fixture
def registry(console: Console, tmp_path: Path) -> Console:
    """iris-mlp v1 (registered on iris@1), v2 (tuned), v3 (compressed from v2); production: v1 -> v2."""
    store = console.store
    data = add_dataset(store, "iris", "builtin:iris").version
    with store.db.session() as session:
        data_id = find_version_row(session, Ref.parse(data.ref, "dataset")).id
    _version(store, tmp_path, b"1", dataset_version_id=data_id)
    _version(
        store, tmp_path, b"22", dataset_version_id=data_id, params={"tuning": {"study": "iris-s", "trial": 4}}
    )
    _version(
        store,
        tmp_path,
        b"333",
        parent_version_id=version_id(store, "iris-mlp@2"),
        params={"compression": {"method": "quantize"}},
    )
    set_alias(store, "iris-mlp@1", "production", by="alice")
    set_alias(store, "iris-mlp@2", "production", by="bob")
    save_deployment(store, parse_spec({"model": "iris-mlp@production"}), name="iris", by="alice")
    return console


def test_the_list_shows_each_model_with_its_versions_and_aliases(registry: Console) -> None:
    page = registry.signed_in().get("/ui/models")
    assert page.status_code == 200
    row = re.search(
        r"<tr>\s*<td><a href=\"/ui/models/iris-mlp\">iris-mlp</a></td>(.*?)</tr>", page.text, re.S
    )
    assert row, page.text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert (
        cells[0] == "3"
        and "v3" in cells[1]
        and "production → v2" in cells[2]
        and cells[3] == "classification"
    )


def test_the_model_page_shows_versions_lineage_and_alias_history(registry: Console) -> None:
    page = registry.signed_in().get("/ui/models/iris-mlp").text
    assert 'on dataset <a href="/ui/datasets/iris?version=1">iris@1</a>' in page
    assert "tuned (best trial 4) by study" in page and "iris-s" in page
    assert 'compressed (quantize) from <a href="/ui/models/iris-mlp/versions/2">iris-mlp@2</a>' in page
    assert "moved from v1 to v2" in page and "set to v1" in page and ">bob<" in page
    assert "Roll back to v1" in page
    assert 'id="promote"' in page


def test_the_version_page_shows_metrics_signature_chain_and_deployments(registry: Console) -> None:
    client = registry.signed_in()
    page = client.get("/ui/models/iris-mlp/versions/3").text
    assert "test.accuracy" in page and "tensor of shape [4]" in page and "3 classes" in page
    assert 'href="/ui/models/iris-mlp/versions/2">iris-mlp@2</a>: <span class="lineage">tuned' in page
    assert "No deployment serves this version." in page
    served = client.get("/ui/models/iris-mlp/versions/2").text
    assert 'href="/ui/deployments/iris">iris</a>' in served
    assert "Made from this version" in served and "iris-mlp@3" in served


def test_promote_goes_through_the_confirm_page_and_lands_in_the_audit_ledger(registry: Console) -> None:
    developer = registry.key("developer")
    client = registry.signed_in(developer)
    asked = client.get("/ui/models/iris-mlp/promote", params={"version": "3", "alias": "production"})
    assert asked.status_code == 303
    confirm = client.get(asked.headers["location"])
    assert confirm.status_code == 200 and "Move alias production of iris-mlp from v2 to v3?" in confirm.text
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 2}  # asking changed nothing
    csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.text)
    assert csrf
    done = client.post("/ui/models/iris-mlp/aliases/production", data={"version": "3", "csrf": csrf.group(1)})
    assert done.status_code == 303 and "Moved+alias+production+from+v2+to+v3" in done.headers["location"]
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 3}
    entry = log(registry.store, limit=1)[0]
    assert (entry.action, entry.target, entry.details) == (
        "model.alias.moved",
        "iris-mlp@production",
        {"from": 2, "to": 3},
    )
    assert entry.actor == developer.split("_")[1]  # the developer's key id, as the API records it
    page = client.get(done.headers["location"]).text
    assert "Moved alias production from v2 to v3" in page and "moved from v2 to v3" in page


def test_roll_back_offers_the_previous_version_on_the_same_confirm_page(registry: Console) -> None:
    client = registry.signed_in()
    page = client.get("/ui/models/iris-mlp/aliases/production/confirm?version=1")
    assert "Roll back alias production of iris-mlp from v2 to v1?" in page.text
    client.post("/ui/models/iris-mlp/aliases/production", data={"version": "1", "csrf": csrf_of(client)})
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 1}


def test_a_move_without_csrf_is_refused_and_changes_nothing(registry: Console) -> None:
    client = registry.signed_in()
    before = len(log(registry.store, limit=100))
    answer = client.post("/ui/models/iris-mlp/aliases/production", data={"version": "3"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = client.post("/ui/models/iris-mlp/aliases/production", data={"version": "3", "csrf": "forged"})
    assert answer.status_code == 403
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 2}
    assert len(log(registry.store, limit=100)) == before


def test_an_unknown_version_shows_the_registry_error_and_changes_nothing(registry: Console) -> None:
    client = registry.signed_in()
    asked = client.get("/ui/models/iris-mlp/aliases/production/confirm?version=9")
    assert asked.status_code == 303
    page = client.get(asked.headers["location"]).text
    assert "model &#39;iris-mlp&#39; has no version 9; its versions are 1, 2, 3" in page
    answer = client.post(
        "/ui/models/iris-mlp/aliases/production", data={"version": "9", "csrf": csrf_of(client)}
    )
    assert answer.status_code == 303 and "has+no+version+9" in answer.headers["location"]
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 2}


def test_a_consumer_gets_the_403_page_and_no_move(registry: Console) -> None:
    client = registry.signed_in(registry.key("consumer", "iris"))
    assert client.get("/ui/models").status_code == 403
    assert client.get("/ui/models/iris-mlp").status_code == 403
    assert client.get("/ui/models/iris-mlp/aliases/production/confirm?version=3").status_code == 403
    answer = client.post(
        "/ui/models/iris-mlp/aliases/production", data={"version": "3", "csrf": csrf_of(client)}
    )
    assert answer.status_code == 403
    assert get_model(registry.store, "iris-mlp").aliases == {"production": 2}


def test_an_unknown_model_or_version_is_the_404_page(registry: Console) -> None:
    client = registry.signed_in()
    missing = client.get("/ui/models/nope")
    assert missing.status_code == 404 and "way-back" in missing.text
    assert client.get("/ui/models/iris-mlp/versions/9").status_code == 404


def test_the_list_pages_long_registries(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        weights = tmp_path / "w.bin"
        weights.write_bytes(b"w")
        register(
            console.store,
            NewVersion(f"m{i}", "regression", "torch", "mlp", {"input_shape": [1]}, weights, {}, {}),
        )
    monkeypatch.setattr(models, "PAGE", 2)
    page = console.signed_in().get("/ui/models").text
    assert "m0" in page and "m1" in page and ">m2<" not in page and 'href="?offset=2"' in page


def test_a_model_page_shows_its_newest_versions_first_then_more(
    registry: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "PAGE", 2)
    client = registry.signed_in()
    page = client.get("/ui/models/iris-mlp").text
    assert 'id="v3"' in page and 'id="v2"' in page and 'id="v1"' not in page
    assert "Show 1 older versions" in page
    assert 'id="v1"' in client.get("/ui/models/iris-mlp?versions=all").text
