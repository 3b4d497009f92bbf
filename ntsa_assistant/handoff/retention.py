"""Retention of handoffs (README, "Retention").

A closed handoff keeps who (a chat id), when, why, the topic, the agent and the rating: the
operators' figures on the desk need that for a while, then it goes with its desk outbox
rows. A desk outbox row holds a person's text only until it is sent; sent rows keep ids
only and go after a week. A person's desk topic goes with their last handoff, unless an
agent's block on them still runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, delete_rows
from ntsa_assistant.storage.models import DeskOutbox, DeskTopic, Handoff, HandoffState

KINDS = ("handoffs", "desk_outbox", "desk_topics")


@dataclass(frozen=True)
class HandoffRetention:
    handoffs: timedelta
    desk_outbox: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> HandoffRetention:
        return cls(
            handoffs=timedelta(days=settings.retention_handoffs_days),
            desk_outbox=timedelta(days=settings.retention_desk_outbox_days),
        )


async def purge(
    sessions: SessionFactory, now: datetime, keep: HandoffRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Purges (or, with ``dry_run``, counts) what is past its period."""
    async with sessions() as session, session.begin():
        old_handoff = (Handoff.state == HandoffState.CLOSED) & (
            Handoff.closed_at < now - keep.handoffs
        )
        sent = DeskOutbox.sent_at.is_not(None) & (DeskOutbox.sent_at < now - keep.desk_outbox)
        of_old_handoff = DeskOutbox.handoff_id.in_(select(Handoff.id).where(old_handoff))
        counts = {
            "desk_outbox": await delete_rows(
                session, DeskOutbox, sent | of_old_handoff, dry_run=dry_run
            )
        }
        counts["handoffs"] = await delete_rows(session, Handoff, old_handoff, dry_run=dry_run)
        # Whatever the dry run leaves in place, the real one keeps only handoffs not old.
        has_handoff = exists().where(Handoff.chat_id == DeskTopic.chat_id, ~old_handoff)
        not_blocked = or_(DeskTopic.blocked_until.is_(None), DeskTopic.blocked_until <= now)
        counts["desk_topics"] = await delete_rows(
            session, DeskTopic, ~has_handoff & not_blocked, dry_run=dry_run
        )
    return {kind: counts[kind] for kind in KINDS}
