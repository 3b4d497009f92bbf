"""The gateway restarted (SIGTERM, as the supervisor or docker stops it) in the middle of
traffic from many chats: no update is lost and none is answered twice.

What python-telegram-bot acknowledges, and when: polling, it confirms a batch of updates to
Telegram with the offset of its next getUpdates, sent as soon as the batch is queued (not
processed); on SIGTERM it stops polling, confirms what it fetched, and ``Application.stop``
waits until every queued update has been processed. So whatever was fetched is answered by
the old process, and whatever was not is fetched by the new one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import t
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic

pytestmark = pytest.mark.e2e

CHATS = 40
RESTART_OFFSET = 50_000_000  # chat ids of their own, far from the fixture's
QUESTION = "When does TIMS close?"


def closure_answer() -> str:
    return faq.answer(Topic.CLOSURE, "en", datetime.now(NAIROBI)).text


async def test_a_restart_in_the_middle_of_traffic_loses_no_update_and_answers_none_twice(
    telegram, gateway, chat_id
):
    chats = [chat_id + RESTART_OFFSET + n for n in range(CHATS)]
    before, during = chats[: CHATS // 2], chats[CHATS // 2 :]
    sent_before = len(telegram.calls("sendMessage"))
    for chat in before:
        telegram.push_text(chat, QUESTION)
    # A few answers are out: the gateway is in the middle of the traffic when it is stopped.
    await telegram.wait_for_calls("sendMessage", count=sent_before + 3, timeout=60)
    stopping = asyncio.create_task(gateway.restart())  # SIGTERM, exit, start anew
    await asyncio.sleep(0)  # the signal is sent
    answered_at_the_signal = _answered(telegram, chats)
    for chat in during:  # people go on writing while the gateway stops and starts
        telegram.push_text(chat, QUESTION)
    await stopping
    assert len(answered_at_the_signal) < len(before)  # else this proved nothing

    for chat in chats:
        [answer] = await telegram.wait_for_messages(chat, count=1, timeout=90)
        assert answer["text"] == closure_answer()
    # Each chat's next turn gets the next answer: no second answer to the first question
    # came before it (the new process takes a chat's updates in order).
    for chat in chats:
        telegram.push_command(chat, "help")
    for chat in chats:
        [reply] = await telegram.wait_for_messages(chat, count=1, timeout=60)
        assert reply["text"] == t("en", "common.help")
        assert [m["text"] for m in telegram.outbox(chat)] == [closure_answer(), reply["text"]]


def _answered(telegram, chats: list[int]) -> set[int]:
    return {c.params["chat_id"] for c in telegram.calls("sendMessage") if c.ok} & set(chats)
