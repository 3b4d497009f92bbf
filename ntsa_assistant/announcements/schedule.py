"""Which dates of the migration are announced to subscribers, and when.

Three announcements, each built from the timeline (``faq/knowledge/timeline.toml``):

- the pending-transactions deadline, from :data:`PENDING_LEAD_DAYS` days before it, in the
  morning, until that day ends;
- the closure of the old system, from :data:`CLOSURE_LEAD_DAYS` days before its last open
  day, in the morning, until it closes;
- the first day the new system is the only way in, from that morning for
  :data:`NEW_SYSTEM_DAYS` days.

An announcement is sent to every subscriber once while it is due (``send_from <= now <
send_until``): someone who subscribes inside the window still gets it (its text counts the
days left when it is sent); nothing is sent once the date is behind it. Pure functions of
the timeline and a ``now``; days and hours are Nairobi's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq.timeline import Timeline

PENDING_LEAD_DAYS = 3
CLOSURE_LEAD_DAYS = 2
NEW_SYSTEM_DAYS = 7
# A morning hour, so that nobody is woken by a deadline.
MORNING = time(9, 0)
NEW_SYSTEM_MORNING = time(8, 0)


class TimelineTopic(enum.StrEnum):
    PENDING_DEADLINE = "pending_deadline"
    CLOSURE = "closure"
    NEW_SYSTEM_ONLY = "new_system_only"


@dataclass(frozen=True)
class TimelineAnnouncement:
    topic: TimelineTopic
    day: date  # the date it announces
    send_from: datetime
    send_until: datetime

    @property
    def key(self) -> str:
        """Names it in the database: one row per topic and date, whoever makes it first."""
        return f"timeline:{self.topic.value}:{self.day.isoformat()}"

    def is_due(self, now: datetime) -> bool:
        return self.send_from <= now < self.send_until


def _at(day: date, hour: time) -> datetime:
    return datetime.combine(day, hour, tzinfo=NAIROBI)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=NAIROBI)


def scheduled(timeline: Timeline) -> tuple[TimelineAnnouncement, ...]:
    """Every announcement of ``timeline``, in date order."""
    deadline = timeline.pending_transactions.deadline
    last_open = timeline.closure.last_open_day
    new_only = timeline.new_system_only.from_day
    return (
        TimelineAnnouncement(
            TimelineTopic.PENDING_DEADLINE,
            deadline,
            _at(deadline - timedelta(days=PENDING_LEAD_DAYS), MORNING),
            _start_of(deadline + timedelta(days=1)),
        ),
        TimelineAnnouncement(
            TimelineTopic.CLOSURE,
            last_open,
            _at(last_open - timedelta(days=CLOSURE_LEAD_DAYS), MORNING),
            timeline.closure.starts,
        ),
        TimelineAnnouncement(
            TimelineTopic.NEW_SYSTEM_ONLY,
            new_only,
            _at(new_only, NEW_SYSTEM_MORNING),
            _start_of(new_only + timedelta(days=NEW_SYSTEM_DAYS)),
        ),
    )


def due(timeline: Timeline, now: datetime) -> list[TimelineAnnouncement]:
    """The announcements to send at ``now``."""
    return [item for item in scheduled(timeline) if item.is_due(now)]


def upcoming(timeline: Timeline, now: datetime) -> list[TimelineAnnouncement]:
    """The announcements a subscriber may still get: due now or later."""
    return [item for item in scheduled(timeline) if now < item.send_until]


def find(timeline: Timeline, topic: str) -> TimelineAnnouncement | None:
    """The announcement of ``topic`` (a stored value) in ``timeline``."""
    return next((item for item in scheduled(timeline) if item.topic.value == topic), None)
