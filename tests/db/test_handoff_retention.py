"""Retention of handoffs: closed ones go after their period with their desk messages; sent
desk messages go after a week; a person's topic goes with their last handoff unless a block
still runs. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.handoff.retention import HandoffRetention, purge
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    CloseReason,
    DeskItemKind,
    DeskOutbox,
    DeskTopic,
    Handoff,
    HandoffState,
    Language,
)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI)
KEEP = HandoffRetention(handoffs=timedelta(days=180), desk_outbox=timedelta(days=7))
DESK = -100_555


def _handoff(chat_id: int, state: HandoffState, closed_days_ago: int | None) -> Handoff:
    closed = None if closed_days_ago is None else NOW - timedelta(days=closed_days_ago)
    return Handoff(
        chat_id=chat_id,
        language=Language.EN,
        reason="asked",
        state=state,
        asked_at=NOW - timedelta(days=(closed_days_ago or 0) + 1),
        queued_at=NOW - timedelta(days=(closed_days_ago or 0) + 1),
        desk_chat_id=DESK,
        thread_id=chat_id,
        closed_at=closed,
        close_reason=CloseReason.DONE if closed else None,
    )


def _item(handoff: Handoff, sent_days_ago: int | None) -> DeskOutbox:
    sent = None if sent_days_ago is None else NOW - timedelta(days=sent_days_ago)
    return DeskOutbox(
        handoff_id=handoff.id,
        desk_chat_id=DESK,
        kind=DeskItemKind.NOTICE,
        text=None if sent else "pending",
        created_at=NOW - timedelta(days=(sent_days_ago or 0) + 1),
        attempts=1,
        sent_at=sent,
    )


async def _count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_closed_handoffs_and_sent_desk_messages_go(session_factory: SessionFactory):
    async with session_factory() as db, db.begin():
        old = _handoff(1, HandoffState.CLOSED, closed_days_ago=200)
        recent = _handoff(2, HandoffState.CLOSED, closed_days_ago=10)
        waiting = _handoff(3, HandoffState.WAITING, closed_days_ago=None)
        blocked_old = _handoff(4, HandoffState.CLOSED, closed_days_ago=200)
        db.add_all([old, recent, waiting, blocked_old])
        await db.flush()
        db.add_all([_item(old, 199), _item(recent, 9), _item(recent, 1), _item(waiting, None)])
        for chat_id in (1, 2, 3):
            db.add(
                DeskTopic(
                    chat_id=chat_id, desk_chat_id=DESK, thread_id=chat_id, label="x", created_at=NOW
                )
            )
        db.add(
            DeskTopic(
                chat_id=4,
                desk_chat_id=DESK,
                thread_id=4,
                label="x",
                created_at=NOW,
                blocked_until=NOW + timedelta(hours=2),
            )
        )

    counted = await purge(session_factory, NOW, KEEP, dry_run=True)
    assert counted == {"handoffs": 2, "desk_outbox": 2, "desk_topics": 1}
    assert await _count(session_factory, Handoff) == 4  # a dry run deletes nothing

    assert await purge(session_factory, NOW, KEEP) == counted
    async with session_factory() as db:
        left = set(await db.scalars(select(Handoff.chat_id)))
        topics = set(await db.scalars(select(DeskTopic.chat_id)))
        pending = list(await db.scalars(select(DeskOutbox.text)))
    assert left == {2, 3}  # the recent closed one and the open one stay
    assert topics == {2, 3, 4}  # person 4's block still runs
    assert sorted(pending, key=str) == [None, "pending"]  # unsent stays; 1 day old sent stays
