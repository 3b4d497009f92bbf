"""When the agents' desk is staffed: working days and hours, in Nairobi time.

An operator writes the hours as one line, e.g. ``Mon-Fri 08:00-17:00`` or
``Mon,Wed,Fri 09:00-16:30``. The desk is also closed all day on Kenya's public holidays,
as the ``holidays`` library lists them, with the Monday it adds when a holiday falls on a
Sunday: a person queued then is told when agents are back and why they are away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

import holidays

from ntsa_assistant.core.clock import NAIROBI

DEFAULT_HOURS = "Mon-Fri 08:00-17:00"

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
# Longer than any run of closed days a real week and a year of holidays can make.
_SEARCH_DAYS = 400
_SPEC = re.compile(
    r"^\s*(?P<days>\S+)\s+(?P<opens>\d{1,2}:\d{2})\s*-\s*(?P<closes>\d{1,2}:\d{2})\s*$"
)
_EXAMPLE = 'e.g. "Mon-Fri 08:00-17:00" or "Mon,Wed,Fri 09:00-16:30"'


@cache
def _calendar(language: str) -> holidays.HolidayBase:
    """Kenya's public holidays, names in ``language`` (the library adds years as asked)."""
    return holidays.country_holidays("KE", language=language)


def _day_number(name: str, spec: str) -> int:
    """Monday = 0; a day is its English name or its first three letters."""
    word = name.strip().lower()
    for number, day in enumerate(_DAY_NAMES):
        if word in (day, day[:3]):
            return number
    raise ValueError(f"working hours {spec!r}: {name.strip()!r} is not a day (use Mon … Sun)")


def _days(text: str, spec: str) -> frozenset[int]:
    """``Mon-Fri``, ``Mon,Wed,Fri`` or a mix such as ``Mon-Wed,Fri``."""
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start = _day_number(first, spec)
        end = _day_number(last, spec) if dash else start
        if end < start:
            raise ValueError(
                f"working hours {spec!r}: the days {part!r} run backwards "
                "(write them from Monday towards Sunday)"
            )
        days.update(range(start, end + 1))
    return frozenset(days)


def _minutes(text: str, spec: str, *, closing: bool) -> int:
    """``08:30`` → 510; ``24:00`` only as a closing time (the end of the day)."""
    hours, minutes = (int(part) for part in text.split(":"))
    if closing and (hours, minutes) == (24, 0):
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"working hours {spec!r}: {text} is not a time of day (00:00 … 23:59)")
    return hours * 60 + minutes


def _short(day: int) -> str:
    return _DAY_NAMES[day][:3].title()


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class WorkingHours:
    """The days (Monday = 0) and the hours of each, as minutes after midnight in Nairobi;
    ``closes_minute`` is 1440 for "until midnight"."""

    days: frozenset[int]
    opens_minute: int
    closes_minute: int

    @classmethod
    def parse(cls, spec: str) -> WorkingHours:
        """Reads ``Mon-Fri 08:00-17:00``; a ValueError says what is wrong and how to write it."""
        match = _SPEC.match(spec)
        if match is None:
            raise ValueError(
                f"working hours {spec!r}: write the days, a space and the hours, {_EXAMPLE}"
            )
        days = _days(match["days"], spec)
        opens = _minutes(match["opens"], spec, closing=False)
        closes = _minutes(match["closes"], spec, closing=True)
        if closes <= opens:
            raise ValueError(
                f"working hours {spec!r}: the desk closes ({match['closes']}) before it "
                f"opens ({match['opens']})"
            )
        return cls(days, opens, closes)

    def __str__(self) -> str:
        """The spec back, runs of days shortened: ``Mon-Fri 08:00-17:00``."""
        runs: list[list[int]] = []
        for day in sorted(self.days):
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        names = ",".join(
            _short(run[0]) if len(run) == 1 else f"{_short(run[0])}-{_short(run[-1])}"
            for run in runs
        )
        return f"{names} {_clock(self.opens_minute)}-{_clock(self.closes_minute)}"

    def is_open(self, now: datetime) -> bool:
        """Whether agents are at the desk at ``now`` (an aware instant)."""
        local = _nairobi(now)
        minute = local.hour * 60 + local.minute
        return self._works_on(local.date()) and self.opens_minute <= minute < self.closes_minute

    def next_opening(self, now: datetime) -> datetime:
        """``now`` itself when open, else the next instant the desk opens (Nairobi time)."""
        local = _nairobi(now)
        if self.is_open(local):
            return local
        today = local.date()
        for offset in range(_SEARCH_DAYS):
            day = today + timedelta(days=offset)
            opening = datetime.combine(day, time(), tzinfo=NAIROBI) + timedelta(
                minutes=self.opens_minute
            )
            if self._works_on(day) and opening > local:
                return opening
        raise RuntimeError(f"working hours {self}: no opening within {_SEARCH_DAYS} days")

    @staticmethod
    def holiday(day: date, lang: str = "en") -> str | None:
        """The public holiday on ``day`` (named in ``lang``: "en" or "sw"), or None."""
        return _calendar("sw" if lang == "sw" else "en_KE").get(day)

    def _works_on(self, day: date) -> bool:
        return day.weekday() in self.days and self.holiday(day) is None


def _nairobi(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("working hours need an aware datetime, not a naive one")
    return now.astimezone(NAIROBI)
