"""The Telegram Bot API emulator, checked on the wire and with a real PTB Application."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from tests.support.telegram_emulator import ApiError, TelegramEmulator, html_to_plain

CHAT = 1001
DESK = -100_555_000_111


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def api(tg: TelegramEmulator) -> AsyncIterator[Any]:
    """Call the emulator like a bare HTTP client would: ``await api("getMe", key=value)``."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, **params: Any) -> tuple[int, dict[str, Any]]:
            async with session.post(f"{tg.base_url}{tg.token}/{method}", json=params) as resp:
                return resp.status, await resp.json()

        yield call


# ---------------------------------------------------------------- a small real bot


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data=("lang", "en")),
                InlineKeyboardButton("Kiswahili", callback_data=("lang", "sw")),
            ]
        ]
    )
    await update.effective_message.reply_text("Choose a language", reply_markup=keyboard)


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    _, lang = query.data  # arbitrary callback data: the tuple itself comes back
    await query.answer(f"chosen {lang}")
    await query.edit_message_text(f"Language: {lang}")


async def ask_phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    button = KeyboardButton("Share my number", request_contact=True)
    markup = ReplyKeyboardMarkup([[button]], one_time_keyboard=True, resize_keyboard=True)
    await update.effective_message.reply_text("Please share your phone", reply_markup=markup)


async def got_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    contact = update.effective_message.contact
    own = contact.user_id == update.effective_user.id
    await update.effective_message.reply_text(
        f"Got {contact.phone_number} own={own}", reply_markup=ReplyKeyboardRemove()
    )


async def send_ics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    await update.effective_message.reply_document(
        ics, filename="appointment.ics", caption="Your appointment"
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text = html.escape(update.effective_message.text)
    await update.effective_message.reply_text(f"<b>You said:</b> {text}", parse_mode=ParseMode.HTML)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text("Text only, please")


@pytest.fixture
async def seen() -> list[int]:
    """update_ids as the Application received them (no dedupe anywhere)."""
    return []


@pytest.fixture
async def app(tg: TelegramEmulator, seen: list[int]) -> AsyncIterator[Application]:
    application = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .arbitrary_callback_data(True)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .build()
    )

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)

    application.add_handler(TypeHandler(Update, remember), group=-1)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("phone", ask_phone))
    application.add_handler(CommandHandler("ics", send_ics))
    application.add_handler(CallbackQueryHandler(choose))
    application.add_handler(MessageHandler(filters.CONTACT, got_contact))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(
        MessageHandler(filters.Document.ALL | filters.PHOTO | filters.Sticker.ALL, unsupported)
    )
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=1)
        await application.start()
        yield application
        await application.updater.stop()
        await application.stop()


# ---------------------------------------------------------------- wire level


async def test_get_updates_keeps_updates_until_an_offset_confirms_them(
    tg: TelegramEmulator, api: Any
) -> None:
    ids = [tg.push_text(CHAT, f"m{i}") for i in range(3)]

    _, first = await api("getUpdates")
    _, again = await api("getUpdates", offset=0)
    _, partial = await api("getUpdates", offset=ids[1], limit=1)
    _, rest = await api("getUpdates", offset=ids[1])
    _, done = await api("getUpdates", offset=ids[2] + 1)

    assert [u["update_id"] for u in first["result"]] == ids
    assert again["result"] == first["result"]
    assert [u["update_id"] for u in partial["result"]] == [ids[1]]
    assert [u["update_id"] for u in rest["result"]] == ids[1:]
    assert done == {"ok": True, "result": []}
    assert tg.pending_updates() == []


async def test_negative_offset_keeps_only_the_newest(tg: TelegramEmulator, api: Any) -> None:
    ids = [tg.push_text(CHAT, f"m{i}") for i in range(4)]

    _, body = await api("getUpdates", offset=-1)

    assert [u["update_id"] for u in body["result"]] == ids[-1:]


async def test_long_poll_answers_as_soon_as_an_update_is_pushed(
    tg: TelegramEmulator, api: Any
) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=5))
    await tg.wait_until_polling()
    assert tg.calls("getUpdates")[-1].answered is False  # recorded on arrival
    update_id = tg.push_text(CHAT, "hello")

    async with asyncio.timeout(2):
        _, body = await poll

    assert [u["update_id"] for u in body["result"]] == [update_id]


async def test_a_push_from_another_thread_wakes_the_long_poll(
    tg: TelegramEmulator, api: Any
) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=5))
    await tg.wait_until_polling()
    update_id = await asyncio.to_thread(tg.push_text, CHAT, "from a thread")

    async with asyncio.timeout(2):
        _, body = await poll

    assert [u["update_id"] for u in body["result"]] == [update_id]


async def test_control_api_for_manual_trials() -> None:
    async with (
        TelegramEmulator(token=None, enable_control_api=True) as tg,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            f"{tg.url}/control/push_text", json={"chat_id": CHAT, "text": "hi"}
        ):
            pass
        async with session.post(f"{tg.base_url}77:any/getUpdates") as resp:
            [update] = (await resp.json())["result"]
        async with session.post(f"{tg.base_url}77:any/getMe") as resp:
            me = (await resp.json())["result"]
        send = {"chat_id": CHAT, "text": "karibu"}
        async with session.post(f"{tg.base_url}77:any/sendMessage", data=send):
            pass
        async with session.get(f"{tg.url}/control/messages?chat_id={CHAT}&timeout=2") as resp:
            [reply] = (await resp.json())["result"]

    assert update["message"]["text"] == "hi"
    assert me["id"] == 77
    assert reply["plain_text"] == "karibu"


async def test_empty_long_poll_returns_after_timeout(api: Any) -> None:
    async with asyncio.timeout(3):
        status, body = await api("getUpdates", timeout=0.2)

    assert (status, body) == (200, {"ok": True, "result": []})


async def test_a_second_poller_terminates_the_first_with_409(
    tg: TelegramEmulator, api: Any
) -> None:
    older = asyncio.create_task(api("getUpdates", timeout=5))
    await tg.wait_until_polling()
    _, newer = await api("getUpdates", timeout=0)

    status, body = await older

    assert newer["ok"] is True
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")


async def test_allowed_updates_filters_new_updates(tg: TelegramEmulator, api: Any) -> None:
    await api("getUpdates", allowed_updates=["callback_query"])
    tg.push_text(CHAT, "dropped, like Telegram does")

    _, body = await api("getUpdates")

    assert body["result"] == []


async def test_text_update_looks_like_telegrams(tg: TelegramEmulator, api: Any) -> None:
    tg.set_user(CHAT, language_code="sw", first_name="Achieng")
    tg.push_command(CHAT, "start", "deep-link")

    _, body = await api("getUpdates")

    message = body["result"][0]["message"]
    assert message["text"] == "/start deep-link"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert message["from"]["language_code"] == "sw"
    assert message["chat"] == {
        "id": CHAT,
        "type": "private",
        "first_name": "Achieng",
        "last_name": "Kamau",
        "username": f"wanjiku{CHAT}",
    }


async def test_errors_use_the_bot_api_envelope(tg: TelegramEmulator, api: Any) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{tg.base_url}1:bad/getMe") as resp:
        assert (resp.status, (await resp.json())["description"]) == (401, "Unauthorized")
    status_unknown, unknown = await api("sendTelepathy", chat_id=CHAT)
    status_chat, no_chat = await api("sendMessage", chat_id=555, text="hi")

    assert status_unknown == 404
    assert unknown["ok"] is False
    assert unknown["error_code"] == 404
    assert (status_chat, no_chat["description"]) == (400, "Bad Request: chat not found")


def test_html_is_validated_like_telegram() -> None:
    assert html_to_plain("<b>Hi</b> &amp; <i>karibu</i> &lt;3") == "Hi & karibu <3"
    for bad in ("5 < 6", "<br>line", "<b>open", "</b>", "<b><i>x</b></i>"):
        with pytest.raises(ApiError, match="can't parse entities"):
            html_to_plain(bad)


async def test_editing_with_the_same_content_is_not_modified(
    tg: TelegramEmulator, api: Any
) -> None:
    tg.push_text(CHAT, "hi")
    _, sent = await api("sendMessage", chat_id=CHAT, text="Same")
    message_id = sent["result"]["message_id"]

    status, body = await api("editMessageText", chat_id=CHAT, message_id=message_id, text="Same")

    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified")


async def test_forum_topics(tg: TelegramEmulator, api: Any) -> None:
    tg.add_group(-100200300, "Agents", is_forum=True)

    _, topic = await api("createForumTopic", chat_id=-100200300, name="Case 42")
    thread = topic["result"]["message_thread_id"]
    _, sent = await api("sendMessage", chat_id=-100200300, message_thread_id=thread, text="New")
    status, _ = await api("sendMessage", chat_id=-100200300, message_thread_id=999, text="x")
    [record] = await tg.wait_for_messages(-100200300)

    assert sent["result"]["message_thread_id"] == thread
    assert sent["result"]["is_topic_message"] is True
    assert record["message_thread_id"] == thread
    assert status == 400


# ---------------------------------------------------------------- with a real PTB Application


async def test_pushed_text_is_answered(tg: TelegramEmulator, app: Application) -> None:
    tg.push_text(CHAT, "Habari <yako>")

    [reply] = await tg.wait_for_messages(CHAT)

    assert reply["method"] == "sendMessage"
    assert reply["parse_mode"] == "HTML"
    assert reply["plain_text"] == "You said: Habari <yako>"
    assert reply["message"]["from"]["is_bot"] is True
    assert [c.method for c in tg.calls()][:2] == ["getMe", "deleteWebhook"]


async def test_button_press_round_trips_arbitrary_callback_data(
    tg: TelegramEmulator, app: Application
) -> None:
    tg.push_command(CHAT, "start")
    [menu] = await tg.wait_for_messages(CHAT)
    sent_data = [b["callback_data"] for b in menu["reply_markup"]["inline_keyboard"][0]]

    press = tg.press_button(CHAT, "Kiswahili")
    [edit] = await tg.wait_for_messages(CHAT)

    assert all(isinstance(d, str) and len(d) <= 64 for d in sent_data)  # PTB's cache keys
    assert tg.update(press)["callback_query"]["data"] == sent_data[1]
    assert edit["method"] == "editMessageText"
    assert edit["message_id"] == menu["message_id"]
    assert edit["plain_text"] == "Language: sw"
    assert "reply_markup" not in tg.message(CHAT, menu["message_id"])  # keyboard gone
    assert tg.callback_answer(press)["text"] == "chosen sw"


async def test_contact_shared_from_the_request_contact_button(
    tg: TelegramEmulator, app: Application
) -> None:
    tg.push_command(CHAT, "phone")
    [ask] = await tg.wait_for_messages(CHAT)

    tg.share_contact(CHAT, "254712345678")
    [reply] = await tg.wait_for_messages(CHAT)

    assert ask["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert reply["text"] == "Got 254712345678 own=True"
    assert tg.reply_keyboard(CHAT) is None


async def test_document_upload_is_recorded(tg: TelegramEmulator, app: Application) -> None:
    tg.push_command(CHAT, "ics")

    [sent] = await tg.wait_for_messages(CHAT)

    assert sent["method"] == "sendDocument"
    assert sent["caption"] == "Your appointment"
    assert sent["document"]["file_name"] == "appointment.ics"
    assert sent["document"]["mime_type"] == "text/calendar"
    assert sent["document"]["content"].startswith(b"BEGIN:VCALENDAR")
    assert sent["message"]["document"]["file_name"] == "appointment.ics"


async def test_unsupported_content_reaches_the_bot(tg: TelegramEmulator, app: Application) -> None:
    tg.push_document(CHAT)
    tg.push_photo(CHAT)
    tg.push_sticker(CHAT)

    replies = await tg.wait_for_messages(CHAT, count=3)

    assert [r["text"] for r in replies] == ["Text only, please"] * 3


async def test_429_is_retried_by_the_rate_limiter(
    tg: TelegramEmulator, app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, RetryAfter() emits a PTBDeprecationWarning, an error here.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    tg.rate_limit(count=2, retry_after=0.05)
    tg.push_text(CHAT, "busy?")

    [reply] = await tg.wait_for_messages(CHAT)

    answers = [c.error["error_code"] if c.error else 200 for c in tg.calls("sendMessage")]
    assert answers == [429, 429, 200]
    assert tg.calls("sendMessage")[0].error["parameters"] == {"retry_after": 0.05}
    assert reply["plain_text"] == "You said: busy?"


async def test_a_repushed_update_id_is_delivered_again(
    tg: TelegramEmulator, app: Application, seen: list[int]
) -> None:
    update_id = tg.push_text(CHAT, "once")
    await tg.wait_for_messages(CHAT)

    assert tg.push_raw(tg.update(update_id)) == update_id
    await tg.wait_for_messages(CHAT)
    later = tg.push_text(CHAT, "after")
    await tg.wait_for_messages(CHAT)

    assert seen == [update_id, update_id, later]


async def test_commands_are_stored_per_scope_and_language(
    tg: TelegramEmulator, app: Application
) -> None:
    await app.bot.set_my_commands([("start", "Start over")], language_code="sw")

    assert [c.command for c in await app.bot.get_my_commands(language_code="sw")] == ["start"]
    assert await app.bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await app.bot.set_my_commands([("Start", "Capital letters are refused")])


# ---------------------------------------------------------------- the agents' desk, with a PTB Bot


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    assert tg.token is not None
    async with Bot(tg.token, base_url=tg.base_url) as telegram_bot:
        yield telegram_bot


@pytest.fixture
async def desk(tg: TelegramEmulator, bot: Bot) -> int:
    """A forum supergroup with one topic the bot made; returns the topic's thread id."""
    tg.add_group(DESK, "Agents' desk", is_forum=True)
    topic = await bot.create_forum_topic(DESK, "Wanjiku Kamau")
    return topic.message_thread_id


def pushed(tg: TelegramEmulator, update_id: int) -> dict[str, Any]:
    """The message a push created, as the update carried it."""
    return tg.update(update_id)["message"]


async def test_a_persons_text_photo_and_contact_are_copied_into_the_topic(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    bold = [{"type": "bold", "offset": 0, "length": 6}]
    text = pushed(tg, tg.push_text(CHAT, "Habari, I need help", entities=bold))
    photo = pushed(tg, tg.push_photo(CHAT, caption="my logbook"))
    contact = pushed(tg, tg.push_contact(CHAT, "+254712345678"))

    copies = [
        await bot.copy_message(DESK, CHAT, m["message_id"], message_thread_id=desk)
        for m in (text, photo, contact)
    ]
    got = await tg.wait_for_messages(DESK, count=3)

    assert [c.message_id for c in copies] == [g["message_id"] for g in got]
    assert {g["method"] for g in got} == {"copyMessage"}
    assert [g["message_thread_id"] for g in got] == [desk] * 3
    assert [g["copied_from"] for g in got] == [
        {"chat_id": CHAT, "message_id": m["message_id"]} for m in (text, photo, contact)
    ]
    assert got[0]["message"]["text"] == "Habari, I need help"
    assert got[0]["message"]["entities"] == bold
    assert got[1]["message"]["photo"] == photo["photo"]
    assert got[1]["caption"] == "my logbook"
    assert got[2]["message"]["contact"] == contact["contact"]
    assert all(g["message"]["from"]["is_bot"] for g in got)
    assert all(g["message"]["is_topic_message"] for g in got)


async def test_an_agents_reply_is_copied_from_the_topic_to_the_private_chat(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    tg.set_user(CHAT)
    reply = pushed(tg, tg.push_group_message(DESK, "Karibu, tunakusaidia", thread_id=desk))
    photo = pushed(tg, tg.push_group_photo(DESK, thread_id=desk, caption="internal note"))

    await bot.copy_message(CHAT, DESK, reply["message_id"])
    await bot.copy_message(
        CHAT, DESK, photo["message_id"], caption="<b>Your form</b>", parse_mode="HTML"
    )
    text, picture = await tg.wait_for_messages(CHAT, count=2)

    assert text["plain_text"] == "Karibu, tunakusaidia"
    assert text["message_thread_id"] is None
    assert "message_thread_id" not in text["message"]
    assert text["message"]["chat"]["id"] == CHAT
    assert picture["caption"] == "Your form"  # the new caption replaces the agent's
    assert picture["message"]["photo"] == photo["photo"]


async def test_a_message_the_bot_sent_can_be_copied_and_copies_keep_their_new_keyboard(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    tg.set_user(CHAT)
    sent = await bot.send_message(CHAT, "Your case is open")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Claim", callback_data="claim")]])

    await bot.copy_message(
        DESK, CHAT, sent.message_id, message_thread_id=desk, reply_markup=keyboard
    )
    [copied] = await tg.wait_for_messages(DESK)

    assert copied["plain_text"] == "Your case is open"
    assert copied["message"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Claim"
    assert tg.press_button(DESK, "Claim")  # a copy is the bot's own message


async def test_copy_errors_are_telegrams(tg: TelegramEmulator, bot: Bot, desk: int) -> None:
    person = pushed(tg, tg.push_text(CHAT, "hello"))
    service_id = desk  # the topic's "forum_topic_created" message has the thread's id

    with pytest.raises(BadRequest, match="^Message to copy not found$"):
        await bot.copy_message(DESK, CHAT, 999, message_thread_id=desk)
    with pytest.raises(BadRequest, match="can't be copied"):
        await bot.copy_message(CHAT, DESK, service_id)
    tg.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.copy_message(CHAT, DESK, service_id)
    # The person blocked the bot, yet what they wrote can still reach the desk.
    await bot.copy_message(DESK, CHAT, person["message_id"], message_thread_id=desk)
    assert [m["plain_text"] for m in tg.outbox(DESK)] == ["hello"]


async def test_copy_messages_copies_in_order_and_skips_the_missing(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    first = pushed(tg, tg.push_text(CHAT, "one"))
    photo = pushed(tg, tg.push_photo(CHAT, caption="two"))

    ids = await bot.copy_messages(
        DESK,
        CHAT,
        [first["message_id"], photo["message_id"], 999],
        message_thread_id=desk,
        remove_caption=True,
    )
    got = await tg.wait_for_messages(DESK, count=2)

    assert [i.message_id for i in ids] == [g["message_id"] for g in got]
    assert [g["method"] for g in got] == ["copyMessages"] * 2
    assert got[0]["plain_text"] == "one"
    assert "caption" not in got[1]["message"]
    assert got[1]["message"]["message_thread_id"] == desk


async def test_a_deleted_topic_is_gone_for_every_send_and_edit(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    person = pushed(tg, tg.push_text(CHAT, "hi"))
    agent_line = pushed(tg, tg.push_group_message(DESK, "seen", thread_id=desk))
    other = (await bot.create_forum_topic(DESK, "Someone else")).message_thread_id

    await bot.delete_forum_topic(DESK, desk)
    tg.delete_topic(DESK, other)  # an agent deleting it in the app

    for thread in (desk, other, 4242):  # 4242 never existed
        with pytest.raises(BadRequest, match="^Message thread not found$"):
            await bot.send_message(DESK, "x", message_thread_id=thread)
        with pytest.raises(BadRequest, match="^Message thread not found$"):
            await bot.copy_message(DESK, CHAT, person["message_id"], message_thread_id=thread)
        with pytest.raises(BadRequest, match="^Message thread not found$"):
            await bot.send_photo(DESK, "AgACAgQAAxkBAAIphoto", message_thread_id=thread)
        with pytest.raises(BadRequest, match="^Message thread not found$"):
            await bot.send_document(DESK, b"%PDF", filename="a.pdf", message_thread_id=thread)
    for call in (bot.edit_forum_topic, bot.close_forum_topic, bot.reopen_forum_topic):
        with pytest.raises(BadRequest, match="^Topic_id_invalid$"):
            await call(DESK, desk)
    with pytest.raises(BadRequest, match="^Message to copy not found$"):  # its messages went too
        await bot.copy_message(CHAT, DESK, agent_line["message_id"])
    assert tg.topics(DESK) == []
    assert tg.outbox(DESK) == []
    await bot.send_message(DESK, "the general topic still works")


async def test_closing_and_reopening_a_topic(tg: TelegramEmulator, bot: Bot, desk: int) -> None:
    await bot.close_forum_topic(DESK, desk)
    [topic] = tg.topics(DESK)
    with pytest.raises(BadRequest, match="^Topic_not_modified$"):
        await bot.close_forum_topic(DESK, desk)
    await bot.send_message(DESK, "Case closed", message_thread_id=desk)  # an admin still may
    await bot.reopen_forum_topic(DESK, desk)
    with pytest.raises(BadRequest, match="^Topic_not_modified$"):
        await bot.reopen_forum_topic(DESK, desk)
    await bot.edit_forum_topic(DESK, desk, name="Wanjiku K. (done)")

    assert topic == {
        "message_thread_id": desk,
        "name": "Wanjiku Kamau",
        "icon_color": 7322096,
        "is_closed": True,
    }
    assert tg.topics(DESK)[0]["is_closed"] is False
    assert tg.topics(DESK)[0]["name"] == "Wanjiku K. (done)"
    assert [m["plain_text"] for m in tg.outbox(DESK)] == ["Case closed"]


async def test_an_agent_closing_a_topic_in_the_app(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    admin = tg.add_member(DESK, {"first_name": "Amina"}, status="administrator")

    closed = tg.close_topic(DESK, desk)
    with pytest.raises(ValueError, match="closed"):
        tg.push_group_message(DESK, "a member may not write here", thread_id=desk)
    tg.push_group_message(DESK, "an admin may", thread_id=desk, user=admin)
    [service, by_admin] = await bot.get_updates()

    assert service.update_id == closed
    assert service.message.forum_topic_closed is not None
    assert service.message.message_thread_id == desk
    assert by_admin.message.from_user.first_name == "Amina"
    assert tg.topics(DESK)[0]["is_closed"] is True
    with pytest.raises(BadRequest, match="^Topic_not_modified$"):
        await bot.close_forum_topic(DESK, desk)


async def test_chat_members_and_the_desk_as_get_chat_shows_it(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    admin = tg.add_member(DESK, {"first_name": "Amina", "username": "amina_k"}, "administrator")
    leaver = tg.add_member(DESK)
    tg.remove_member(DESK, leaver["id"])

    me = await bot.get_chat_member(DESK, bot.id)
    agent = await bot.get_chat_member(DESK, 42_000_001)
    promoted = await bot.get_chat_member(DESK, admin["id"])
    gone = await bot.get_chat_member(DESK, leaver["id"])
    stranger = await bot.get_chat_member(DESK, 777)
    chat = await bot.get_chat(DESK)

    assert (me.status, me.can_manage_topics) == ("administrator", True)
    assert (agent.status, agent.user.username) == ("member", "agent_otieno")
    assert (promoted.status, promoted.user.username) == ("administrator", "amina_k")
    assert admin["is_bot"] is False
    assert admin["id"] not in (42_000_001, leaver["id"])
    assert gone.status == "left"
    assert (stranger.status, stranger.user.id) == ("left", 777)
    assert (chat.id, chat.type, chat.is_forum, chat.title) == (
        DESK,
        "supergroup",
        True,
        "Agents' desk",
    )


async def test_group_messages_and_commands_in_a_topic(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    agent = tg.add_member(DESK, {"first_name": "Baraka"})
    claim = "/claim@ecitizen_migration_bot"
    tg.push_group_message(DESK, f"{claim} now", thread_id=desk, user=agent)
    tg.push_group_message(DESK, "/status", thread_id=desk, anonymous=True)
    tg.push_group_message(DESK, "in the general topic")
    tg.push_group_photo(DESK, thread_id=desk, caption="scan")
    tg.push_voice(CHAT, duration=7)
    updates = [u.message for u in await bot.get_updates()]
    command, anonymous, general, photo, voice = updates

    assert command.text == f"{claim} now"
    assert [(e.type, e.offset, e.length) for e in command.entities] == [
        ("bot_command", 0, len(claim))
    ]
    assert (command.message_thread_id, command.is_topic_message) == (desk, True)
    assert command.from_user.id == agent["id"]
    assert command.chat.is_forum is True
    assert anonymous.sender_chat.id == DESK
    assert anonymous.from_user.username == "GroupAnonymousBot"
    assert anonymous.entities[0].length == len("/status")
    assert (general.message_thread_id, general.is_topic_message) == (None, None)
    assert general.from_user.id == 42_000_001
    assert (photo.caption, photo.message_thread_id, len(photo.photo)) == ("scan", desk, 3)
    assert (voice.chat.id, voice.voice.duration.total_seconds()) == (CHAT, 7)


async def test_control_api_for_the_desk() -> None:
    async with (
        TelegramEmulator(token=None, enable_control_api=True) as tg,
        aiohttp.ClientSession() as session,
    ):
        control = f"{tg.url}/control"
        async with session.post(f"{control}/add_group", json={"chat_id": DESK, "is_forum": True}):
            pass
        async with session.post(
            f"{tg.base_url}77:any/createForumTopic", data={"chat_id": DESK, "name": "Case"}
        ) as resp:
            thread = (await resp.json())["result"]["message_thread_id"]
        text = {"chat_id": DESK, "text": "/claim", "thread_id": thread}
        async with session.post(f"{control}/push_group_message", json=text) as resp:
            pushed_ok = (await resp.json())["ok"]
        where = {"chat_id": DESK, "message_thread_id": thread}
        async with session.post(f"{control}/close_topic", json=where):
            pass
        async with session.get(f"{control}/topics?chat_id={DESK}") as resp:
            [topic] = (await resp.json())["result"]
        async with session.post(f"{control}/delete_topic", json=where):
            pass
        async with session.get(f"{control}/topics?chat_id={DESK}") as resp:
            after = (await resp.json())["result"]

    assert pushed_ok is True
    assert (topic["name"], topic["is_closed"]) == ("Case", True)
    assert after == []


# ---------------------------------------------------------------- Telegram's per-group limit


async def test_the_group_limit_refuses_the_message_over_the_window_until_it_frees(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    tg.group_rate_limit(3, 0.5)
    for n in range(3):
        await bot.send_message(DESK, f"m{n}", message_thread_id=desk)
    with pytest.raises(RetryAfter) as refused:
        await bot.send_message(DESK, "one too many", message_thread_id=desk)
    wait = refused.value.retry_after.total_seconds()
    await asyncio.sleep(wait)
    await bot.send_message(DESK, "after the window", message_thread_id=desk)

    assert 0 < wait <= 0.5
    [rejected] = tg.rejected("sendMessage")
    assert rejected.error["parameters"]["retry_after"] == wait
    assert rejected.error["description"] == f"Too Many Requests: retry after {wait:g}"
    assert [m["plain_text"] for m in tg.outbox(DESK)] == ["m0", "m1", "m2", "after the window"]
    assert [c.status for c in tg.calls("sendMessage")] == [200, 200, 200, 429, 200]


async def test_every_message_making_call_counts_and_a_refused_one_changes_nothing(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    source, second = (pushed(tg, tg.push_text(CHAT, t)) for t in ("hi", "again"))
    tg.group_rate_limit(3, 0.5)
    with pytest.raises(BadRequest):  # a refused send is no message: it does not count
        await bot.send_message(DESK, "x", message_thread_id=4242)
    await bot.copy_message(DESK, CHAT, source["message_id"], message_thread_id=desk)
    await bot.create_forum_topic(DESK, "Second person")

    with pytest.raises(RetryAfter):  # two copies where one message is left: none is made
        await bot.copy_messages(DESK, CHAT, [source["message_id"], second["message_id"]])
    await bot.send_message(DESK, "the last one", message_thread_id=desk)
    with pytest.raises(RetryAfter):
        await bot.send_photo(DESK, "AgACAgQAAxkBAAIphoto", message_thread_id=desk)
    with pytest.raises(RetryAfter):
        await bot.create_forum_topic(DESK, "Third person")
    await bot.close_forum_topic(DESK, desk)  # no message: not limited
    for n in range(5):  # private chats are not limited
        await bot.send_message(CHAT, f"private {n}")

    assert [m["method"] for m in tg.outbox(DESK)] == ["copyMessage", "sendMessage"]
    assert [t["name"] for t in tg.topics(DESK)] == ["Wanjiku Kamau", "Second person"]
    assert [c.method for c in tg.rejected()] == ["copyMessages", "sendPhoto", "createForumTopic"]
    assert len(tg.outbox(CHAT)) == 5


async def test_the_group_limit_is_off_by_default_and_when_set_to_zero(
    tg: TelegramEmulator, bot: Bot, desk: int
) -> None:
    for n in range(25):
        await bot.send_message(DESK, f"m{n}")
    tg.group_rate_limit(1, 60)
    tg.group_rate_limit(0, 60)
    for n in range(3):
        await bot.send_message(DESK, f"again {n}")

    assert len(tg.outbox(DESK)) == 28
    assert tg.rejected() == []
