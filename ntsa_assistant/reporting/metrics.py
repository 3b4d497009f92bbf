"""The report's figures, as pure functions over the activity record (and two tables).

Definitions the figures rest on:

* **Conversation** — a chat's run of its own contacts (turns, asking for a person and
  saying what about, status look-up steps, registering or cancelling), split wherever the
  person was silent :data:`CONVERSATION_GAP` or longer. A handoff's later steps (claimed,
  closed, rated) belong to the conversation that opened it. Its day is the Nairobi date it
  started; its language the one most of its events carry (the first one on a tie).
* **Person** — a chat (its keyed hash); counted once per day however many conversations.
* **Contained** — a conversation in which nobody asked for a person and after which the
  same chat did not come back within :data:`RETURN_WINDOW` (a new conversation starting
  then). A conversation that ended less than that window before the data's end cannot be
  told yet: it is *pending*, and the rate is over the conversations judged.
* **Fallback rate** — typed messages (not buttons or commands) that Rasa did not
  understand (``nlu_fallback`` or its core fallback), over typed messages.
* **Time to first agent reply** — from the handoff's queueing (the person said what it is
  about) to its claim (an agent's first reply claims it, as does ``/claim``), counting only
  the desk's working hours (:class:`~ntsa_assistant.handoff.hours.WorkingHours`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq.answers import MENU_TOPICS, topic_command
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.storage.models import (
    EventKind,
    RegistrationOutcome,
    StatusOutcome,
)

CONVERSATION_GAP = timedelta(minutes=30)
RETURN_WINDOW = timedelta(days=7)
LANGUAGES = ("en", "sw")
UNKNOWN_LANGUAGE = "?"
# Rasa's multi-intent labels join intents with this (nlu/config.yml).
INTENT_SPLIT = "+"
TOPIC_INTENTS: tuple[str, ...] = tuple(topic_command(topic) for topic in MENU_TOPICS)

_CONTACT_KINDS = frozenset(
    {
        EventKind.TURN,
        EventKind.HANDOFF_OPENED,
        EventKind.HANDOFF_QUEUED,
        EventKind.STATUS,
        EventKind.REGISTRATION,
    }
)


@dataclass(frozen=True)
class Event:
    """One row of the activity record, as the figures read it."""

    at: datetime
    kind: EventKind
    chat: str | None = None
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    typed: bool | None = None
    fell_back: bool | None = None
    action: str | None = None
    latency_ms: int | None = None
    handoff_id: int | None = None
    reason: str | None = None
    topic: str | None = None
    session_code: str | None = None
    outcome: str | None = None
    seconds: int | None = None
    rating: int | None = None
    text: str | None = None

    @classmethod
    def of_row(cls, row: Mapping[Any, Any]) -> Event:
        """From a row of ``activity_events`` (its columns by name)."""
        values = {name: row[name] for name in EVENT_FIELDS}
        values["kind"] = EventKind(values["kind"])
        values["language"] = getattr(values["language"], "value", values["language"])
        return cls(**values)

    @property
    def is_contact(self) -> bool:
        """Something the person did (a seat given by someone else's cancelling is not)."""
        if self.chat is None or self.kind not in _CONTACT_KINDS:
            return False
        return not (
            self.kind is EventKind.REGISTRATION
            and self.outcome == RegistrationOutcome.PROMOTED.value
        )


# The columns of ``activity_events`` an :class:`Event` holds (all but ``id``).
EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Event))


@dataclass(frozen=True)
class Period:
    """The days reported, in Nairobi time: ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @cached_property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=NAIROBI)

    @cached_property
    def end(self) -> datetime:
        """The instant after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=NAIROBI)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def holds(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def local_day(instant: datetime) -> date:
    return instant.astimezone(NAIROBI).date()


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p <= 100); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- conversations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    chat: str
    start: datetime
    end: datetime
    language: str
    handoffs: tuple[int | None, ...]  # the handoffs opened in it
    day: date  # the Nairobi date it started

    @property
    def handed_off(self) -> bool:
        return bool(self.handoffs)


def _language(events: Sequence[Event]) -> str:
    said = [e.language for e in events if e.language in LANGUAGES]
    if not said:
        return UNKNOWN_LANGUAGE
    if all(lang == said[0] for lang in said):
        return said[0]
    counts = Counter(said)
    most = max(counts.values())
    return next(lang for lang in said if counts[lang] == most)


def conversations(events: Iterable[Event], gap: timedelta = CONVERSATION_GAP) -> list[Conversation]:
    """Every chat's conversations (see the module's definition), by start."""
    by_chat: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.is_contact and event.chat is not None:
            by_chat[event.chat].append(event)
    found: list[Conversation] = []
    for chat, contacts in by_chat.items():
        contacts.sort(key=lambda e: e.at)
        run: list[Event] = []
        for event in contacts:
            if run and event.at - run[-1].at >= gap:
                found.append(_conversation(chat, run))
                run = []
            run.append(event)
        found.append(_conversation(chat, run))
    return sorted(found, key=lambda c: (c.start, c.chat))


def _conversation(chat: str, run: Sequence[Event]) -> Conversation:
    opened = tuple(e.handoff_id for e in run if e.kind is EventKind.HANDOFF_OPENED)
    return Conversation(chat, run[0].at, run[-1].at, _language(run), opened, local_day(run[0].at))


@dataclass(frozen=True)
class DayCounts:
    day: date
    conversations: Counter[str] = field(default_factory=Counter)  # per language
    people: Counter[str] = field(default_factory=Counter)  # per language
    people_total: int = 0

    @property
    def conversations_total(self) -> int:
        return sum(self.conversations.values())


def per_day(found: Sequence[Conversation], period: Period) -> list[DayCounts]:
    """Conversations and people of each day of the period, per language; a person who
    spoke both languages that day counts in each language and once in the total."""
    by_day: dict[date, list[Conversation]] = defaultdict(list)
    for conversation in found:
        by_day[conversation.day].append(conversation)
    rows: list[DayCounts] = []
    for day in period.days():
        that_day = by_day[day]
        people: dict[str, set[str]] = defaultdict(set)
        for conversation in that_day:
            people[conversation.language].add(conversation.chat)
        rows.append(
            DayCounts(
                day,
                Counter(c.language for c in that_day),
                Counter({lang: len(chats) for lang, chats in people.items()}),
                len({c.chat for c in that_day}),
            )
        )
    return rows


@dataclass(frozen=True)
class Totals:
    conversations: Counter[str]
    people: Counter[str]
    people_total: int

    @property
    def conversations_total(self) -> int:
        return sum(self.conversations.values())


def totals(found: Sequence[Conversation], period: Period) -> Totals:
    """Conversations started in the period, and the people who had them (each once)."""
    inside = [c for c in found if period.holds(c.start)]
    people: dict[str, set[str]] = defaultdict(set)
    for conversation in inside:
        people[conversation.language].add(conversation.chat)
    return Totals(
        Counter(c.language for c in inside),
        Counter({lang: len(chats) for lang, chats in people.items()}),
        len({c.chat for c in inside}),
    )


@dataclass(frozen=True)
class Containment:
    conversations: int
    handed_off: int
    returned: int  # not handed off, but the chat came back within the window
    contained: int
    pending: int  # ended too recently to tell

    @property
    def judged(self) -> int:
        return self.conversations - self.pending

    @property
    def rate(self) -> float | None:
        return share(self.contained, self.judged)


def containment(
    found: Sequence[Conversation],
    period: Period,
    data_end: datetime,
    window: timedelta = RETURN_WINDOW,
) -> Containment:
    """Of the conversations started in the period: handed to a person, followed by another
    within ``window``, settled by the assistant alone, or too recent to tell at
    ``data_end`` (the instant up to which the record was read)."""
    starts: dict[str, list[datetime]] = defaultdict(list)
    for conversation in found:
        starts[conversation.chat].append(conversation.start)
    handed = returned = contained = pending = total = 0
    for conversation in found:
        if not period.holds(conversation.start):
            continue
        total += 1
        if conversation.handed_off:
            handed += 1
        elif any(
            conversation.end < start <= conversation.end + window
            for start in starts[conversation.chat]
        ):
            returned += 1
        elif conversation.end + window > data_end:
            pending += 1
        else:
            contained += 1
    return Containment(total, handed, returned, contained, pending)


# --- turns ------------------------------------------------------------------------------------


def _turns(events: Iterable[Event], period: Period) -> list[Event]:
    return [e for e in events if e.kind is EventKind.TURN and period.holds(e.at)]


@dataclass(frozen=True)
class Fallbacks:
    typed: Counter[str]  # typed messages per language
    fell_back: Counter[str]

    def rate(self, language: str | None = None) -> float | None:
        if language is None:
            return share(sum(self.fell_back.values()), sum(self.typed.values()))
        return share(self.fell_back[language], self.typed[language])


def _lang(event: Event) -> str:
    return event.language if event.language in LANGUAGES else UNKNOWN_LANGUAGE


def fallbacks(events: Iterable[Event], period: Period) -> Fallbacks:
    typed = [e for e in _turns(events, period) if e.typed]
    return Fallbacks(Counter(map(_lang, typed)), Counter(_lang(e) for e in typed if e.fell_back))


def fallback_per_day(events: Iterable[Event], period: Period) -> dict[date, Fallbacks]:
    days = {day: Fallbacks(Counter(), Counter()) for day in period.days()}
    for event in _turns(events, period):
        if event.typed:
            day = days[local_day(event.at)]
            day.typed[_lang(event)] += 1
            if event.fell_back:
                day.fell_back[_lang(event)] += 1
    return days


def top_topics(
    events: Iterable[Event], period: Period, limit: int = 10
) -> list[tuple[str, Counter[str]]]:
    """The FAQ topics people asked about (each part of a two-question message counts),
    most asked first: (intent, count per language)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for turn in _turns(events, period):
        if turn.fell_back or not turn.intent:
            continue
        for part in dict.fromkeys(turn.intent.split(INTENT_SPLIT)):
            if part in TOPIC_INTENTS:
                counts[part][_lang(turn)] += 1
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return ranked[:limit]


@dataclass(frozen=True)
class Latency:
    turns: int
    p50_ms: float | None
    p95_ms: float | None


def latency(events: Iterable[Event], period: Period) -> Latency:
    values = [float(e.latency_ms) for e in _turns(events, period) if e.latency_ms is not None]
    return Latency(len(values), percentile(values, 50), percentile(values, 95))


# --- handoffs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handoffs:
    conversations: int
    by_reason: Counter[str]
    by_topic: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def rate(self, reason: str | None = None) -> float | None:
        count = self.total if reason is None else self.by_reason[reason]
        return share(count, self.conversations)


def handoffs(events: Sequence[Event], period: Period, conversations_total: int) -> Handoffs:
    """Handoffs opened in the period, by why, and what they were about (once queued)."""
    inside = [e for e in events if period.holds(e.at)]
    return Handoffs(
        conversations_total,
        Counter(e.reason or "?" for e in inside if e.kind is EventKind.HANDOFF_OPENED),
        Counter(e.topic or "?" for e in inside if e.kind is EventKind.HANDOFF_QUEUED),
    )


def working_seconds(hours: WorkingHours, start: datetime, end: datetime) -> float:
    """Seconds between two instants during which the desk was open."""
    if end <= start:
        return 0.0
    total = 0.0
    day = local_day(start)
    while day <= local_day(end):
        if day.weekday() in hours.days and hours.holiday(day) is None:
            midnight = datetime.combine(day, time(), tzinfo=NAIROBI)
            opens = midnight + timedelta(minutes=hours.opens_minute)
            closes = midnight + timedelta(minutes=hours.closes_minute)
            total += max(0.0, (min(end, closes) - max(start, opens)).total_seconds())
        day += timedelta(days=1)
    return total


@dataclass(frozen=True)
class AgentReplies:
    claimed: int
    waits: tuple[float, ...]  # seconds in working hours, one per claimed handoff
    wall_waits: tuple[float, ...]  # the same, by the clock
    left_unclaimed: int  # closed before any agent replied
    still_waiting: int  # queued and neither claimed nor closed
    ratings: Counter[int]
    closed_done: int  # handed back by an agent (each asked for a rating)

    @property
    def median_seconds(self) -> float | None:
        return percentile(self.waits, 50)

    @property
    def p90_seconds(self) -> float | None:
        return percentile(self.waits, 90)

    @property
    def wall_median_seconds(self) -> float | None:
        return percentile(self.wall_waits, 50)

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def average_rating(self) -> float | None:
        if not self.rated:
            return None
        return sum(r * n for r, n in self.ratings.items()) / self.rated


def agent_replies(events: Sequence[Event], period: Period, hours: WorkingHours) -> AgentReplies:
    """For the handoffs queued in the period: the wait to an agent's first reply, in working
    hours, and the ratings they got."""
    steps: dict[int, dict[EventKind, Event]] = defaultdict(dict)
    for event in events:
        if event.handoff_id is not None and event.kind not in steps[event.handoff_id]:
            steps[event.handoff_id][event.kind] = event
    waits: list[float] = []
    wall: list[float] = []
    unclaimed = waiting = done = 0
    ratings: Counter[int] = Counter()
    for step in steps.values():
        queued = step.get(EventKind.HANDOFF_QUEUED)
        if queued is None or not period.holds(queued.at):
            continue
        claimed, closed = step.get(EventKind.HANDOFF_CLAIMED), step.get(EventKind.HANDOFF_CLOSED)
        if claimed is not None:
            waits.append(working_seconds(hours, queued.at, claimed.at))
            wall.append((claimed.at - queued.at).total_seconds())
        elif closed is not None:
            unclaimed += 1
        else:
            waiting += 1
        if closed is not None and closed.outcome == "done":
            done += 1
        rated = step.get(EventKind.HANDOFF_RATED)
        if rated is not None and rated.rating is not None:
            ratings[rated.rating] += 1
    return AgentReplies(len(waits), tuple(waits), tuple(wall), unclaimed, waiting, ratings, done)


# --- status look-ups, registrations, seats, the FAQ page ----------------------------------------


def status_outcomes(events: Iterable[Event], period: Period) -> tuple[Counter[str], Counter[str]]:
    """Status look-up steps by outcome, and the failures by why."""
    inside = [e for e in events if e.kind is EventKind.STATUS and period.holds(e.at)]
    outcomes = Counter(e.outcome or "?" for e in inside)
    failed = Counter(e.reason or "?" for e in inside if e.outcome == StatusOutcome.FAILED.value)
    return outcomes, failed


def registration_outcomes(events: Iterable[Event], period: Period) -> Counter[str]:
    return Counter(
        e.outcome or "?" for e in events if e.kind is EventKind.REGISTRATION and period.holds(e.at)
    )


@dataclass(frozen=True)
class Seats:
    code: str
    title: str
    language: str
    starts_at: datetime
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int

    @property
    def filled(self) -> float | None:
        return share(self.confirmed, self.capacity)


@dataclass(frozen=True)
class TopicVotes:
    anchor: str
    helped: Counter[str] = field(default_factory=Counter)  # per language
    not_helped: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.helped.values()) + sum(self.not_helped.values())

    @property
    def rate(self) -> float | None:
        return share(sum(self.helped.values()), self.total)


def page_votes(votes: Iterable[tuple[str, str, bool]], anchors: Sequence[str]) -> list[TopicVotes]:
    """ "Did this help?" per topic anchor (every anchor listed, in order), per language,
    from the votes (anchor, language, helped) as the page keeps them."""
    found = {name: TopicVotes(name) for name in anchors}
    for name, language, helped in votes:
        row = found.setdefault(name, TopicVotes(name))
        (row.helped if helped else row.not_helped)[language] += 1
    return list(found.values())


def events_per_day(
    events: Iterable[Event], period: Period, kind: EventKind
) -> dict[date, Counter[str]]:
    """How many events of ``kind`` each day, per language."""
    days: dict[date, Counter[str]] = {day: Counter() for day in period.days()}
    for event in events:
        if event.kind is kind and period.holds(event.at):
            days[local_day(event.at)][_lang(event)] += 1
    return days
