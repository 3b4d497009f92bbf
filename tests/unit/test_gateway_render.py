"""The gateway's rendering against the Telegram emulator (which refuses, as Telegram
does, a message over 4096 characters): long replies arrive whole, in parts."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.conversation import Button, Reply
from bot.render import ChatButtons, send_replies, split_text
from ntsa_assistant.protocol import Custom
from tests.support.telegram_emulator import MAX_TEXT_LENGTH, TelegramEmulator

CHAT = 5_550_001
LINES = [f"• TIMS-MVR-2023-{n:06d}, Motor vehicle registration: waiting" for n in range(150)]
LONG = "Open TIMS applications (150):\n" + "\n".join(LINES)  # 9029 characters


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        emulator.set_user(CHAT)
        yield emulator


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    assert tg.token is not None
    async with Bot(tg.token, base_url=tg.base_url) as telegram_bot:
        yield telegram_bot


def test_the_reply_is_longer_than_two_messages() -> None:
    assert len(LONG) == 9029
    assert len(split_text(LONG)) == 3


async def test_a_9000_character_reply_arrives_whole_in_parts_with_its_buttons_last(
    tg: TelegramEmulator, bot: Bot
) -> None:
    chat_data: dict = {}
    reply = Reply(text=LONG, buttons=(Button("Tell me more", "/faq_more"),))
    await send_replies(bot, CHAT, [reply], ChatButtons(chat_data))
    got = await tg.wait_for_messages(CHAT, count=3)
    assert [m["text"] for m in got] == split_text(LONG)
    assert "\n".join(m["text"] for m in got) == LONG
    assert all(len(m["text"]) <= MAX_TEXT_LENGTH for m in got)
    assert [m["reply_markup"] is None for m in got] == [True, True, False]
    [[button]] = got[-1]["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Tell me more"
    assert ChatButtons(chat_data).find(button["callback_data"]) == Button(
        "Tell me more", "/faq_more"
    )
    assert tg.unread(CHAT) == []


async def test_a_long_answer_that_removes_the_keyboard_removes_it_with_its_last_part(
    tg: TelegramEmulator, bot: Bot
) -> None:
    reply = Reply(custom={"type": Custom.REMOVE_KEYBOARD, "text": LONG})
    await send_replies(bot, CHAT, [reply], ChatButtons({}))
    got = await tg.wait_for_messages(CHAT, count=3)
    assert [m["text"] for m in got] == split_text(LONG)
    assert [m["reply_markup"] for m in got] == [None, None, {"remove_keyboard": True}]


async def test_a_caption_too_long_for_a_document_follows_it_as_text(
    tg: TelegramEmulator, bot: Bot
) -> None:
    caption = "\n".join(LINES[:20])  # 1199 characters: more than a caption's 1024
    reply = Reply(
        custom={
            "type": Custom.DOCUMENT,
            "filename": "session.ics",
            "content_base64": base64.b64encode(b"BEGIN:VCALENDAR").decode(),
            "caption": caption,
        }
    )
    await send_replies(bot, CHAT, [reply], ChatButtons({}))
    document, text = await tg.wait_for_messages(CHAT, count=2)
    assert document["document"]["file_name"] == "session.ics"
    assert document["caption"] is None
    assert text["text"] == caption
