"""When agents are at the desk (ntsa_assistant.handoff.hours): the operator's spec, the
working days and hours in Nairobi time, and Kenya's public holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.handoff.hours import DEFAULT_HOURS, WorkingHours

OFFICE = WorkingHours.parse(DEFAULT_HOURS)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NAIROBI)


@pytest.mark.parametrize(
    ("spec", "days", "opens", "closes"),
    [
        ("Mon-Fri 08:00-17:00", {0, 1, 2, 3, 4}, 480, 1020),
        ("Mon-Sat 08:00-13:00", {0, 1, 2, 3, 4, 5}, 480, 780),
        ("Mon,Wed,Fri 09:00-16:30", {0, 2, 4}, 540, 990),
        ("Mon-Sun 00:00-24:00", {0, 1, 2, 3, 4, 5, 6}, 0, 1440),
        ("  MON-wed,Friday 8:00 - 12:15 ", {0, 1, 2, 4}, 480, 735),
    ],
)
def test_a_spec_gives_its_days_and_minutes(
    spec: str, days: set[int], opens: int, closes: int
) -> None:
    assert WorkingHours.parse(spec) == WorkingHours(frozenset(days), opens, closes)


def test_a_spec_reads_back_in_its_short_form() -> None:
    assert str(WorkingHours.parse("mon,tue,wed,thu,fri,sun 08:00-17:00")) == (
        "Mon-Fri,Sun 08:00-17:00"
    )


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("Mon-Fri 17:00-08:00", "closes (08:00) before it opens (17:00)"),
        ("Mon-Fri 08:00-08:00", "closes (08:00) before it opens (08:00)"),
        ("Fri-Mon 08:00-17:00", "run backwards"),
        ("Mon-Fry 08:00-17:00", "'Fry' is not a day"),
        ("Mon-Fri 08:00-25:00", "25:00 is not a time of day"),
        ("Mon-Fri 24:00-24:00", "24:00 is not a time of day"),
        ("Mon-Fri 8-17", "write the days, a space and the hours"),
        ("08:00-17:00", "write the days, a space and the hours"),
        ("", "write the days, a space and the hours"),
    ],
)
def test_a_wrong_spec_says_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match="working hours") as error:
        WorkingHours.parse(spec)
    assert says in str(error.value)


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        (at(2026, 11, 18, 7, 59), False),  # a Wednesday
        (at(2026, 11, 18, 8, 0), True),
        (at(2026, 11, 18, 16, 59), True),
        (at(2026, 11, 18, 17, 0), False),
        (at(2026, 11, 21, 10, 0), False),  # a Saturday
        (at(2026, 12, 25, 10, 0), False),  # Christmas Day, a Friday
        (at(2027, 12, 13, 10, 0), False),  # Monday: Jamhuri Day (observed), the 12th a Sunday
        (at(2027, 12, 14, 10, 0), True),
    ],
)
def test_open_on_working_days_and_hours_but_not_on_holidays(now: datetime, open_: bool) -> None:
    assert OFFICE.is_open(now) is open_


def test_the_hours_are_nairobi_hours_whatever_the_zone_of_now() -> None:
    assert OFFICE.is_open(datetime(2026, 11, 18, 5, 0, tzinfo=UTC))  # 08:00 in Nairobi
    assert not OFFICE.is_open(datetime(2026, 11, 18, 4, 59, tzinfo=UTC))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        OFFICE.is_open(datetime(2026, 11, 18, 10, 0))


def test_jamhuri_day_2026_is_a_saturday_holiday_without_a_monday_off() -> None:
    # The library moves only Sunday holidays to Monday (as Kenya does).
    saturday_desk = WorkingHours.parse("Mon-Sat 08:00-13:00")
    assert WorkingHours.holiday(date(2026, 12, 12)) == "Jamhuri Day"
    assert not saturday_desk.is_open(at(2026, 12, 12, 10, 0))
    assert WorkingHours.holiday(date(2026, 12, 14)) is None
    assert OFFICE.is_open(at(2026, 12, 14, 10, 0))


def test_a_holiday_is_named_in_the_readers_language() -> None:
    assert WorkingHours.holiday(date(2026, 12, 25)) == "Christmas Day"
    assert WorkingHours.holiday(date(2026, 12, 25), "sw") == "Siku ya Krismasi"
    assert WorkingHours.holiday(date(2027, 12, 13)) == "Jamhuri Day (observed)"
    assert WorkingHours.holiday(date(2026, 11, 18)) is None


def test_when_open_the_next_opening_is_now() -> None:
    now = at(2026, 11, 18, 10, 30)
    assert OFFICE.next_opening(now) == now


@pytest.mark.parametrize(
    ("now", "opening"),
    [
        (at(2026, 11, 20, 18, 0), at(2026, 11, 23, 8, 0)),  # Friday evening → Monday
        (at(2026, 11, 18, 6, 0), at(2026, 11, 18, 8, 0)),  # early → the same morning
        (at(2026, 12, 24, 18, 0), at(2026, 12, 28, 8, 0)),  # Christmas, then a weekend
        (at(2026, 5, 31, 12, 0), at(2026, 6, 2, 8, 0)),  # Sunday before Madaraka Day
        (at(2027, 12, 10, 17, 0), at(2027, 12, 14, 8, 0)),  # Jamhuri Day observed on Monday
    ],
)
def test_the_next_opening_skips_closed_days_and_holidays(now: datetime, opening: datetime) -> None:
    found = OFFICE.next_opening(now)
    assert found == opening
    assert found.tzinfo == NAIROBI


def test_the_next_opening_of_a_desk_open_until_midnight_is_the_next_day() -> None:
    always = WorkingHours.parse("Mon-Sun 00:00-24:00")
    assert always.is_open(at(2026, 11, 18, 23, 59))
    assert always.next_opening(at(2026, 12, 25, 12, 0)) == at(2026, 12, 27, 0, 0)
