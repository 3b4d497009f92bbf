"""The FAQ page's "Did this help?" votes on both backends: what is stored, what a repeated
vote does, the per-address limit under concurrency, the report's counts, retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ntsa_assistant.faq import retention
from ntsa_assistant.faq.feedback import (
    FeedbackLimits,
    InvalidVote,
    Outcome,
    TopicCounts,
    client_key,
    counts,
    record,
)
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import FaqFeedback, Language

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
SECRET = b"test-web-secret"
ADDRESS = client_key(SECRET, "192.0.2.7")
TOPICS = (
    "closure",
    "logging-in",
    "pending-transactions",
    "validating-your-account",
    "linking-an-organisation",
    "training",
    "why-the-move",
    "more-help",
)


def voter(n: int | str) -> str:
    return client_key(SECRET, f"cookie-{n}", kind="voter")


async def rows(sessions: SessionFactory) -> list[FaqFeedback]:
    async with sessions() as session:
        return list((await session.scalars(select(FaqFeedback).order_by(FaqFeedback.id))).all())


async def test_a_vote_is_stored_with_only_hmacs_of_who_voted(session_factory):
    vote = await record(
        session_factory, "Pending-Transactions", "sw", True, ADDRESS, NOW, voter=voter(1)
    )
    assert (vote.outcome, vote.anchor) == (Outcome.RECORDED, "pending-transactions")
    [row] = await rows(session_factory)
    assert (row.anchor, row.language, row.helpful, row.at) == (
        "pending-transactions",
        Language.SW,
        True,
        NOW,
    )
    assert row.client_key == ADDRESS
    assert len(row.client_key) == 64
    assert "192.0.2.7" not in row.client_key
    assert row.voter_key == voter(1)


@pytest.mark.parametrize(
    ("anchor", "lang"),
    [("no-such-topic", "en"), ("greet", "en"), ("", "en"), ("closure", "fr")],
)
async def test_an_unknown_topic_or_language_is_refused_and_nothing_stored(
    session_factory, anchor, lang
):
    with pytest.raises(InvalidVote):
        await record(session_factory, anchor, lang, True, ADDRESS, NOW, voter=voter(1))
    assert await rows(session_factory) == []


async def test_a_browsers_second_vote_on_a_topic_replaces_its_first(session_factory):
    await record(session_factory, "closure", "en", True, ADDRESS, NOW, voter=voter(1))
    later = NOW + timedelta(hours=3)
    vote = await record(session_factory, "closure", "sw", False, ADDRESS, later, voter=voter(1))
    assert vote.outcome is Outcome.REPLACED
    [row] = await rows(session_factory)
    assert (row.helpful, row.language, row.at) == (False, Language.SW, later)


async def test_a_day_later_the_same_browser_votes_again(session_factory):
    await record(session_factory, "closure", "en", True, ADDRESS, NOW, voter=voter(1))
    next_day = NOW + timedelta(days=1, seconds=1)
    vote = await record(session_factory, "closure", "en", True, ADDRESS, next_day, voter=voter(1))
    assert vote.outcome is Outcome.RECORDED
    assert len(await rows(session_factory)) == 2


async def test_browsers_behind_one_address_each_count(session_factory):
    for n in range(3):
        vote = await record(session_factory, "closure", "en", True, ADDRESS, NOW, voter=voter(n))
        assert vote.outcome is Outcome.RECORDED
    assert len(await rows(session_factory)) == 3


async def test_past_the_hourly_limit_an_address_waits_for_its_oldest_vote_to_age(
    session_factory,
):
    limits = FeedbackLimits(per_hour=3)
    for minute in range(3):
        at = NOW + timedelta(minutes=minute)
        await record(
            session_factory, "closure", "en", True, ADDRESS, at, voter=voter(minute), limits=limits
        )
    at = NOW + timedelta(minutes=10)
    vote = await record(
        session_factory, "training", "en", True, ADDRESS, at, voter=voter("new"), limits=limits
    )
    assert (vote.outcome, vote.retry_at) == (Outcome.LIMITED, NOW + timedelta(hours=1))
    # A replacement adds no row: still taken at the limit.
    again = await record(
        session_factory, "closure", "en", False, ADDRESS, at, voter=voter(0), limits=limits
    )
    assert again.outcome is Outcome.REPLACED
    # Another address is not affected.
    other = client_key(SECRET, "198.51.100.9")
    vote = await record(
        session_factory, "training", "en", True, other, at, voter=voter("new"), limits=limits
    )
    assert vote.outcome is Outcome.RECORDED
    # An hour after the oldest (now replaced at minute 10, so the next oldest) it may vote.
    at = NOW + timedelta(hours=1, minutes=1, seconds=1)
    vote = await record(
        session_factory, "why-the-move", "en", True, ADDRESS, at, voter=voter("x"), limits=limits
    )
    assert vote.outcome is Outcome.RECORDED


async def test_twenty_votes_at_once_from_one_address_store_exactly_the_limit(session_factory):
    results = await asyncio.gather(
        *(
            record(session_factory, TOPICS[n % 8], "en", True, ADDRESS, NOW, voter=voter(n))
            for n in range(20)
        )
    )
    assert sorted(r.outcome for r in results).count(Outcome.RECORDED) == 10
    assert {r.outcome for r in results} == {Outcome.RECORDED, Outcome.LIMITED}
    async with session_factory() as session:
        stored = await session.scalar(select(func.count()).select_from(FaqFeedback))
    assert stored == 10


async def test_twenty_identical_votes_at_once_from_one_browser_store_one(session_factory):
    results = await asyncio.gather(
        *(
            record(session_factory, "closure", "en", True, ADDRESS, NOW, voter=voter(1))
            for _ in range(20)
        )
    )
    assert sorted(r.outcome for r in results).count(Outcome.RECORDED) == 1
    assert len(await rows(session_factory)) == 1


async def test_counts_per_topic_in_a_period_both_languages_together(session_factory):
    votes = [
        ("closure", "en", True, NOW),
        ("closure", "sw", True, NOW + timedelta(minutes=1)),
        ("closure", "en", False, NOW + timedelta(minutes=2)),
        ("training", "sw", False, NOW + timedelta(minutes=3)),
        ("training", "en", True, NOW + timedelta(days=2)),  # after the period
        ("more-help", "en", True, NOW - timedelta(seconds=1)),  # before it
    ]
    for n, (anchor, lang, helpful, at) in enumerate(votes):
        address = client_key(SECRET, f"192.0.2.{n}")
        await record(session_factory, anchor, lang, helpful, address, at, voter=voter(n))
    report = await counts(session_factory, NOW, NOW + timedelta(days=1))
    assert list(report) == list(TOPICS)
    assert report["closure"] == TopicCounts(helpful=2, unhelpful=1)
    assert report["training"] == TopicCounts(helpful=0, unhelpful=1)
    assert report["more-help"] == TopicCounts(0, 0)


async def test_retention_purges_votes_older_than_their_period(session_factory):
    keep = retention.FaqRetention(feedback=timedelta(days=365))
    old, young = NOW - timedelta(days=366), NOW - timedelta(days=364)
    await record(session_factory, "closure", "en", True, ADDRESS, old, voter=voter(1))
    await record(session_factory, "closure", "en", True, ADDRESS, young, voter=voter(2))
    assert await retention.purge(session_factory, NOW, keep, dry_run=True) == {"feedback": 1}
    assert len(await rows(session_factory)) == 2
    assert await retention.purge(session_factory, NOW, keep) == {"feedback": 1}
    assert [row.at for row in await rows(session_factory)] == [young]
