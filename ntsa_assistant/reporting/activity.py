"""Writing the activity record: one call per event, from the feature that knows it happened.

The handoff desk, the status verifier, training bookings and the FAQ page's votes each call
one function here, inside their own transaction where they have one, so an event is
recorded exactly when what it tells is committed (a registration rolled back leaves no
event). Rasa's event broker (``nlu/ntsa_rasa/event_broker.py``, in Rasa's environment,
which cannot import this package) writes the turns into the same table with the same two
rules, kept equal by tests:

* :func:`chat_key` — a chat is stored only as ``HMAC-SHA256(key, "chat:" + chat id)``
  (hex). The key is made once, by whichever process needs it first, and kept in the
  database (``activity_key``), so the same person hashes the same across restarts,
  processes and replicas without any setting. Whoever can read the database can therefore
  hash a chat id they already know and find its events: the hash is a pseudonym that keeps
  chat ids out of the record and the report, not an anonymisation against the database's
  own readers (the handoff and registration tables hold chat ids in clear meanwhile).
* :func:`minimise` — a text is kept only for a message not understood: whitespace
  collapsed, every e-mail's local part and every number of four digits or more masked
  (ID numbers, phones, KRA PINs, codes, however written), clipped to :data:`TEXT_LIMIT`.
  The app side first applies :func:`~ntsa_assistant.core.masking.scrub` as everywhere else;
  a name cannot be recognised in free text and stays as written.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.core.masking import scrub
from ntsa_assistant.protocol import HandoffReason, TranscriptLine
from ntsa_assistant.storage.models import (
    ActivityEvent,
    ActivityKey,
    EventKind,
    Handoff,
    Language,
    Registration,
    RegistrationOutcome,
    StatusOutcome,
)

KEY_ROW = 1
TEXT_LIMIT = 200
# Numbers this long are masked whole: codes (6), ID numbers (7-8), KRA PINs (9), phones.
# Shorter ones ("2 days", "TIMS 2") stay; so do the masks' own stars, which count as digits.
_LONG_NUMBER = 4
_NUMBER = re.compile(r"\+?[0-9*](?:[ .\-/]?[0-9*])*")
_EMAIL = re.compile(r"([^\s@])[^\s@]*@([^\s@]+)")
_SPACES = re.compile(r"\s+")
NUMBER_MASK = "****"
_PERSON = "person"  # TranscriptLine.speaker of the person's lines


def chat_key(secret: bytes, chat_id: int | str) -> str:
    """The chat's pseudonym in the record (the broker computes the same)."""
    message = f"chat:{str(chat_id).strip()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _number(match: re.Match[str]) -> str:
    run = match.group(0)
    return NUMBER_MASK if sum(ch.isdigit() or ch == "*" for ch in run) >= _LONG_NUMBER else run


def minimise(text: str) -> str:
    """What the record keeps of a text (the broker applies the same)."""
    text = _SPACES.sub(" ", text).strip()
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _NUMBER.sub(_number, text)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1].rstrip() + "…"


def masked(text: str | None) -> str | None:
    """A person's text as the record keeps it; None for nothing."""
    kept = minimise(scrub(text)) if text else ""
    return kept or None


def last_typed(transcript: Sequence[TranscriptLine]) -> str | None:
    """The person's latest typed line (a tapped button shows as "(tapped: …)")."""
    for line in reversed(transcript):
        said = line.text.strip()
        if line.speaker == _PERSON and said and not (said.startswith("(") and said.endswith(")")):
            return said
    return None


async def secret_of(db: AsyncSession, now: datetime) -> bytes:
    """The HMAC key, made on first use; two processes making it at once agree on one."""
    found = await db.scalar(select(ActivityKey.secret).where(ActivityKey.id == KEY_ROW))
    if found is None:
        dialect = (await db.connection()).dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await db.execute(
            insert(ActivityKey)
            .values(id=KEY_ROW, secret=secrets.token_hex(32), created_at=now)
            .on_conflict_do_nothing(index_elements=[ActivityKey.id])
        )
        found = await db.scalar(select(ActivityKey.secret).where(ActivityKey.id == KEY_ROW))
    if found is None:
        raise RuntimeError("the activity key could not be made")
    return bytes.fromhex(found)


async def _add(
    db: AsyncSession, kind: EventKind, now: datetime, chat_id: int | str | None, **fields: object
) -> None:
    chat = chat_key(await secret_of(db, now), chat_id) if chat_id is not None else None
    db.add(ActivityEvent(kind=kind, at=now, chat=chat, **fields))


# --- one call per feature -------------------------------------------------------------------


async def handoff_step(
    db: AsyncSession,
    handoff: Handoff | int,
    kind: EventKind,
    now: datetime,
    *,
    transcript: Sequence[TranscriptLine] = (),
    unlisted: bool = False,
) -> None:
    """A handoff's step: opened (with the person's last words when two misses led to it),
    queued (with their own words when no topic fitted: ``unlisted``), claimed, closed or
    rated."""
    row = (
        handoff
        if isinstance(handoff, Handoff)
        else await db.get(Handoff, handoff, populate_existing=True)
    )
    if row is None:
        return
    fields: dict[str, object] = {}
    if kind is EventKind.HANDOFF_OPENED:
        fields["reason"] = row.reason
        if row.reason == HandoffReason.MISSES.value:
            fields["text"] = masked(last_typed(transcript))
    elif kind is EventKind.HANDOFF_QUEUED:
        fields["topic"] = row.topic
        fields["text"] = masked(row.typed_reason) if unlisted else None
    elif kind is EventKind.HANDOFF_CLAIMED and row.queued_at is not None:
        fields["seconds"] = round((now - row.queued_at).total_seconds())
    elif kind is EventKind.HANDOFF_CLOSED:
        fields["outcome"] = row.close_reason.value if row.close_reason else None
        fields["seconds"] = round((now - row.asked_at).total_seconds())
    elif kind is EventKind.HANDOFF_RATED:
        fields["rating"] = row.rating
    await _add(db, kind, now, row.chat_id, language=row.language, handoff_id=row.id, **fields)


async def status_lookup(
    db: AsyncSession,
    chat_id: int | str,
    outcome: StatusOutcome,
    now: datetime,
    *,
    reason: str | None = None,
) -> None:
    """A status look-up's proof step: proven (how), failed (why) or locked — never the ID."""
    await _add(db, EventKind.STATUS, now, chat_id, outcome=outcome.value, reason=reason)


async def registration(
    db: AsyncSession, row: Registration, outcome: RegistrationOutcome, now: datetime
) -> None:
    """A training registration seated, waitlisted, promoted or cancelled."""
    await _add(
        db,
        EventKind.REGISTRATION,
        now,
        row.chat_id,
        language=row.language,
        session_code=row.session_code,
        outcome=outcome.value,
    )


async def faq_feedback(
    db: AsyncSession,
    anchor: str,
    language: Language,
    helpful: bool,
    now: datetime,
    *,
    replaced: bool = False,
) -> None:
    """A vote on the FAQ page (``replaced``: it changed the same browser's earlier vote)."""
    await _add(
        db,
        EventKind.FAQ_FEEDBACK,
        now,
        None,
        language=language,
        topic=anchor,
        outcome="helped" if helpful else "not_helped",
        reason="replaced" if replaced else None,
    )
