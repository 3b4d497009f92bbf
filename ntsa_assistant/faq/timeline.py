"""The migration's timeline: its facts (from ``knowledge/timeline.toml``) and its phases.

Everything here is a pure function of the facts and of a ``now``; days are calendar days
in Nairobi, so "days left" changes exactly at midnight Nairobi time.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from ntsa_assistant.core.clock import NAIROBI


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Agency(_Frozen):
    name: str
    old_system: str
    new_system: str
    agency_site: str
    new_system_site: str


class Closure(_Frozen):
    starts: AwareDatetime
    ends: AwareDatetime
    last_open_day: date
    last_closed_day: date

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if not self.starts < self.ends:
            raise ValueError("the closure must end after it starts")
        if not self.last_open_day < self.last_closed_day:
            raise ValueError("the last open day must come before the last closed day")
        return self


class NewSystemOnly(_Frozen):
    from_day: date


class PendingTransactions(_Frozen):
    deadline: date


class Training(_Frozen):
    first_day: date
    last_day: date
    virtual: bool
    free: bool
    registration_site: str

    @model_validator(mode="after")
    def _ordered(self) -> Training:
        if self.last_day < self.first_day:
            raise ValueError("the training window ends before it starts")
        return self


class GovernmentDirective(_Frozen):
    deadline: date


class Validation(_Frozen):
    categories: tuple[str, ...]
    organisation_key: str


class Timeline(_Frozen):
    """One agency's move to e-Citizen, as stated in its notice."""

    agency: Agency
    closure: Closure
    new_system_only: NewSystemOnly
    pending_transactions: PendingTransactions
    training: Training
    government_directive: GovernmentDirective
    validation: Validation
    # The day someone last checked these facts and the answers' texts against the notice
    # (shown on the FAQ page); None: never stated.
    reviewed_on: date | None = None


def load(path: Path | None = None) -> Timeline:
    """Reads and checks a timeline file (the packaged one when ``path`` is None)."""
    if path is None:
        text = (resources.files("ntsa_assistant.faq") / "knowledge" / "timeline.toml").read_text(
            "utf-8"
        )
    else:
        text = path.read_text("utf-8")
    return Timeline.model_validate(tomllib.loads(text))


@cache
def default_timeline() -> Timeline:
    """The packaged timeline, read once."""
    return load()


class Phase(StrEnum):
    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


def phase(timeline: Timeline, now: datetime) -> Phase:
    """Where ``now`` falls relative to the old system's closure."""
    now = _aware(now)
    if now < timeline.closure.starts:
        return Phase.BEFORE
    if now < timeline.closure.ends:
        return Phase.DURING
    return Phase.AFTER


def _aware(now: datetime) -> datetime:
    """A naive ``now`` is taken as Nairobi time."""
    return now.replace(tzinfo=NAIROBI) if now.tzinfo is None else now


def local_day(now: datetime) -> date:
    """The calendar day in Nairobi at ``now``."""
    return _aware(now).astimezone(NAIROBI).date()


def days_until(day: date, now: datetime) -> int:
    """Calendar days from today (Nairobi) to ``day``: 0 on the day itself, < 0 after it."""
    return (day - local_day(now)).days


@dataclass(frozen=True)
class DeadlineStatus:
    """A deadline that is met by the end of ``day``."""

    day: date
    days_left: int

    @property
    def passed(self) -> bool:
        return self.days_left < 0

    @property
    def is_today(self) -> bool:
        return self.days_left == 0


def deadline_status(day: date, now: datetime) -> DeadlineStatus:
    return DeadlineStatus(day=day, days_left=days_until(day, now))


class WindowState(StrEnum):
    UPCOMING = "upcoming"
    ONGOING = "ongoing"
    OVER = "over"


def training_state(timeline: Timeline, now: datetime) -> WindowState:
    """Whether the training days are still ahead, running today, or over."""
    today = local_day(now)
    if today < timeline.training.first_day:
        return WindowState.UPCOMING
    if today <= timeline.training.last_day:
        return WindowState.ONGOING
    return WindowState.OVER
