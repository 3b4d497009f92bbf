"""The Telegram Bot API emulator, checked on the wire and with a real PTB Application."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
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
