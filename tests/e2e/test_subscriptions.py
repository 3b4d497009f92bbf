"""Deadline reminders as people use them, through the Telegram emulator, the real gateway,
Rasa and the action server: asking in Kiswahili words ("niarifu"), the commands in both
languages, and the gateway's automatic announcement arriving in the subscriber's language
when the gateway's clock (``ASSISTANT_NOW``) reaches its date — once, even across restarts.

The action server's clock stays before the announcement's window (its answers list what is
still to come from then); the gateway's moves into it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from ntsa_assistant.announcements import texts
from ntsa_assistant.announcements.schedule import TimelineTopic
from ntsa_assistant.announcements.subscriptions import subscription, unsubscribe
from ntsa_assistant.announcements.texts import SubscribeOutcome
from ntsa_assistant.faq.timeline import default_timeline
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from tests.support.processes import ActionClock, RunningService

pytestmark = pytest.mark.e2e

TL = default_timeline()
BEFORE = "2023-12-11T10:00:00+03:00"  # nothing is due yet
DUE = "2023-12-13T10:00:00+03:00"  # the pending-transactions deadline is two days away
WAIT = 30


@pytest.fixture(scope="module")
async def db(e2e_database: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(e2e_database)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def before_the_window(
    action_clock: ActionClock, gateway: RunningService, telegram
) -> AsyncIterator[None]:
    """The action server and the gateway at ``BEFORE``; real time again afterwards."""
    await action_clock.set(BEFORE)
    await gateway.restart(ASSISTANT_NOW=BEFORE)
    await telegram.wait_until_polling(timeout=60)
    yield
    await gateway.restart(ASSISTANT_NOW=None)
    await telegram.wait_until_polling(timeout=60)


@pytest.fixture
async def chats(db: SessionFactory) -> AsyncIterator[list[int]]:
    """Chats a test subscribes; unsubscribed afterwards, so no later test's clock sends them
    an announcement."""
    made: list[int] = []
    yield made
    for chat in made:
        await unsubscribe(db, chat)


async def _say(telegram, chat: int, text: str) -> str:
    telegram.push_text(chat, text)
    [reply] = await telegram.wait_for_messages(chat, timeout=WAIT)
    return str(reply["text"])


async def test_typed_and_commanded_in_english_and_kiswahili(
    before_the_window, telegram, db: SessionFactory, chats: list[int], chat_id: int
) -> None:
    now = datetime.fromisoformat(BEFORE)
    english, kiswahili = chat_id, chat_id + 100_000
    chats += [english, kiswahili]
    telegram.set_user(english, language_code="en")
    telegram.set_user(kiswahili, language_code="en")  # an English app, Kiswahili words

    assert await _say(telegram, english, "please notify me about the deadlines") == (
        texts.subscribed("en", SubscribeOutcome.SUBSCRIBED, TL, now)
    )
    assert await _say(telegram, english, "/subscribe") == (
        texts.subscribed("en", SubscribeOutcome.ALREADY, TL, now)
    )
    assert await _say(telegram, kiswahili, "niarifu") == (
        texts.subscribed("sw", SubscribeOutcome.SUBSCRIBED, TL, now)
    )
    assert (await subscription(db, english), await subscription(db, kiswahili)) == ("en", "sw")

    assert await _say(telegram, english, "stop the reminders") == texts.unsubscribed("en", True, TL)
    assert await _say(telegram, english, "/unsubscribe") == texts.unsubscribed("en", False, TL)
    assert await _say(telegram, kiswahili, "/usiniarifu") == texts.unsubscribed("sw", True, TL)
    assert await _say(telegram, kiswahili, "/niarifu") == (
        texts.subscribed("sw", SubscribeOutcome.SUBSCRIBED, TL, now)
    )
    assert (await subscription(db, english), await subscription(db, kiswahili)) == (None, "sw")


async def test_the_announcement_arrives_in_kiswahili_at_its_time_and_once(
    before_the_window,
    gateway: RunningService,
    telegram,
    db: SessionFactory,
    chats: list[int],
    chat_id: int,
) -> None:
    subscriber, newcomer = chat_id, chat_id + 200_000
    chats += [subscriber, newcomer]
    telegram.set_user(subscriber, language_code="sw")
    telegram.set_user(newcomer, language_code="en")
    assert await _say(telegram, subscriber, "naomba unikumbushe tarehe ya mwisho") == (
        texts.subscribed("sw", SubscribeOutcome.SUBSCRIBED, TL, datetime.fromisoformat(BEFORE))
    )

    try:
        # The gateway's clock reaches the window: its job sends the reminder, in Kiswahili.
        await gateway.restart(ASSISTANT_NOW=DUE)
        [announcement] = await telegram.wait_for_messages(subscriber, timeout=WAIT)
        due = datetime.fromisoformat(DUE)
        assert announcement["text"] == texts.announcement(
            TimelineTopic.PENDING_DEADLINE, "sw", TL, due
        )
        assert "(zimebaki siku 2)" in announcement["text"]

        # Once, even after another restart: a newcomer subscribing now gets theirs from a
        # later run of the same job, which looks at the older subscriber's row first; once
        # the newcomer's is here, a second one to the subscriber would have come before it.
        await gateway.restart()
        await telegram.wait_until_polling(timeout=60)
        telegram.push_command(newcomer, "subscribe")
        # the job may beat the answer to the chat: both arrive, in either order
        arrived = await telegram.wait_for_messages(newcomer, 2, timeout=WAIT)
        assert sorted(message["text"] for message in arrived) == sorted(
            [
                texts.subscribed(
                    "en", SubscribeOutcome.SUBSCRIBED, TL, datetime.fromisoformat(BEFORE)
                ),
                texts.announcement(TimelineTopic.PENDING_DEADLINE, "en", TL, due),
            ]
        )
        assert telegram.unread(subscriber) == []
    finally:
        await gateway.restart(ASSISTANT_NOW=BEFORE)
        await telegram.wait_until_polling(timeout=60)
