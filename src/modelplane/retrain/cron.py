"""Cron schedules: the classic five fields, evaluated in UTC.

`MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK`, each `*`, a number, a range `A-B`, a step `*/N`, `A-B/N` or
`A/N`, or a comma-separated list of those; day-of-week 0-7 with 0 and 7 both Sunday. As in Vixie cron, when
both day fields are restricted a day matching either one fires. Written here rather than taken from a
dependency: it is short, and no installed package provides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from modelplane.errors import Invalid

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
# Long enough for any satisfiable expression: Feb 29 on a given weekday recurs within 28 years.
_SEARCH_DAYS = 366 * 29
GRAMMAR = (
    "five fields MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK, each *, N, A-B, */N, A-B/N or a comma list "
    "(e.g. '0 3 * * *' for 03:00 UTC daily, '*/15 * * * 1-5' for every 15 minutes on weekdays)"
)


def _bad(text: str, why: str) -> Invalid:
    return Invalid(f"schedule {text!r} is not a cron expression ({why}); write {GRAMMAR}")


def _number(text: str, part: str, name: str, low: int, high: int) -> int:
    if not part.isdigit():
        raise _bad(text, f"{name} {part!r} is not a number")
    value = int(part)
    if not low <= value <= high:
        raise _bad(text, f"{name} {value} is outside {low}-{high}")
    return value


def _field(text: str, field: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in field.split(","):
        span, slash, step_text = item.partition("/")
        step = _number(text, step_text, f"{name} step", 1, high - low + 1) if slash else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(text, a, name, low, high), _number(text, b, name, low, high)
            if first > last:
                raise _bad(text, f"{name} range {span} runs backwards")
        else:
            first = _number(text, span, name, low, high)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def _fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` (a whole minute, UTC) at which the schedule fires."""
        start = moment.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if self._fires_on(day):
                today = day == start.date()
                for hour in self.hours:
                    if today and hour < start.hour:
                        continue
                    for minute in self.minutes:
                        if today and hour == start.hour and minute < start.minute:
                            continue
                        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)
            day += timedelta(days=1)
        raise _bad(self.text, "no date ever matches it")


def parse_cron(text: str) -> Cron:
    """Parse and check that the schedule fires at all (`0 0 31 2 *` never does)."""
    fields = text.split()
    if len(fields) != 5:
        raise _bad(text, f"it has {len(fields)} field(s), not 5")
    parsed = [_field(text, f, *spec) for f, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in parsed[4])
    cron = Cron(
        text=" ".join(fields),
        minutes=tuple(sorted(parsed[0])),
        hours=tuple(sorted(parsed[1])),
        days=parsed[2],
        months=parsed[3],
        weekdays=weekdays,
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )
    cron.next_after(datetime.now(timezone.utc))
    return cron
