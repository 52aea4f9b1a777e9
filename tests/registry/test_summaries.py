"""Model summary rows (the console's models list): counts, newest version and aliases without loading
each version, paged by name, deleted models left out."""

from __future__ import annotations

from pathlib import Path

from modelplane.registry.deletion import delete_model
from modelplane.registry.registry import set_alias
from modelplane.registry.summaries import model_summaries
from modelplane.store import Store
from tests.registry.test_registry import _register


def test_summaries_count_versions_and_name_aliases(store: Store, tmp_path: Path) -> None:
    for payload in (b"1", b"2", b"3"):
        _register(store, tmp_path, name="b-model", payload=payload)
    _register(store, tmp_path, name="a-model", payload=b"a")
    set_alias(store, "b-model@2", "production", by="alice")
    summaries, total = model_summaries(store)
    assert total == 2 and [s.name for s in summaries] == ["a-model", "b-model"]
    b = summaries[1]
    assert (b.versions, b.latest, b.aliases, b.task) == (3, 3, {"production": 2}, "classification")


def test_summaries_page_by_name_and_skip_deleted_models(store: Store, tmp_path: Path) -> None:
    for name in ("m1", "m2", "m3"):
        _register(store, tmp_path, name=name, payload=name.encode())
    delete_model(store, "m2", by="alice")
    page, total = model_summaries(store, offset=1, limit=5)
    assert total == 2 and [s.name for s in page] == ["m3"]
