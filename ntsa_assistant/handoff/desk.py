"""The handoff's state, kept in the database so a restart of the gateway loses nothing.

A person asks for an agent (:func:`begin`, state ``choosing``), says what it is about
(:func:`choose`: queued as ``waiting`` in a desk group, with a context card and the topic's
name waiting in the desk outbox), an agent takes it (:func:`claim`) and hands it back
(:func:`close`), and the person may rate it (:func:`rate`). Everything bound for a desk
group is a row of ``desk_outbox``: :func:`next_item` leases the oldest one — several texts a
person sent while it waited come out merged into one — and :func:`finish_items` marks it
sent. The gateway owns Telegram; this module owns the rules.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.core.i18n import Lang, normalise_language
from ntsa_assistant.core.masking import scrub
from ntsa_assistant.handoff import texts
from ntsa_assistant.handoff.card import Card, CardRegistration, render_card
from ntsa_assistant.protocol import HandoffReason, HandoffRequest, TranscriptLine
from ntsa_assistant.reporting import activity
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import (
    CloseReason,
    DeskItemKind,
    DeskOutbox,
    DeskTopic,
    EventKind,
    Handoff,
    HandoffState,
    Language,
)
from ntsa_assistant.training.queries import my_registrations

OPEN_STATES = (HandoffState.CHOOSING, HandoffState.WAITING, HandoffState.CLAIMED)
QUEUED_STATES = (HandoffState.WAITING, HandoffState.CLAIMED)
# A desk item being sent is leased this long; a gateway that died mid-send leaves it to
# another after the lease (sending one item takes far less, rate-limit waits included).
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
# One merged relay stays well inside one Telegram message (4096).
MERGED_TEXT_LIMIT = 3500
# The wait estimate: the median time to a claim over the most recent claimed handoffs.
ESTIMATE_SAMPLE = 20
ESTIMATE_WINDOW = timedelta(days=14)
OTHER_TOPIC = "other"


@dataclass(frozen=True)
class HandoffView:
    id: int
    chat_id: int
    language: Lang
    reason: HandoffReason
    state: HandoffState
    topic: str | None
    asked_at: datetime
    queued_at: datetime | None
    desk_chat_id: int | None
    thread_id: int | None
    agent_id: int | None
    agent_name: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    close_reason: CloseReason | None
    rating: int | None

    @classmethod
    def of(cls, row: Handoff) -> HandoffView:
        try:
            reason = HandoffReason(row.reason)
        except ValueError:
            reason = HandoffReason.ASKED
        return cls(
            row.id,
            row.chat_id,
            normalise_language(row.language.value),
            reason,
            row.state,
            row.topic,
            row.asked_at,
            row.queued_at,
            row.desk_chat_id,
            row.thread_id,
            row.agent_id,
            row.agent_name,
            row.claimed_at,
            row.closed_at,
            row.close_reason,
            row.rating,
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Queued:
    handoff: HandoffView
    position: int
    estimate_minutes: int | None


@dataclass(frozen=True)
class DeskItem:
    """One thing to send into a desk group (several person texts merged count as one)."""

    ids: tuple[int, ...]
    handoff_id: int
    chat_id: int  # the person
    desk_chat_id: int
    thread_id: int | None
    kind: DeskItemKind
    from_chat_id: int | None
    message_id: int | None
    text: str | None
    merged: int  # how many person texts this item carries (1 for a single one)
    handoff_state: HandoffState


@dataclass(frozen=True)
class OpenHandoff:
    """A line of ``ntsa-assistant handoffs``."""

    handoff: HandoffView
    desk_chat_id: int | None
    thread_id: int | None
    waiting: timedelta
    pending_items: int


# --- asking and choosing ----------------------------------------------------------------


async def current(sessions: SessionFactory, chat_id: int) -> HandoffView | None:
    """The chat's open handoff, if any."""
    async with sessions() as db:
        row = await _open_row(db, chat_id)
        return HandoffView.of(row) if row else None


async def _open_row(db: AsyncSession, chat_id: int) -> Handoff | None:
    return await db.scalar(
        select(Handoff)
        .where(Handoff.chat_id == chat_id, Handoff.state.in_(OPEN_STATES))
        .order_by(Handoff.id.desc())
        .limit(1)
    )


async def blocked_until(sessions: SessionFactory, chat_id: int, now: datetime) -> datetime | None:
    """Until when agents do not take this person's messages (None: not blocked)."""
    async with sessions() as db:
        until = await db.scalar(select(DeskTopic.blocked_until).where(DeskTopic.chat_id == chat_id))
    return until if until is not None and until > now else None


async def begin(
    sessions: SessionFactory, chat_id: int, request: HandoffRequest, now: datetime
) -> HandoffView:
    """Starts a handoff (the person now chooses what it is about); an open one is kept."""
    context = json.dumps(
        {
            "transcript": [[line.speaker, scrub(line.text)] for line in request.transcript],
            "proven_id": request.proven_id,
        },
        ensure_ascii=False,
    )

    async def attempt() -> HandoffView:
        async with sessions() as db, db.begin():
            existing = await _open_row(db, chat_id)
            if existing is not None:
                return HandoffView.of(existing)
            row = Handoff(
                chat_id=chat_id,
                language=Language(normalise_language(request.lang)),
                reason=request.reason.value,
                state=HandoffState.CHOOSING,
                context=context,
                asked_at=now,
            )
            db.add(row)
            await db.flush()
            await activity.handoff_step(
                db, row, EventKind.HANDOFF_OPENED, now, transcript=request.transcript
            )
            return HandoffView.of(row)

    return await retry_if_locked(attempt)


async def choose(
    sessions: SessionFactory,
    handoff_id: int,
    *,
    topic: str,
    typed_reason: str | None,
    desks: Sequence[int],
    label: str,
    open_now: bool,
    now: datetime,
) -> Queued | None:
    """Queues a ``choosing`` handoff in a desk group with its context card; None when it
    is no longer choosing (cancelled meanwhile, or chosen twice)."""
    if not desks:
        raise ValueError("no desk group configured")
    registrations: tuple[CardRegistration, ...] = ()

    async def attempt() -> HandoffView | None:
        nonlocal registrations
        async with sessions() as db, db.begin():
            row = await db.get(Handoff, handoff_id, populate_existing=True, with_for_update=True)
            if row is None or row.state is not HandoffState.CHOOSING:
                return None
            desk_topic = await db.get(DeskTopic, row.chat_id, with_for_update=True)
            if desk_topic is None or desk_topic.desk_chat_id not in desks:
                desk = await _least_busy(db, desks)
                if desk_topic is None:
                    desk_topic = DeskTopic(
                        chat_id=row.chat_id, desk_chat_id=desk, label=label[:64], created_at=now
                    )
                    db.add(desk_topic)
                else:  # its group left the configuration: a new topic in a current one
                    desk_topic.desk_chat_id, desk_topic.thread_id = desk, None
            desk_topic.label = label[:64]
            row.state = HandoffState.WAITING
            row.topic = topic
            row.typed_reason = scrub(typed_reason)[:500] if typed_reason else None
            row.queued_at = now
            row.desk_chat_id = desk_topic.desk_chat_id
            row.thread_id = desk_topic.thread_id
            await db.flush()
            card = _card(row, label, registrations, open_now)
            row.context = None  # the card now carries it
            _enqueue(db, row, DeskItemKind.CARD, now, text=card)
            _enqueue_rename(db, row, desk_topic.label, now)
            await activity.handoff_step(
                db, row, EventKind.HANDOFF_QUEUED, now, unlisted=topic == OTHER_TOPIC
            )
            return HandoffView.of(row)

    registrations = await _registrations(sessions, handoff_id, now)
    view = await retry_if_locked(attempt)
    if view is None:
        return None
    async with sessions() as db:
        position = await _position(db, view)
        estimate = await _estimate(db, now)
    return Queued(view, position, None if estimate is None else estimate * position)


async def _registrations(
    sessions: SessionFactory, handoff_id: int, now: datetime
) -> tuple[CardRegistration, ...]:
    """The person's training registrations, as the card lists them."""
    found = await my_registrations(sessions, await _chat_of(sessions, handoff_id), now)
    return tuple(
        CardRegistration(r.training_session.title, r.training_session.starts_at, r.status.value)
        for r in found
    )


async def _chat_of(sessions: SessionFactory, handoff_id: int) -> int:
    async with sessions() as db:
        chat_id = await db.scalar(select(Handoff.chat_id).where(Handoff.id == handoff_id))
    return int(chat_id or 0)


def _card(
    row: Handoff, label: str, registrations: tuple[CardRegistration, ...], open_now: bool
) -> str:
    context = json.loads(row.context) if row.context else {}
    transcript = tuple(
        TranscriptLine(str(speaker), str(text))
        for speaker, text in context.get("transcript", [])
        if isinstance(text, str)
    )
    proven = context.get("proven_id")
    return render_card(
        Card(
            number=row.id,
            label=label,
            lang=row.language.value,
            reason=HandoffReason(row.reason),
            topic=row.topic or OTHER_TOPIC,
            typed_reason=row.typed_reason,
            transcript=transcript,
            proven_id=proven if isinstance(proven, str) else None,
            registrations=registrations,
            asked_at=row.asked_at,
            open_now=open_now,
        )
    )


async def _least_busy(db: AsyncSession, desks: Sequence[int]) -> int:
    """The desk group with the fewest open handoffs (the first configured one on a tie)."""
    result = await db.execute(
        select(Handoff.desk_chat_id, func.count())
        .where(Handoff.state.in_(QUEUED_STATES), Handoff.desk_chat_id.in_(desks))
        .group_by(Handoff.desk_chat_id)
    )
    counts = {desk: count for desk, count in result.all()}
    return min(desks, key=lambda desk: (counts.get(desk, 0), desks.index(desk)))


async def _position(db: AsyncSession, view: HandoffView) -> int:
    """1 + how many waiting handoffs were queued before this one (all desk groups)."""
    if view.state is not HandoffState.WAITING or view.queued_at is None:
        return 0
    ahead = await db.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(
            Handoff.state == HandoffState.WAITING,
            or_(
                Handoff.queued_at < view.queued_at,
                and_(Handoff.queued_at == view.queued_at, Handoff.id < view.id),
            ),
        )
    )
    return int(ahead or 0) + 1


async def position(sessions: SessionFactory, view: HandoffView) -> int:
    async with sessions() as db:
        return await _position(db, view)


async def _estimate(db: AsyncSession, now: datetime) -> int | None:
    """Minutes one waits for a claim, the median of recent handoffs; None without any."""
    rows = (
        await db.execute(
            select(Handoff.queued_at, Handoff.claimed_at)
            .where(
                Handoff.claimed_at.is_not(None),
                Handoff.queued_at.is_not(None),
                Handoff.claimed_at >= now - ESTIMATE_WINDOW,
            )
            .order_by(Handoff.claimed_at.desc())
            .limit(ESTIMATE_SAMPLE)
        )
    ).all()
    waits = [
        (claimed - queued).total_seconds()
        for queued, claimed in rows
        if queued is not None and claimed is not None
    ]
    if not waits:
        return None
    return max(1, round(statistics.median(waits) / 60))


# --- relaying the person's messages ----------------------------------------------------


async def relay_from_person(
    sessions: SessionFactory,
    view: HandoffView,
    *,
    message_id: int,
    text: str | None,
    now: datetime,
) -> None:
    """Queues the person's message for their topic, to be copied there; a text is also
    kept until it is sent, so several that wait together go out merged into one."""
    if view.desk_chat_id is None:
        raise ValueError("the handoff is not queued in a desk yet")

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            row = await db.get(Handoff, view.id)
            if row is None:
                return
            _enqueue(
                db,
                row,
                DeskItemKind.PERSON_COPY if text is None else DeskItemKind.PERSON_TEXT,
                now,
                text=text,
                from_chat_id=row.chat_id,
                message_id=message_id,
            )

    await retry_if_locked(attempt)


def _enqueue(
    db: AsyncSession,
    row: Handoff,
    kind: DeskItemKind,
    now: datetime,
    *,
    text: str | None = None,
    from_chat_id: int | None = None,
    message_id: int | None = None,
) -> None:
    assert row.desk_chat_id is not None
    db.add(
        DeskOutbox(
            handoff_id=row.id,
            desk_chat_id=row.desk_chat_id,
            kind=kind,
            text=text,
            from_chat_id=from_chat_id,
            message_id=message_id,
            created_at=now,
            attempts=0,
        )
    )


async def _label(db: AsyncSession, row: Handoff) -> str:
    """How the desk names the person of ``row`` (their topic's label)."""
    topic = await db.get(DeskTopic, row.chat_id)
    return topic.label if topic else str(row.chat_id)


def _enqueue_rename(db: AsyncSession, row: Handoff, label: str, now: datetime) -> None:
    name = texts.desk_topic_name(label, row.language.value, row.state.value, row.id)
    _enqueue(db, row, DeskItemKind.RENAME, now, text=name)


async def notice(sessions: SessionFactory, handoff_id: int, text: str, now: datetime) -> None:
    """Queues the bot's own line for the handoff's topic (claimed, left, escalation…)."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            row = await db.get(Handoff, handoff_id)
            if row is not None and row.desk_chat_id is not None:
                _enqueue(db, row, DeskItemKind.NOTICE, now, text=text)

    await retry_if_locked(attempt)


# --- agents ---------------------------------------------------------------------------------


async def for_topic(
    sessions: SessionFactory, desk_chat_id: int, thread_id: int
) -> tuple[int | None, HandoffView | None]:
    """The person a desk topic belongs to, and their open handoff if any."""
    async with sessions() as db:
        chat_id = await db.scalar(
            select(DeskTopic.chat_id).where(
                DeskTopic.desk_chat_id == desk_chat_id, DeskTopic.thread_id == thread_id
            )
        )
        if chat_id is None:
            return None, None
        row = await _open_row(db, chat_id)
        if row is None or row.state is HandoffState.CHOOSING:
            return int(chat_id), None
        return int(chat_id), HandoffView.of(row)


async def claim(
    sessions: SessionFactory,
    handoff_id: int,
    agent_id: int,
    agent_name: str | None,
    now: datetime,
) -> HandoffView | None:
    """A waiting handoff becomes this agent's; None when it is not waiting (any more)."""

    async def attempt() -> HandoffView | None:
        async with sessions() as db, db.begin():
            result = await db.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.state == HandoffState.WAITING)
                .values(
                    state=HandoffState.CLAIMED,
                    agent_id=agent_id,
                    agent_name=agent_name[:64] if agent_name else None,
                    claimed_at=now,
                )
            )
            if claimed_rows(result) != 1:
                return None
            row = await db.get(Handoff, handoff_id, populate_existing=True)
            assert row is not None
            _enqueue_rename(db, row, await _label(db, row), now)
            await activity.handoff_step(db, row, EventKind.HANDOFF_CLAIMED, now)
            return HandoffView.of(row)

    return await retry_if_locked(attempt)


async def close(
    sessions: SessionFactory, handoff_id: int, reason: CloseReason, now: datetime
) -> HandoffView | None:
    """Ends an open handoff (the person is with the bot again); None if already ended."""

    async def attempt() -> HandoffView | None:
        async with sessions() as db, db.begin():
            result = await db.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.state.in_(OPEN_STATES))
                .values(state=HandoffState.CLOSED, closed_at=now, close_reason=reason, context=None)
            )
            if claimed_rows(result) != 1:
                return None
            row = await db.get(Handoff, handoff_id, populate_existing=True)
            assert row is not None
            if row.desk_chat_id is not None and row.queued_at is not None:
                _enqueue_rename(db, row, await _label(db, row), now)
            await activity.handoff_step(db, row, EventKind.HANDOFF_CLOSED, now)
            return HandoffView.of(row)

    return await retry_if_locked(attempt)


async def rate(
    sessions: SessionFactory, chat_id: int, handoff_id: int, rating: int, now: datetime
) -> bool:
    """Stores the person's 1–5 rating of a handoff an agent finished, once."""
    if not 1 <= rating <= 5:
        return False

    async def attempt() -> bool:
        async with sessions() as db, db.begin():
            result = await db.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.chat_id == chat_id,
                    Handoff.close_reason == CloseReason.DONE,
                    Handoff.rating.is_(None),
                )
                .values(rating=rating, rated_at=now)
            )
            if claimed_rows(result) != 1:
                return False
            await activity.handoff_step(db, handoff_id, EventKind.HANDOFF_RATED, now)
            return True

    return await retry_if_locked(attempt)


async def block(sessions: SessionFactory, chat_id: int, until: datetime) -> None:
    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(DeskTopic).where(DeskTopic.chat_id == chat_id).values(blocked_until=until)
            )

    await retry_if_locked(attempt)


# --- topics -----------------------------------------------------------------------------------


async def set_thread(
    sessions: SessionFactory, chat_id: int, desk_chat_id: int, thread_id: int | None
) -> None:
    """The person's topic was (re)created (or is gone: ``None``); open handoffs follow."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(DeskTopic)
                .where(DeskTopic.chat_id == chat_id, DeskTopic.desk_chat_id == desk_chat_id)
                .values(thread_id=thread_id)
            )
            await db.execute(
                update(Handoff)
                .where(
                    Handoff.chat_id == chat_id,
                    Handoff.desk_chat_id == desk_chat_id,
                    Handoff.state.in_(OPEN_STATES),
                )
                .values(thread_id=thread_id)
            )

    await retry_if_locked(attempt)


async def thread_of(sessions: SessionFactory, chat_id: int) -> tuple[int, int | None, str] | None:
    """The person's desk group, topic (None: to be created) and label."""
    async with sessions() as db:
        row = await db.get(DeskTopic, chat_id, populate_existing=True)
        return (row.desk_chat_id, row.thread_id, row.label) if row else None


async def recard(sessions: SessionFactory, handoff_id: int, now: datetime) -> None:
    """The topic was lost and made anew: the open handoff's card and name go there again."""
    registrations = await _registrations(sessions, handoff_id, now)

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            row = await db.get(Handoff, handoff_id)
            if row is None or row.state not in QUEUED_STATES:
                return
            label = await _label(db, row)
            card = _card(row, label, registrations, open_now=True)
            _enqueue(db, row, DeskItemKind.CARD, now, text=card)
            _enqueue_rename(db, row, label, now)

    await retry_if_locked(attempt)


# --- the desk outbox ------------------------------------------------------------------------


def _pending(now: datetime) -> ColumnElement[bool]:
    return and_(
        DeskOutbox.sent_at.is_(None),
        DeskOutbox.attempts < MAX_ATTEMPTS,
        or_(DeskOutbox.leased_until.is_(None), DeskOutbox.leased_until <= now),
    )


async def desks_with_pending(sessions: SessionFactory, now: datetime) -> list[int]:
    async with sessions() as db:
        return [
            int(desk)
            for desk in await db.scalars(
                select(DeskOutbox.desk_chat_id).where(_pending(now)).distinct()
            )
        ]


async def next_item(sessions: SessionFactory, desk_chat_id: int, now: datetime) -> DeskItem | None:
    """Leases the desk group's oldest pending item; a person's text comes with the texts
    they sent after it (up to the next item of another kind), merged into one."""

    async def attempt() -> DeskItem | None:
        async with sessions() as db, db.begin():
            first = await db.scalar(
                select(DeskOutbox)
                .where(DeskOutbox.desk_chat_id == desk_chat_id, _pending(now))
                .order_by(DeskOutbox.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if first is None:
                return None
            # A handoff's card goes before its other items, also when it was queued again
            # after them (its topic was lost and is made anew).
            card = await db.scalar(
                select(DeskOutbox)
                .where(
                    DeskOutbox.handoff_id == first.handoff_id,
                    DeskOutbox.kind == DeskItemKind.CARD,
                    DeskOutbox.id > first.id,
                    _pending(now),
                )
                .order_by(DeskOutbox.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            first = card if card is not None and first.kind is not DeskItemKind.CARD else first
            rows = [first]
            if first.kind is DeskItemKind.PERSON_TEXT:
                rows = await _mergeable(db, first, now)
            ids = tuple(row.id for row in rows)
            result = await db.execute(
                update(DeskOutbox)
                .where(DeskOutbox.id.in_(ids), _pending(now))
                .values(leased_until=now + LEASE, attempts=DeskOutbox.attempts + 1)
            )
            if claimed_rows(result) != len(ids):
                raise _Raced
            handoff = await db.get(Handoff, first.handoff_id)
            assert handoff is not None
            topic = await db.get(DeskTopic, handoff.chat_id)
            text = first.text
            if len(rows) > 1:
                text = "\n".join(
                    [texts.desk_merged_header(len(rows))] + [f"• {row.text}" for row in rows]
                )
            return DeskItem(
                ids,
                handoff.id,
                handoff.chat_id,
                desk_chat_id,
                topic.thread_id if topic and topic.desk_chat_id == desk_chat_id else None,
                first.kind,
                first.from_chat_id,
                first.message_id,
                text,
                len(rows) if first.kind is DeskItemKind.PERSON_TEXT else 0,
                handoff.state,
            )

    try:
        return await retry_if_locked(attempt)
    except _Raced:  # another gateway took part of it: the next call sees what is left
        return None


class _Raced(Exception):
    pass


async def _mergeable(db: AsyncSession, first: DeskOutbox, now: datetime) -> list[DeskOutbox]:
    later = await db.scalars(
        select(DeskOutbox)
        .where(
            DeskOutbox.handoff_id == first.handoff_id,
            DeskOutbox.id > first.id,
            _pending(now),
        )
        .order_by(DeskOutbox.id)
    )
    rows, size = [first], len(first.text or "")
    for row in later:
        if row.kind is not DeskItemKind.PERSON_TEXT:
            break
        size += len(row.text or "") + 3
        if size > MERGED_TEXT_LIMIT:
            break
        rows.append(row)
    return rows


async def finish_items(sessions: SessionFactory, ids: Sequence[int], now: datetime) -> None:
    """Marks items sent; a sent person text keeps no copy of what they wrote."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(DeskOutbox)
                .where(DeskOutbox.id.in_(list(ids)))
                .values(sent_at=now, leased_until=None, text=None)
            )

    await retry_if_locked(attempt)


async def release_items(
    sessions: SessionFactory, ids: Sequence[int], now: datetime, retry_at: datetime | None = None
) -> None:
    """Gives leased items back to be sent again (at ``retry_at``, or at once)."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(DeskOutbox)
                .where(DeskOutbox.id.in_(list(ids)), DeskOutbox.sent_at.is_(None))
                .values(leased_until=retry_at)
            )

    await retry_if_locked(attempt)


# --- waiting too long, and the operators' list ------------------------------------------


async def due_escalations(
    sessions: SessionFactory, now: datetime, after: timedelta
) -> list[HandoffView]:
    """Waiting handoffs nobody claimed within ``after``, each returned once (marked)."""
    async with sessions() as db:
        ids = list(
            await db.scalars(
                select(Handoff.id).where(
                    Handoff.state == HandoffState.WAITING,
                    Handoff.escalated_at.is_(None),
                    Handoff.queued_at <= now - after,
                )
            )
        )
    due: list[HandoffView] = []
    for handoff_id in ids:

        async def attempt(handoff_id: int = handoff_id) -> HandoffView | None:
            async with sessions() as db, db.begin():
                result = await db.execute(
                    update(Handoff)
                    .where(
                        Handoff.id == handoff_id,
                        Handoff.state == HandoffState.WAITING,
                        Handoff.escalated_at.is_(None),
                    )
                    .values(escalated_at=now)
                )
                if claimed_rows(result) != 1:
                    return None
                row = await db.get(Handoff, handoff_id, populate_existing=True)
                return HandoffView.of(row) if row else None

        view = await retry_if_locked(attempt)
        if view is not None:
            due.append(view)
    return due


async def open_handoffs(sessions: SessionFactory, now: datetime) -> list[OpenHandoff]:
    """Every open handoff, the longest waiting first."""
    async with sessions() as db:
        rows = list(
            await db.scalars(
                select(Handoff)
                .where(Handoff.state.in_(OPEN_STATES))
                .order_by(func.coalesce(Handoff.queued_at, Handoff.asked_at), Handoff.id)
            )
        )
        result = await db.execute(
            select(DeskOutbox.handoff_id, func.count())
            .where(DeskOutbox.sent_at.is_(None))
            .group_by(DeskOutbox.handoff_id)
        )
        pending = {handoff_id: count for handoff_id, count in result.all()}
    return [
        OpenHandoff(
            HandoffView.of(row),
            row.desk_chat_id,
            row.thread_id,
            now - (row.queued_at or row.asked_at),
            int(pending.get(row.id, 0)),
        )
        for row in rows
    ]
