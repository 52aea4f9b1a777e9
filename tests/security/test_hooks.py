"""Every change in the lifecycle leaves one audit entry, written by whoever made it."""

from __future__ import annotations

import pytest

from modelplane.errors import Conflict
from modelplane.local import Local


def test_each_change_is_audited_in_its_own_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_USER", "alice")
    platform = Local()
    try:
        platform.datasets.add("iris", source="builtin:iris")
        platform.datasets.add("iris", source="builtin:iris")  # identical: no new version, no entry
        run = platform.train(data="iris", model="logreg")
        platform.train(data="iris", model="logreg")
        platform.models.alias("iris-logreg@1", "production")
        platform.models.alias("iris-logreg@2", "production")
        with pytest.raises(Conflict):
            platform.models.delete("iris-logreg@2")  # refused: nothing changed, nothing audited
        platform.deploy({"model": "iris-logreg@production"})
        platform.deployments.undeploy("iris-logreg")
        platform.models.unalias("iris-logreg", "production")
        platform.models.delete("iris-logreg@2")
        key = platform.keys.create(role="developer", name="ci")
        platform.keys.revoke(key.info.id)

        entries = list(reversed(platform.audit.log(limit=100)))
        assert [(e.action, e.target) for e in entries] == [
            ("dataset.version.added", "iris@1"),
            ("run.started", run.id),
            ("model.version.registered", "iris-logreg@1"),
            ("run.finished", run.id),
            ("run.started", entries[4].target),
            ("model.version.registered", "iris-logreg@2"),
            ("run.finished", entries[4].target),
            ("model.alias.moved", "iris-logreg@production"),
            ("model.alias.moved", "iris-logreg@production"),
            ("deployment.saved", "iris-logreg"),
            ("deployment.deleted", "iris-logreg"),
            ("model.alias.removed", "iris-logreg@production"),
            ("model.version.deleted", "iris-logreg@2"),
            ("key.created", key.info.id),
            ("key.revoked", key.info.id),
        ]
        assert {e.actor for e in entries} == {"alice"}
        assert entries[3].details == {"status": "succeeded", "error": None}
        assert entries[8].details == {"from": 1, "to": 2}
        assert key.key.split("_", 2)[2] not in str([e.to_dict() for e in entries])
        assert platform.audit.verify().ok
    finally:
        platform.close()
