"""parse_datetimes: every accepted form to epoch seconds (UTC), missing values to NaN, a bad value named."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from modelplane.errors import Invalid
from modelplane.tables.datetimes import looks_like_dates, parse_datetimes


def _utc(*parts: int, micro: int = 0) -> float:
    return datetime(*parts, microsecond=micro, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-03-01", _utc(2024, 3, 1)),
        ("2024-03-01T12:30", _utc(2024, 3, 1, 12, 30)),
        ("2024-03-01T12:30:15", _utc(2024, 3, 1, 12, 30, 15)),
        ("2024-03-01 12:30:15", _utc(2024, 3, 1, 12, 30, 15)),
        ("2024-03-01T12:30:15.25", _utc(2024, 3, 1, 12, 30, 15, micro=250_000)),
        ("2024-03-01T12:30:15.123456789", _utc(2024, 3, 1, 12, 30, 15, micro=123_456)),
        ("2024-03-01T12:30:15Z", _utc(2024, 3, 1, 12, 30, 15)),
        ("2024-03-01T12:30:15+02:00", _utc(2024, 3, 1, 10, 30, 15)),
        ("2024-03-01T12:30:15-0530", _utc(2024, 3, 1, 18, 0, 15)),
        ("2024-03-01 12:30+01:00", _utc(2024, 3, 1, 11, 30)),
        ("  2024-03-01  ", _utc(2024, 3, 1)),
        ("1709296200", 1709296200.0),
        ("1709296200.5", 1709296200.5),
    ],
)
def test_each_accepted_text_form(text: str, seconds: float) -> None:
    assert parse_datetimes(pa.array([text]), "d")[0] == pytest.approx(seconds, abs=1e-6)


def test_a_column_mixing_forms_and_missing_values() -> None:
    values = ["2024-03-01", None, "", "2024-03-01T00:00:00Z", "2024-03-01T02:00:00+02:00"]
    found = parse_datetimes(pa.chunked_array([values[:2], values[2:]]), "d")
    day = _utc(2024, 3, 1)
    assert np.isnan(found[1]) and np.isnan(found[2])
    assert found[[0, 3, 4]].tolist() == [day, day, day]
    assert found.dtype == np.float64 and found.flags.writeable


def test_arrow_and_numpy_values() -> None:
    day = _utc(2024, 3, 1)
    stamps = pa.array([datetime(2024, 3, 1, 1, tzinfo=timezone.utc), None], pa.timestamp("ms", "Asia/Tokyo"))
    assert parse_datetimes(stamps, "d")[0] == day + 3600 and np.isnan(parse_datetimes(stamps, "d")[1])
    assert parse_datetimes(pa.array([19783], pa.date32()), "d")[0] == day
    assert parse_datetimes(pa.array([int(day * 1000)], pa.date64()), "d")[0] == day
    assert parse_datetimes(np.array([day, np.nan]), "d")[0] == day
    assert parse_datetimes(np.array(["2024-03-01T00:00", "NaT"], "datetime64[m]"), "d")[0] == day
    found = parse_datetimes(np.array(["2024-03-01", None], dtype=object), "d")
    assert found[0] == day and np.isnan(found[1])
    assert np.isnan(parse_datetimes(pa.nulls(2), "d")).all()


@pytest.mark.parametrize("bad", ["2023-13-45", "2024-02-30", "tomorrow", "2024-03-01T25:00Z", "01/03/2024"])
def test_a_bad_date_names_column_value_and_row(bad: str) -> None:
    values = pa.array(["2024-03-01", None, "2024-03-02T10:00:00Z", bad, "2024-03-03"])
    with pytest.raises(Invalid) as err:
        parse_datetimes(values, "signup_date", first_row=14)
    assert str(err.value) == (
        f"column 'signup_date' row 17: '{bad}' is not a date; use ISO 8601 such as 2024-03-01 or "
        "2024-03-01T12:30:00Z, or epoch seconds"
    )


def test_epoch_text_with_a_date_among_it_is_refused() -> None:
    with pytest.raises(Invalid, match=r"row 3: '2024-03-01' is not a date"):
        parse_datetimes(pa.array(["1709296200", "", "2024-03-01"]), "d")


def test_looks_like_dates_is_the_inference_rule() -> None:
    assert looks_like_dates(pa.array(["2024-03-01", "", None, "2024-03-01T12:30:00Z"]))
    assert not looks_like_dates(pa.array(["2024", "2025"]))  # years are numbers
    assert not looks_like_dates(pa.array(["2024-02-30"]))
    assert not looks_like_dates(pa.array(["", None], pa.string()))


def test_a_million_values_parse_in_well_under_a_second() -> None:
    start = np.datetime64("2020-01-01T00:00:00")
    naive = np.datetime_as_string(start + np.arange(1_000_000).astype("timedelta64[s]"))
    text = pa.array(naive.astype(object), pa.string())
    zoned = pa.array(
        (naive.astype(object) + "Z").tolist()[:500_000] + naive.astype(object).tolist()[500_000:]
    )
    for values in (text, zoned):
        began = time.perf_counter()
        found = parse_datetimes(values, "d")
        took = time.perf_counter() - began
        assert found[-1] - found[0] == 999_999
        assert took < 1.0, f"{took:.2f} s for a million values"  # ~0.15 s alone on one core


def test_json_values_parse_as_epoch_seconds_or_text_but_not_both() -> None:
    """Rows sent as JSON give object arrays: all numbers are epoch seconds, all text is ISO 8601."""
    numbers = parse_datetimes(np.array([1_700_000_000, None, 1.5], dtype=object), "seen")
    assert numbers[0] == 1_700_000_000 and np.isnan(numbers[1]) and numbers[2] == 1.5
    with pytest.raises(Invalid, match="column 'seen' mixes text with other values"):
        parse_datetimes(np.array([1_700_000_000, "2024-01-01"], dtype=object), "seen")
