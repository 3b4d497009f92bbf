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


# --- one turn, as few messages as it can be ----------------------------------------------


async def test_texts_of_one_turn_go_as_one_message_with_the_last_ones_buttons(
    tg: TelegramEmulator, bot: Bot
) -> None:
    chat_data: dict = {}
    replies = [
        Reply(text="That does not look like a phone number."),
        Reply(text="Which phone number is on your e-Citizen account?"),
        Reply(text="Or:", buttons=(Button("Cancel", "/stop"),)),
    ]
    await send_replies(bot, CHAT, replies, ChatButtons(chat_data))
    [message] = await tg.wait_for_messages(CHAT)
    assert message["text"] == (
        "That does not look like a phone number.\n\n"
        "Which phone number is on your e-Citizen account?\n\nOr:"
    )
    [[button]] = message["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Cancel"
    assert [b.title for b in ChatButtons(chat_data).menu()] == ["Cancel"]
    assert len(tg.calls("sendMessage")) == 1


async def test_a_message_with_buttons_ends_a_message_and_later_texts_start_one(
    tg: TelegramEmulator, bot: Bot
) -> None:
    chat_data: dict = {}
    replies = [
        Reply(text="Pick a session:", buttons=(Button("Mon", "/a"), Button("Tue", "/b"))),
        Reply(text="Or type cancel."),
        Reply(text="Sessions fill fast."),
    ]
    await send_replies(bot, CHAT, replies, ChatButtons(chat_data))
    menu, after = await tg.wait_for_messages(CHAT, count=2)
    assert menu["text"] == "Pick a session:"
    assert after["text"] == "Or type cancel.\n\nSessions fill fast."
    assert after["reply_markup"] is None
    assert ChatButtons(chat_data).menu() == []  # the latest message has no buttons


async def test_waiting_text_goes_above_a_contact_request_and_into_a_documents_caption(
    tg: TelegramEmulator, bot: Bot
) -> None:
    ics = base64.b64encode(b"BEGIN:VCALENDAR").decode()
    replies = [
        Reply(text="Thanks."),
        Reply(custom={"type": Custom.REQUEST_CONTACT, "text": "Share your number?"}),
        Reply(text="You are booked."),
        Reply(
            custom={
                "type": Custom.DOCUMENT,
                "filename": "a.ics",
                "content_base64": ics,
                "caption": "Add it to your calendar.",
            }
        ),
        Reply(text="x" * 1000),
        Reply(
            custom={
                "type": Custom.DOCUMENT,
                "filename": "b.ics",
                "content_base64": ics,
                "caption": "Add it to your calendar.",
            }
        ),
    ]
    await send_replies(bot, CHAT, replies, ChatButtons({}))
    asked, booked, long_text, second = await tg.wait_for_messages(CHAT, count=4)
    assert asked["text"] == "Thanks.\n\nShare your number?"
    assert asked["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert booked["document"]["file_name"] == "a.ics"
    assert booked["caption"] == "You are booked.\n\nAdd it to your calendar."
    # Too long together for a caption (1024): the text goes first, on its own.
    assert long_text["text"] == "x" * 1000
    assert second["caption"] == "Add it to your calendar."


async def test_the_choices_beside_sharing_are_keyboard_buttons_remembered_as_the_menu(
    tg: TelegramEmulator, bot: Bot
) -> None:
    chat_data: dict = {}
    ask = {
        "type": Custom.REQUEST_CONTACT,
        "text": "Is this ID yours?",
        "button": "📱 Share my phone number",
        "buttons": [
            {"title": "✉️ Send me a code by SMS", "payload": "/status_send_code"},
            {"title": "✖ Cancel", "payload": "/status_cancel"},
        ],
    }
    await send_replies(bot, CHAT, [Reply(custom=ask)], ChatButtons(chat_data))
    [message] = await tg.wait_for_messages(CHAT)
    rows = message["reply_markup"]["keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["📱 Share my phone number"],
        ["✉️ Send me a code by SMS"],
        ["✖ Cancel"],
    ]
    assert rows[0][0]["request_contact"] is True
    assert "request_contact" not in rows[1][0]
    # A tap sends the title as text: the menu maps it back to the payload.
    assert ChatButtons(chat_data).menu() == [
        Button("✉️ Send me a code by SMS", "/status_send_code"),
        Button("✖ Cancel", "/status_cancel"),
    ]


async def test_merged_texts_too_long_for_one_message_still_arrive_whole(
    tg: TelegramEmulator, bot: Bot
) -> None:
    replies = [Reply(text=LONG), Reply(text="Anything else?", buttons=(Button("No", "/n"),))]
    await send_replies(bot, CHAT, replies, ChatButtons({}))
    got = await tg.wait_for_messages(CHAT, count=3)
    assert "\n".join(m["text"] for m in got).replace("\n\n", "\n") == LONG + "\nAnything else?"
    assert [m["reply_markup"] is None for m in got] == [True, True, False]
