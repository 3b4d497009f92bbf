"""Subscriptions, send lists and broadcasts on SQLite and PostgreSQL: one subscription per
chat, one row per recipient and announcement (however often and however concurrently the
list is made), rows taken once under a lease, a blocked chat unsubscribed, the audiences of
a broadcast, and a broadcast that resumes without sending anything twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from ntsa_assistant.announcements import outbox
from ntsa_assistant.announcements.bot_api import BotApi
from ntsa_assistant.announcements.broadcast import (
    Broadcaster,
    BroadcastError,
    count_audience,
    parse_audience,
    prepare,
)
from ntsa_assistant.announcements.pacing import Pacer
from ntsa_assistant.announcements.retention import AnnouncementRetention, purge
from ntsa_assistant.announcements.schedule import due
from ntsa_assistant.announcements.subscriptions import subscribe, subscription, unsubscribe
from ntsa_assistant.announcements.texts import SubscribeOutcome
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.faq.timeline import default_timeline
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    AnnouncementDelivery,
    AnnouncementKind,
    DeliveryState,
    Language,
    Subscription,
)
from ntsa_assistant.training.booking import cancel, register
from tests.support.processes import BOT_TOKEN
from tests.support.telegram_emulator import TelegramEmulator
from tests.support.training import NOW, add_session, person

TL = default_timeline()
IN_PENDING_WINDOW = datetime(2023, 12, 13, 10, 0, tzinfo=NAIROBI)
REAL = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # the lease clock
LEASE = timedelta(minutes=10)


async def _states(sessions: SessionFactory, announcement_id: int) -> dict[int, DeliveryState]:
    async with sessions() as db:
        rows = await db.execute(
            select(AnnouncementDelivery.chat_id, AnnouncementDelivery.state).where(
                AnnouncementDelivery.announcement_id == announcement_id
            )
        )
        return {chat: state for chat, state in rows}


async def _subscribed(sessions: SessionFactory) -> set[int]:
    async with sessions() as db:
        return set(await db.scalars(select(Subscription.chat_id)))


# --- subscriptions ---------------------------------------------------------------------


async def test_subscribing_once_again_and_in_the_other_language(
    session_factory: SessionFactory,
) -> None:
    now = IN_PENDING_WINDOW
    assert await subscribe(session_factory, 1001, "sw", now) is SubscribeOutcome.SUBSCRIBED
    assert await subscribe(session_factory, 1001, "sw", now) is SubscribeOutcome.ALREADY
    assert await subscribe(session_factory, 1001, "en", now) is SubscribeOutcome.LANGUAGE_CHANGED
    assert await subscription(session_factory, 1001) == "en"
    assert await unsubscribe(session_factory, 1001) is True
    assert await unsubscribe(session_factory, 1001) is False
    assert await subscription(session_factory, 1001) is None


async def test_asking_ten_times_at_once_subscribes_once(session_factory: SessionFactory) -> None:
    outcomes = await asyncio.gather(
        *(subscribe(session_factory, 1002, "sw", IN_PENDING_WINDOW) for _ in range(10))
    )
    assert Counter(outcomes) == {SubscribeOutcome.SUBSCRIBED: 1, SubscribeOutcome.ALREADY: 9}
    assert await _subscribed(session_factory) == {1002}


# --- the timeline's send list ------------------------------------------------------------


async def _timeline_rows(sessions: SessionFactory) -> list[tuple[int, str]]:
    async with sessions() as db:
        rows = await db.execute(
            select(AnnouncementDelivery.chat_id, AnnouncementDelivery.language).order_by(
                AnnouncementDelivery.chat_id
            )
        )
        return [(chat, language.value) for chat, language in rows]


async def test_each_subscriber_gets_one_row_however_often_and_concurrently_it_is_made(
    session_factory: SessionFactory,
) -> None:
    await subscribe(session_factory, 2001, "sw", IN_PENDING_WINDOW)
    await subscribe(session_factory, 2002, "en", IN_PENDING_WINDOW)
    items = due(TL, IN_PENDING_WINDOW)
    added = await asyncio.gather(
        *(outbox.enqueue_timeline(session_factory, items, REAL) for _ in range(5))
    )
    assert sum(added) == 2
    await subscribe(session_factory, 2003, "en", IN_PENDING_WINDOW)  # later: one more row
    assert await outbox.enqueue_timeline(session_factory, items, REAL) == 1
    assert await outbox.enqueue_timeline(session_factory, items, REAL) == 0
    assert await _timeline_rows(session_factory) == [(2001, "sw"), (2002, "en"), (2003, "en")]


async def test_a_row_is_taken_by_one_sender_and_again_only_after_its_lease(
    session_factory: SessionFactory,
) -> None:
    await subscribe(session_factory, 2101, "sw", IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, due(TL, IN_PENDING_WINDOW), REAL)
    [candidate] = await outbox.candidates(session_factory, REAL, kind=AnnouncementKind.TIMELINE)

    taken = await asyncio.gather(
        *(outbox.take(session_factory, candidate.id, REAL, LEASE) for _ in range(5))
    )
    [delivery] = [d for d in taken if d is not None]
    assert (delivery.chat_id, delivery.language, delivery.topic) == (2101, "sw", "pending_deadline")
    assert await outbox.candidates(session_factory, REAL + LEASE / 2) == []
    # its sender died: once the lease is over, another takes it (try 2)
    again = await outbox.take(session_factory, candidate.id, REAL + LEASE, LEASE)
    assert again is not None
    assert again.attempts == 2


async def test_a_timeline_row_follows_the_subscription_until_it_is_sent(
    session_factory: SessionFactory,
) -> None:
    await subscribe(session_factory, 2201, "sw", IN_PENDING_WINDOW)
    await subscribe(session_factory, 2202, "sw", IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, due(TL, IN_PENDING_WINDOW), REAL)
    await subscribe(session_factory, 2201, "en", IN_PENDING_WINDOW)  # switched language
    await unsubscribe(session_factory, 2202)  # and left
    first, second = await outbox.candidates(session_factory, REAL)

    delivery = await outbox.take(session_factory, first.id, REAL, LEASE)
    assert delivery is not None
    assert delivery.language == "en"
    assert await outbox.take(session_factory, second.id, REAL, LEASE) is None
    assert (await _states(session_factory, delivery.announcement_id))[2202] is (
        DeliveryState.CANCELLED
    )


async def test_blocked_unsubscribes_and_a_finished_row_is_never_taken_again(
    session_factory: SessionFactory,
) -> None:
    for chat in (2301, 2302):
        await subscribe(session_factory, chat, "en", IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, due(TL, IN_PENDING_WINDOW), REAL)
    rows = await outbox.candidates(session_factory, REAL)
    for candidate, state in zip(rows, (DeliveryState.SENT, DeliveryState.BLOCKED), strict=True):
        delivery = await outbox.take(session_factory, candidate.id, REAL, LEASE)
        assert delivery is not None
        await outbox.finish(session_factory, delivery.id, state, REAL, "Forbidden")

    assert await _subscribed(session_factory) == {2301}
    assert await outbox.candidates(session_factory, REAL + 2 * LEASE) == []
    assert await outbox.take(session_factory, rows[0].id, REAL + 2 * LEASE, LEASE) is None


async def test_a_429_does_not_count_as_a_try_and_the_last_try_fails_the_row(
    session_factory: SessionFactory,
) -> None:
    await subscribe(session_factory, 2401, "en", IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, due(TL, IN_PENDING_WINDOW), REAL)
    [candidate] = await outbox.candidates(session_factory, REAL)
    now = REAL
    for _ in range(3):  # three 429s
        delivery = await outbox.take(session_factory, candidate.id, now, LEASE)
        assert delivery is not None
        assert delivery.attempts == 1
        assert await outbox.give_back(session_factory, delivery.id, now, now, count_try=False)
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):  # transient failures
        delivery = await outbox.take(session_factory, candidate.id, now, LEASE)
        assert delivery is not None
        assert delivery.attempts == attempt
        retried = await outbox.give_back(
            session_factory, delivery.id, now + timedelta(seconds=1), now, detail="Bad Gateway"
        )
        assert retried is (attempt < outbox.MAX_ATTEMPTS)
        now += timedelta(seconds=1)
    assert (await _states(session_factory, delivery.announcement_id)) == {
        2401: DeliveryState.FAILED
    }


async def test_a_row_whose_last_try_died_ends_failed(session_factory: SessionFactory) -> None:
    await subscribe(session_factory, 2501, "en", IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, due(TL, IN_PENDING_WINDOW), REAL)
    [candidate] = await outbox.candidates(session_factory, REAL)
    now = REAL
    for _ in range(outbox.MAX_ATTEMPTS):  # each taken, each sender dead
        assert await outbox.take(session_factory, candidate.id, now, LEASE) is not None
        now += LEASE
    assert await outbox.fail_exhausted(session_factory, now - LEASE / 2) == 0  # still leased
    assert await outbox.fail_exhausted(session_factory, now) == 1


# --- broadcasts ------------------------------------------------------------------------


async def test_the_audiences_of_a_broadcast(session_factory: SessionFactory) -> None:
    for chat, lang in ((3001, "sw"), (3002, "sw"), (3003, "en"), (-(2**53), "sw")):
        async with session_factory() as db, db.begin():  # a terminal chat, never a Telegram one
            db.add(Subscription(chat_id=chat, language=Language(lang), subscribed_at=NOW))
    await add_session(session_factory, "TRN-A", capacity=5)
    await add_session(session_factory, "TRN-OLD", starts_at=NOW - timedelta(days=3))
    for n, lang in ((1, Language.SW), (2, Language.SW), (3, Language.EN), (4, Language.SW)):
        await register(session_factory, "TRN-A", person(n, lang), NOW - timedelta(days=5))
    await register(session_factory, "TRN-OLD", person(5, Language.SW), NOW - timedelta(days=5))
    cancelled = await register(
        session_factory, "TRN-A", person(6, Language.SW), NOW - timedelta(days=5)
    )
    await cancel(session_factory, cancelled.registration.reference, NOW, person(6).chat_id)

    assert await count_audience(session_factory, "sw", parse_audience("subscribers"), NOW) == (2, 1)
    session = parse_audience("session:TRN-A")
    assert await count_audience(session_factory, "sw", session, NOW) == (3, 1)
    # registrants: sessions not yet over (TRN-OLD is), active registrations only
    assert await count_audience(session_factory, "sw", parse_audience("registrants"), NOW) == (3, 1)
    plan = await prepare(session_factory, "Habari", "sw", session, NOW)
    assert (plan.resumed, plan.left_out) == (False, 1)
    assert set(await _states(session_factory, plan.announcement_id)) == {900_001, 900_002, 900_004}
    with pytest.raises(BroadcastError, match="no training session 'TRN-X'"):
        await prepare(session_factory, "Habari", "sw", parse_audience("session:TRN-X"), NOW)


def test_an_unknown_audience_is_refused() -> None:
    with pytest.raises(BroadcastError, match="use subscribers, registrants or session:CODE"):
        parse_audience("everyone")


async def test_the_same_broadcast_again_is_the_same_list(session_factory: SessionFactory) -> None:
    await subscribe(session_factory, 3101, "en", NOW)
    audience = parse_audience("subscribers")
    first = await prepare(session_factory, "Closing soon", "en", audience, NOW)
    await subscribe(session_factory, 3102, "en", NOW)  # joins after: not on this list
    again, other = await asyncio.gather(
        prepare(session_factory, "Closing soon", "en", audience, NOW + timedelta(hours=1)),
        prepare(session_factory, "Closing very soon", "en", audience, NOW),
    )
    assert (again.announcement_id, again.resumed) == (first.announcement_id, True)
    assert other.announcement_id != first.announcement_id
    assert set(await _states(session_factory, first.announcement_id)) == {3101}
    assert set(await _states(session_factory, other.announcement_id)) == {3101, 3102}


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token=BOT_TOKEN) as emulator:
        yield emulator


async def _broadcast(
    sessions: SessionFactory, telegram: TelegramEmulator, announcement_id: int
) -> Counter[DeliveryState]:
    done: Counter[DeliveryState] = Counter()
    async with aiohttp.ClientSession() as http:
        sender = Broadcaster(
            sessions,
            BotApi(http, telegram.base_url, BOT_TOKEN),
            Pacer(),
            lease=timedelta(seconds=1),
            on_done=lambda state: done.update([state]),
        )
        await sender.run(announcement_id)
    return done


async def test_a_broadcast_sends_each_once_and_unsubscribes_who_blocked_the_bot(
    session_factory: SessionFactory, telegram: TelegramEmulator
) -> None:
    chats = list(range(3201, 3231))
    for chat in chats:
        await subscribe(session_factory, chat, "sw", NOW)
        telegram.set_user(chat)
    await subscribe(session_factory, 3299, "sw", NOW)  # a chat Telegram does not know
    telegram.block(3205)
    telegram.block(3206)
    telegram.rate_limit(count=1, retry_after=0.2)
    plan = await prepare(
        session_factory, "Tarehe ya mwisho ni kesho.", "sw", parse_audience("subscribers"), NOW
    )

    done = await _broadcast(session_factory, telegram, plan.announcement_id)

    assert done == {DeliveryState.SENT: 28, DeliveryState.BLOCKED: 2, DeliveryState.FAILED: 1}
    for chat in chats:
        texts = [m["plain_text"] for m in telegram.outbox(chat)]
        assert texts == ([] if chat in (3205, 3206) else ["Tarehe ya mwisho ni kesho."])
    assert await _subscribed(session_factory) == set(chats + [3299]) - {3205, 3206}
    states = await _states(session_factory, plan.announcement_id)
    assert states[3299] is DeliveryState.FAILED
    assert len(telegram.rejected("sendMessage")) == 1  # the 429, retried
    # a second run finds nothing left and sends nothing
    calls = len(telegram.calls("sendMessage"))
    assert await _broadcast(session_factory, telegram, plan.announcement_id) == Counter()
    assert len(telegram.calls("sendMessage")) == calls


async def test_what_a_dead_run_held_is_sent_once_its_lease_is_over(
    session_factory: SessionFactory, telegram: TelegramEmulator
) -> None:
    for chat in range(3301, 3306):
        await subscribe(session_factory, chat, "en", NOW)
        telegram.set_user(chat)
    plan = await prepare(session_factory, "Hello", "en", parse_audience("subscribers"), NOW)
    # a run that died after taking two rows (before sending them)
    real_now = datetime.now(UTC)
    held = await outbox.candidates(session_factory, real_now, announcement_id=plan.announcement_id)
    for candidate in held[:2]:
        assert await outbox.take(session_factory, candidate.id, real_now, timedelta(seconds=1))

    done = await _broadcast(session_factory, telegram, plan.announcement_id)

    assert done == {DeliveryState.SENT: 5}
    assert all(len(telegram.outbox(chat)) == 1 for chat in range(3301, 3306))


async def test_finished_rows_go_after_the_notices_period_unless_still_needed(
    session_factory: SessionFactory,
) -> None:
    await subscribe(session_factory, 3401, "en", IN_PENDING_WINDOW)
    items = due(TL, IN_PENDING_WINDOW)
    await outbox.enqueue_timeline(session_factory, items, REAL)
    [candidate] = await outbox.candidates(session_factory, REAL)
    delivery = await outbox.take(session_factory, candidate.id, REAL, LEASE)
    assert delivery is not None
    await outbox.finish(session_factory, delivery.id, DeliveryState.SENT, IN_PENDING_WINDOW)
    keep = AnnouncementRetention(deliveries=timedelta(days=1))
    # two days on, the deadline's announcement is still due: its row keeps it from going twice
    inside = IN_PENDING_WINDOW + timedelta(days=2)
    assert await purge(session_factory, inside, keep) == {"announcement_deliveries": 0}
    after = items[0].send_until + timedelta(days=1)
    assert await purge(session_factory, after, keep, dry_run=True) == {"announcement_deliveries": 1}
    assert await purge(session_factory, after, keep) == {"announcement_deliveries": 1}
    async with session_factory() as db:
        assert await db.scalar(select(func.count()).select_from(AnnouncementDelivery)) == 0
