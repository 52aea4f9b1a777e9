"""The small languages of a policy, on their own: gates (parse and judge) and cron schedules."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from modelplane.errors import Invalid
from modelplane.retrain.cron import parse_cron
from modelplane.retrain.gate import parse_gate
from modelplane.retrain.settings import parse_canary

UTC = timezone.utc


def test_gates_hold_the_candidate_to_production_or_to_a_number() -> None:
    gate = parse_gate("accuracy>=production-0.002, f1_macro > 0.9", "classification")
    assert gate.text == "accuracy>=production-0.002, f1_macro > 0.9"
    passed = gate.judge({"accuracy": 0.969, "f1_macro": 0.95}, {"accuracy": 0.970, "f1_macro": 0.5})
    assert passed.passed
    assert passed.lines[0] == "accuracy 0.9690 >= 0.9680 (production 0.9700 - 0.002): passed"
    failed = gate.judge({"accuracy": 0.967, "f1_macro": 0.95}, {"accuracy": 0.970})
    assert not failed.passed and failed.lines[0].endswith("failed")
    relative = parse_gate("mse<=production*1.05", "regression")
    assert relative.judge({"mse": 10.4}, {"mse": 10.0}).passed
    assert not relative.judge({"mse": 10.6}, {"mse": 10.0}).passed
    same = parse_gate("accuracy>=production", "classification")
    assert same.judge({"accuracy": 0.9}, {"accuracy": 0.9}).passed
    undefined = parse_gate("roc_auc>=0.9", "classification").judge({"roc_auc": None}, {})
    assert not undefined.passed and "undefined" in undefined.summary


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a condition is empty"),
        ("accuracy>=0.9,", "a condition is empty"),
        ("accuracy=0.9", "does not parse at 'accuracy=0.9'"),
        ("accuracy>=production/2", "'production/2' is not a number"),
        ("accuracy>=nan", "is not a finite number"),
        ("r2>=0.5", "unknown metric 'r2' for a classification model"),
    ],
)
def test_gates_that_do_not_parse_say_what_would(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=r"write METRIC OP THRESHOLD|use one of") as found:
        parse_gate(text, "classification")
    assert message in str(found.value)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 3 * * *", datetime(2026, 5, 1, 2, 59, 30), datetime(2026, 5, 1, 3, 0)),
        ("0 3 * * *", datetime(2026, 5, 1, 3, 0), datetime(2026, 5, 2, 3, 0)),
        ("*/15 * * * *", datetime(2026, 5, 1, 10, 16), datetime(2026, 5, 1, 10, 30)),
        ("30 9 * * 1-5", datetime(2026, 5, 1, 10, 0), datetime(2026, 5, 4, 9, 30)),  # Fri -> Mon
        ("0 0 * * 7", datetime(2026, 5, 1, 0, 0), datetime(2026, 5, 3, 0, 0)),  # 7 is Sunday too
        ("0 0 13 * 5", datetime(2026, 5, 1, 0, 0), datetime(2026, 5, 8, 0, 0)),  # day 13 or a Friday
        ("0 12 29 2 *", datetime(2026, 3, 1), datetime(2028, 2, 29, 12, 0)),
        ("5,10-12/2 1 1 1,7 *", datetime(2026, 1, 1, 1, 6), datetime(2026, 1, 1, 1, 10)),
    ],
)
def test_cron_next_times(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_cron(expression).next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "it has 4 field(s), not 5"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("* 5-2 * * *", "hour range 5-2 runs backwards"),
        ("*/0 * * * *", "minute step 0 is outside"),
        ("a * * * *", "minute 'a' is not a number"),
        ("0 0 30 2 *", "no date ever matches it"),
    ],
)
def test_bad_cron_expressions(expression: str, message: str) -> None:
    with pytest.raises(Invalid, match="write five fields MINUTE HOUR") as found:
        parse_cron(expression)
    assert message in str(found.value)


def test_canary_specs() -> None:
    assert parse_canary("10:15m") == (10.0, 900.0)
    assert parse_canary("2.5%:1.5h") == (2.5, 5400.0)
    assert parse_canary("none") == (None, None) and parse_canary(None) == (None, None)
    for bad in ("10", "0:1m", "100:1m", "x:1m", "10:0s", "10:5"):
        with pytest.raises(Invalid, match="canary"):
            parse_canary(bad)
