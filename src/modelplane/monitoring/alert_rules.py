"""The alert rule language: `drift > 0.2 for 2 windows`, `live_accuracy < test_accuracy - 0.03`.

A rule compares two sums of window metrics (monitoring's snapshot names) and numbers, with `+` and `-`
between them, by `<`, `<=`, `>` or `>=`, and may hold for N consecutive monitor windows before it fires
(default 1). A small hand-written tokenizer and recursive-descent parser: user text is never evaluated
as code. A metric missing from a snapshot makes the rule undecided there (no evidence), never false.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelplane.errors import Invalid

METRICS: tuple[str, ...] = (
    "requests",
    "rows",
    "error_rate",
    "p50_ms",
    "p99_ms",
    "drift",
    "drift_max",
    "prediction_drift",
    "missing_rate",
    "out_of_range_rate",
    "unseen_rate",
    "live_accuracy",
    "live_f1",
    "live_mae",
    "live_rmse",
    "labelled",
    "estimated_accuracy",
    "test_accuracy",
    "test_f1",
    "test_mae",
    "test_rmse",
)
FEATURE_PREFIX = "feature_drift."
EXAMPLE = "'drift > 0.2 for 2 windows' or 'live_accuracy < test_accuracy - 0.03'"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.]+)?)"
    r"|(?P<op><=|>=|<|>|\+|-))"
)
_MAX_WINDOWS = 1000


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | op | end
    text: str
    at: int  # 0-based offset in the rule


@dataclass(frozen=True)
class Term:
    sign: int  # +1 or -1
    operand: float | str  # a number or a metric name


@dataclass(frozen=True)
class Expr:
    terms: tuple[Term, ...]

    def value(self, snapshot: Mapping[str, float]) -> float | None:
        """The sum, or None when a metric it names is not in the snapshot."""
        total = 0.0
        for term in self.terms:
            if isinstance(term.operand, str):
                found = snapshot.get(term.operand)
                if found is None:
                    return None
                total += term.sign * float(found)
            else:
                total += term.sign * term.operand
        return total

    def __str__(self) -> str:
        parts = []
        for index, term in enumerate(self.terms):
            text = term.operand if isinstance(term.operand, str) else f"{term.operand:g}"
            if index == 0:
                parts.append(f"-{text}" if term.sign < 0 else str(text))
            else:
                parts.append(f"{'-' if term.sign < 0 else '+'} {text}")
        return " ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """One rule against one snapshot: `holds` None means no evidence (a metric is missing)."""

    holds: bool | None
    value: float | None  # the left side
    threshold: float | None  # the right side


@dataclass(frozen=True)
class Rule:
    left: Expr
    op: str
    right: Expr
    for_windows: int = 1

    @property
    def condition(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    @property
    def text(self) -> str:
        """The canonical spelling: what is stored and shown."""
        if self.for_windows == 1:
            return self.condition
        return f"{self.condition} for {self.for_windows} windows"

    @property
    def metrics(self) -> tuple[str, ...]:
        names = [t.operand for e in (self.left, self.right) for t in e.terms if isinstance(t.operand, str)]
        return tuple(dict.fromkeys(str(n) for n in names))

    def check(self, snapshot: Mapping[str, float]) -> Outcome:
        value, threshold = self.left.value(snapshot), self.right.value(snapshot)
        if value is None or threshold is None:
            return Outcome(None, value, threshold)
        return Outcome(COMPARISONS[self.op](value, threshold), value, threshold)


def known_metric(name: str) -> bool:
    return name in METRICS or (name.startswith(FEATURE_PREFIX) and len(name) > len(FEATURE_PREFIX))


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            start = at + len(text[at:]) - len(text[at:].lstrip())
            raise _unexpected(text, Token("char", text[start], start))
        kind = found.lastgroup or "op"
        tokens.append(Token(kind, found.group(kind), found.start(kind)))
        at = found.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unexpected(text: str, token: Token, wanted: str = "") -> Invalid:
    what = "the end of the rule" if token.kind == "end" else repr(token.text)
    need = f" (expected {wanted})" if wanted else ""
    return Invalid(
        f"alert rule {text!r}: unexpected {what} at position {token.at + 1}{need}; write a comparison of "
        f"metrics and numbers, e.g. {EXAMPLE}"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def rule(self) -> Rule:
        left = self.expr()
        if self.token.text not in COMPARISONS:
            raise _unexpected(self.text, self.token, "one of < <= > >=")
        op = self.take().text
        right = self.expr()
        windows = self.windows()
        if self.token.kind != "end":
            raise _unexpected(self.text, self.token, "the end of the rule or 'for N windows'")
        rule = Rule(left, op, right, windows)
        if not rule.metrics:
            raise Invalid(
                f"alert rule {self.text!r} compares numbers only, so it is always or never true; name a "
                f"metric, e.g. {EXAMPLE}"
            )
        return rule

    def expr(self) -> Expr:
        terms = [self.term(+1)]
        while self.token.text in ("+", "-"):
            sign = 1 if self.take().text == "+" else -1
            terms.append(self.term(sign))
        return Expr(tuple(terms))

    def term(self, sign: int) -> Term:
        if self.token.text == "-":
            self.take()
            sign = -sign
        token = self.take()
        if token.kind == "number":
            return Term(sign, float(token.text))
        if token.kind == "name" and token.text.lower() != "for":
            if not known_metric(token.text):
                raise Invalid(
                    f"alert rule {self.text!r}: unknown metric {token.text!r} at position {token.at + 1}; "
                    f"the metrics are {', '.join(METRICS)} and {FEATURE_PREFIX}<feature>"
                )
            return Term(sign, token.text)
        raise _unexpected(self.text, token, "a metric name or a number")

    def windows(self) -> int:
        if not (self.token.kind == "name" and self.token.text.lower() == "for"):
            return 1
        self.take()
        count = self.take()
        if count.kind != "number" or not re.fullmatch(r"\d+", count.text) or int(count.text) < 1:
            raise _unexpected(self.text, count, "a whole number of windows, e.g. 'for 2 windows'")
        if int(count.text) > _MAX_WINDOWS:
            raise Invalid(
                f"alert rule {self.text!r}: 'for {count.text} windows' is more than {_MAX_WINDOWS}; a rule "
                f"fires after at most {_MAX_WINDOWS} consecutive windows"
            )
        unit = self.take()
        if unit.kind != "name" or unit.text.lower() not in ("window", "windows"):
            raise _unexpected(self.text, unit, "'windows'")
        return int(count.text)


def parse_rule(text: str) -> Rule:
    """A rule from its text; Invalid names the bad token and its position and shows a valid rule."""
    if not text or not text.strip():
        raise Invalid(f"an alert rule is empty; write a comparison, e.g. {EXAMPLE}")
    if len(text) > 1000:
        raise Invalid("an alert rule is longer than 1000 characters; write a shorter comparison")
    return _Parser(text).rule()
