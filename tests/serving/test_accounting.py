"""The bookkeeping both front ends do when a request ends: usage settled on the gate, metrics under labels
that made-up names cannot grow."""

from __future__ import annotations

from typing import Any

from modelplane.serving.accounting import RequestAccounting


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def observe_request(self, *args: Any) -> None:
        self.calls.append(args)

    def settle(self, *args: Any) -> None:
        self.calls.append(args)


def test_labels_come_only_from_versions_that_answered() -> None:
    metrics = Recorder()
    accounting = RequestAccounting("grpc", metrics=metrics, gate=None)
    accounting.record(None, "made-up", None, None, "NOT_FOUND", 0.1, 0)
    accounting.record(None, "tiny", None, "1", "OK", 0.2, 3)
    accounting.record(None, "tiny", "1", None, "INVALID_ARGUMENT", 0.3, 2)
    accounting.record(None, "tiny", "9", None, "NOT_FOUND", 0.4, 2)
    assert metrics.calls == [
        ("", "", "grpc", "NOT_FOUND", 0.1, 0),
        ("tiny", "1", "grpc", "OK", 0.2, 3),
        ("tiny", "1", "grpc", "INVALID_ARGUMENT", 0.3, 2),  # that version answered before
        ("tiny", "", "grpc", "NOT_FOUND", 0.4, 0),  # samples count only under a version label
    ]


def test_an_admitted_caller_is_settled_with_what_was_served() -> None:
    gate, metrics = Recorder(), Recorder()
    accounting = RequestAccounting("rest", metrics=metrics, gate=gate)  # type: ignore[arg-type]
    accounting.record("alice", "tiny", None, "2", 200, 0.5, 4)
    accounting.record("bob", "tiny", None, None, 503, 0.6, 0)
    accounting.record(None, "tiny", None, None, 401, 0.7, 0)  # refused at the gate: nothing to settle
    assert gate.calls == [("alice", "tiny", "2", 4, 0.5, 200), ("bob", "tiny", "", 0, 0.6, 503)]
    assert len(metrics.calls) == 3
