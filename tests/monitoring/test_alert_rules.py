"""The alert rule language: what parses (and how it is spelled back), what each rule decides, and the
error a user sees for each kind of mistake."""

from __future__ import annotations

import pytest

from modelplane.errors import Invalid
from modelplane.monitoring.alert_rules import parse_rule


@pytest.mark.parametrize(
    ("text", "canonical", "windows", "metrics"),
    [
        ("drift > 0.2 for 2 windows", "drift > 0.2 for 2 windows", 2, ("drift",)),
        (
            "live_accuracy < test_accuracy - 0.03",
            "live_accuracy < test_accuracy - 0.03",
            1,
            ("live_accuracy", "test_accuracy"),
        ),
        ("estimated_accuracy<0.9", "estimated_accuracy < 0.9", 1, ("estimated_accuracy",)),
        ("p99_ms > 100", "p99_ms > 100", 1, ("p99_ms",)),
        ("error_rate > 0.01 for 1 window", "error_rate > 0.01", 1, ("error_rate",)),
        ("feature_drift.f12 >= 0.3", "feature_drift.f12 >= 0.3", 1, ("feature_drift.f12",)),
        (
            "  drift_max+missing_rate <= 1.5e0 FOR 3 Windows",
            "drift_max + missing_rate <= 1.5 for 3 windows",
            3,
            ("drift_max", "missing_rate"),
        ),
    ],
)
def test_valid_rules_parse_to_their_canonical_text(
    text: str, canonical: str, windows: int, metrics: tuple[str, ...]
) -> None:
    rule = parse_rule(text)
    assert (rule.text, rule.for_windows, rule.metrics) == (canonical, windows, metrics)
    assert parse_rule(rule.text) == rule


def test_a_rule_decides_on_the_snapshot_and_a_missing_metric_is_no_evidence() -> None:
    rule = parse_rule("live_accuracy < test_accuracy - 0.03")
    assert rule.check({"live_accuracy": 0.90, "test_accuracy": 0.95}).holds is True
    assert rule.check({"live_accuracy": 0.93, "test_accuracy": 0.95}).holds is False
    missing = rule.check({"test_accuracy": 0.95})
    assert missing.holds is None and missing.value is None
    outcome = parse_rule("-drift + 1 >= 0.5").check({"drift": 0.25})
    assert (outcome.holds, outcome.value, outcome.threshold) == (True, 0.75, 0.5)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("drift >> 0.2", "unexpected '>' at position 8 (expected a metric name or a number)"),
        ("drift ~ 0.2", "unexpected '~' at position 7"),
        ("drift 0.2", "unexpected '0.2' at position 7 (expected one of < <= > >=)"),
        ("drift >", "unexpected the end of the rule at position 8"),
        ("drift > 0.2 for two windows", "unexpected 'two' at position 17 (expected a whole number"),
        ("drift > 0.2 for 2 days", "unexpected 'days' at position 19 (expected 'windows')"),
        ("drift > 0.2 for 0 windows", "unexpected '0' at position 17"),
        ("drift > 0.2 and p99_ms > 3", "unexpected 'and' at position 13"),
    ],
)
def test_a_rule_that_does_not_parse_names_the_token_and_shows_an_example(text: str, says: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_rule(text)
    message = str(raised.value)
    assert says in message
    assert "e.g. 'drift > 0.2 for 2 windows'" in message


def test_an_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(Invalid, match=r"unknown metric 'accuracy' at position 1; the metrics are requests,"):
        parse_rule("accuracy < 0.9")
    with pytest.raises(Invalid, match=r"feature_drift\.<feature>"):
        parse_rule("feature_drift > 1")


def test_numbers_only_and_empty_rules_are_refused() -> None:
    with pytest.raises(Invalid, match="compares numbers only"):
        parse_rule("1 > 0")
    with pytest.raises(Invalid, match="empty"):
        parse_rule("   ")
