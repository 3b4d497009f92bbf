"""The FAQ page's "Did this help?": which votes count, how often a client may vote, and the
counts per topic for the operators' report.

A vote names a menu topic by its anchor, the page's language and yes or no. Who voted is
known only by two HMACs (:func:`client_key`): ``client`` of the address it came from and
``voter`` of the browser's random form cookie. Rules:

* one vote per topic per browser in any 24 hours: a second vote on the same topic replaces
  the first (its answer, language and time), so a slip of the finger can be corrected and a
  double-clicked button counts once. A browser, not an address: many people share one
  address behind a mobile carrier's NAT, and each of their votes counts;
* at most ``per_hour`` new votes per address in any hour, whatever cookies it shows (a
  cookie is easy to throw away; an address is not); past it the vote is refused with the
  time it may vote again. A replacement adds no row and is always taken.

The check and the write are atomic under concurrency on SQLite and PostgreSQL: the
transaction first upserts the client's and the voter's rows in ``limit_locks`` (kind
``faq_feedback``, in a fixed order), which on PostgreSQL locks them until the end and on
SQLite takes the single write lock before anything is read; a writer kept busy too long on
SQLite is retried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.core.i18n import LANGUAGES
from ntsa_assistant.faq.answers import ANCHORS, MENU_TOPICS, anchor, topic_for_anchor
from ntsa_assistant.reporting import activity
from ntsa_assistant.storage import locks
from ntsa_assistant.storage.engine import SessionFactory, retry_if_locked
from ntsa_assistant.storage.models import FaqFeedback, Language

LOCK_KIND = "faq_feedback"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class FeedbackLimits:
    per_hour: int = 10  # new votes per address in any hour
    same_topic: timedelta = DAY  # a browser's vote on a topic within this replaces the earlier


class Outcome(StrEnum):
    RECORDED = "recorded"
    REPLACED = "replaced"
    LIMITED = "limited"


@dataclass(frozen=True)
class Vote:
    outcome: Outcome
    anchor: str
    retry_at: datetime | None = None  # when LIMITED: when the client may vote again


class InvalidVote(ValueError):
    """The anchor names no FAQ topic, or the language is not one of ours."""


@dataclass(frozen=True)
class TopicCounts:
    helpful: int = 0
    unhelpful: int = 0


def client_key(secret: bytes, value: str, *, kind: str = "address") -> str:
    """What a vote keeps of an address (or, ``kind="voter"``, of a browser's cookie): an
    HMAC, never the value."""
    message = f"faq-feedback-{kind}:{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _valid(value: str, lang: str) -> tuple[str, Language]:
    topic = topic_for_anchor(value)
    if topic is None:
        raise InvalidVote(f"no FAQ topic has the anchor {value[:64]!r}")
    if lang not in LANGUAGES:
        raise InvalidVote(f"unknown language {lang[:8]!r}")
    return anchor(topic), Language(lang)


async def _lock(session: AsyncSession, keys: list[str], now: datetime) -> None:
    await locks.take(session, ((LOCK_KIND, key) for key in keys), now)


async def record(
    sessions: SessionFactory,
    value: str,
    lang: str,
    helpful: bool,
    client: str,
    now: datetime,
    *,
    voter: str,
    limits: FeedbackLimits = FeedbackLimits(),
) -> Vote:
    """Records one vote from the address ``client`` by the browser ``voter`` (both
    :func:`client_key` values); raises :class:`InvalidVote`."""
    name, language = _valid(value, lang)

    async def attempt() -> Vote:
        async with sessions() as session, session.begin():
            # First statement: see the module's docstring.
            await _lock(session, [f"client:{client}", f"voter:{voter}"], now)
            earlier = await session.scalar(
                select(FaqFeedback)
                .where(
                    FaqFeedback.voter_key == voter,
                    FaqFeedback.anchor == name,
                    FaqFeedback.at > now - limits.same_topic,
                )
                .order_by(FaqFeedback.at.desc())
                .limit(1)
            )
            if earlier is not None:
                earlier.helpful, earlier.language, earlier.at = helpful, language, now
                await activity.faq_feedback(session, name, language, helpful, now, replaced=True)
                return Vote(Outcome.REPLACED, name)
            recent = (
                await session.scalars(
                    select(FaqFeedback.at)
                    .where(FaqFeedback.client_key == client, FaqFeedback.at > now - HOUR)
                    .order_by(FaqFeedback.at.desc())
                    .limit(limits.per_hour)
                )
            ).all()
            if len(recent) >= limits.per_hour:
                return Vote(Outcome.LIMITED, name, retry_at=recent[-1] + HOUR)
            session.add(
                FaqFeedback(
                    anchor=name,
                    language=language,
                    helpful=helpful,
                    at=now,
                    client_key=client,
                    voter_key=voter,
                )
            )
            await activity.faq_feedback(session, name, language, helpful, now)
            return Vote(Outcome.RECORDED, name)

    return await retry_if_locked(attempt)


async def counts(
    sessions: SessionFactory, since: datetime, until: datetime
) -> dict[str, TopicCounts]:
    """Yes and no votes per topic anchor with ``since <= at < until``, both languages
    together; every menu topic is listed, in menu order, also those without votes."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(FaqFeedback.anchor, FaqFeedback.helpful, func.count())
                .where(FaqFeedback.at >= since, FaqFeedback.at < until)
                .group_by(FaqFeedback.anchor, FaqFeedback.helpful)
            )
        ).all()
    tally: Counter[tuple[str, bool]] = Counter()
    for name, helpful, n in rows:
        tally[(name, bool(helpful))] += int(n)
    return {
        ANCHORS[topic]: TopicCounts(tally[(ANCHORS[topic], True)], tally[(ANCHORS[topic], False)])
        for topic in MENU_TOPICS
    }
