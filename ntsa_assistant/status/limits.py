"""Attempt limits of the status feature that hold under concurrency, on SQLite and PostgreSQL.

A limit is a :class:`Rule`: at most ``limit`` events of one kind for one key (a chat, an ID,
a phone, or everything) within ``window``. Events are rows (:class:`LimitEvent`), so limits
survive restarts and hold across replicas. A transaction that may add an event first takes
each of its rules' row locks (:mod:`ntsa_assistant.storage.locks`), so 20 requests at once
cannot all see the count below the limit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.storage import locks
from ntsa_assistant.storage.models import LimitEvent, LimitKind

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """How many attempts a chat, an ID and a phone may make, and the SMS budget."""

    lookups_per_chat: int = 5
    lookups_per_id: int = 5  # past it, no more codes are texted for the ID this hour
    failed_proofs_per_chat: int = 3
    failed_proofs_per_id: int = 3
    codes_per_chat: int = 3
    codes_per_id: int = 3
    codes_per_phone_per_day: int = 6
    sms_per_hour: int = 200  # codes texted per hour, every phone together
    window: timedelta = HOUR


class Scope(StrEnum):
    CHAT = "chat"
    ID = "id"
    PHONE = "phone"
    ALL = "all"  # every code texted to a real phone


@dataclass(frozen=True)
class Rule:
    kind: LimitKind
    scope: Scope
    value: str
    limit: int
    window: timedelta

    @property
    def lock(self) -> tuple[str, str]:
        return (self.kind.value, f"{self.scope.value}:{self.value}")

    def matches(self) -> list[ColumnElement[bool]]:
        where = [LimitEvent.kind == self.kind]
        match self.scope:
            case Scope.CHAT:
                where.append(LimitEvent.chat_id == self.value)
            case Scope.ID:
                where.append(LimitEvent.id_number == self.value)
            case Scope.PHONE:
                where.append(LimitEvent.phone_key == self.value)
            case Scope.ALL:
                where.append(LimitEvent.phone_key.is_not(None))
        return where


def phone_key(pepper: bytes, phone: str) -> str:
    """What limit events keep of a phone: an HMAC, never the number."""
    return hmac.new(pepper, b"phone:" + phone.encode(), hashlib.sha256).hexdigest()


async def lock(session: AsyncSession, rules: Iterable[Rule], now: datetime) -> None:
    """Locks each rule's row (created on first use) until the transaction ends.

    Must be the transaction's first statement, so that SQLite's write lock comes first."""
    await locks.take(session, (rule.lock for rule in rules), now)


async def frees_at(session: AsyncSession, rules: Iterable[Rule], now: datetime) -> datetime | None:
    """When the latest-ending rule reached among ``rules`` frees up; None if none is."""
    until: datetime | None = None
    for rule in rules:
        where = [*rule.matches(), LimitEvent.at > now - rule.window]
        count = await session.scalar(select(func.count()).select_from(LimitEvent).where(*where))
        if not count or count < rule.limit:
            continue
        times = (
            await session.scalars(select(LimitEvent.at).where(*where).order_by(LimitEvent.at))
        ).all()
        frees = times[len(times) - rule.limit] + rule.window
        until = frees if until is None else max(until, frees)
    return until


def count(
    session: AsyncSession,
    kind: LimitKind,
    chat_id: str,
    id_number: str,
    now: datetime,
    phone: str | None = None,
) -> None:
    """One event of ``kind``, counted by every rule of that kind that matches it."""
    session.add(
        LimitEvent(kind=kind, chat_id=chat_id, id_number=id_number, phone_key=phone, at=now)
    )
