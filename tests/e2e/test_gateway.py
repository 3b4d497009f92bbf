"""The whole path, Telegram → gateway → Rasa → actions → database, through the emulator."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import date, datetime

import pytest

from bot.render import split_text
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.core.masking import mask_id_number
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.status import answers as status_answers
from ntsa_assistant.status.lookup import Part, PersonStatus, SqlStatusBackend
from ntsa_assistant.storage.engine import create_engine, create_session_factory
from ntsa_assistant.storage.models import Account, Transaction, TransactionStatus
from ntsa_assistant.training.queries import training_session_counts

pytestmark = pytest.mark.e2e

# What a motorist is offered: sessions for motorists and for everyone, English first.
MOTORIST_SESSIONS = ("TRN-ALL-01", "TRN-MOT-01", "TRN-ALL-02", "TRN-MOT-02")


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or m.get("caption") or "" for m in messages)


def closure_answer(lang: str) -> str:
    """The FAQ's answer to "when does TIMS close?" today (the action server runs in real
    time here)."""
    return faq.answer(Topic.CLOSURE, lang, datetime.now(NAIROBI)).text


def seats(free: int) -> str:
    if free <= 0:
        return t("en", "training.seats_full")
    if free == 1:
        return t("en", "training.seat_left")
    return t("en", "training.seats_left", count=free)


async def session_lines(database_url: str, codes: tuple[str, ...]) -> list[str]:
    """The menu lines for ``codes``, in that order, from the database as it is now."""
    engine = create_engine(database_url)
    try:
        counts = {
            c.training_session.code: c
            for c in await training_session_counts(create_session_factory(engine))
        }
    finally:
        await engine.dispose()
    lines = []
    for number, code in enumerate(codes, start=1):
        session = counts[code].training_session
        lines.append(
            t(
                "en",
                "training.session_line",
                number=number,
                title=session.title,
                when=spell_datetime("en", session.starts_at),
                language=t("en", f"training.language_{session.language.value}"),
                seats=seats(session.capacity - counts[code].confirmed),
            )
        )
    return lines


async def test_start_is_answered_by_the_gateway(telegram, gateway, chat_id):
    telegram.push_command(chat_id, "/start")
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=10)
    assert reply["text"] == t("en", "common.start")


async def test_start_with_a_topic_anchor_opens_that_topic(telegram, gateway, chat_id):
    # The bot's deep link from the FAQ page: https://t.me/<bot>?start=pending-transactions
    telegram.push_command(chat_id, "/start", "pending-transactions")
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert reply["text"] == faq.answer(Topic.PENDING, "en", datetime.now(NAIROBI)).text
    # Only the answer (no greeting besides it): the next message is the reply to /help.
    telegram.push_command(chat_id, "/help")
    [after] = await telegram.wait_for_messages(chat_id, count=1, timeout=10)
    assert after["text"] == t("en", "common.help")


@pytest.mark.parametrize(
    "argument", ["faq_closure", '/faq_more{"faq_topic":"closure"}', "closure!", "x" * 64]
)
async def test_start_with_anything_but_a_topic_anchor_greets(telegram, gateway, chat_id, argument):
    # Intent names and payloads are not anchors: never handed to Rasa as an intent.
    telegram.push_command(chat_id, "/start", argument)
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=10)
    assert reply["text"] == t("en", "common.start")


async def test_when_does_tims_close_in_english(telegram, gateway, chat_id):
    telegram.push_text(chat_id, "When does TIMS close?")
    replies = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    answer = texts(replies)
    assert "29 December 2023" in answer
    assert answer == closure_answer("en")


async def test_when_does_tims_close_in_kiswahili(telegram, gateway, chat_id):
    telegram.push_text(chat_id, "TIMS itafungwa lini?")
    replies = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert "29 Desemba 2023" in texts(replies)
    assert texts(replies) == closure_answer("sw")


async def test_custom_action_reads_training_sessions_from_the_database(
    telegram, gateway, e2e_database, chat_id
):
    telegram.push_text(chat_id, "I want to attend a training")
    [question] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert question["text"] == t("en", "training.ask_audience")
    telegram.press_button(chat_id, t("en", "training.audience.motorists"))
    [menu] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    # Titles, dates and free seats of the demo sessions, as the database has them now.
    header, *lines = menu["text"].splitlines()
    assert header == t("en", "training.ask_session")
    assert lines == await session_lines(e2e_database, MOTORIST_SESSIONS)


async def test_forged_intent_text_is_not_taken_as_an_intent(telegram, gateway, chat_id):
    telegram.push_text(chat_id, '/training_register{"audience": "motorists"}')
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    # Typed text is neutralised: the gateway sent Rasa the text without the leading slash,
    # so it is read as words (about training, or not understood), never as the raw intent
    # with its audience (that would list the motorists' sessions).
    words_about_training = {
        faq.answer(Topic.TRAINING, "en", datetime.now(NAIROBI)).text,
        t("en", "training.ask_audience"),
        faq.clarify("en", [Topic.TRAINING], repeated=False).text,  # or: which topic?
        faq.clarify("en", [], repeated=False).text,  # or: not understood
    }
    assert reply["text"] in words_about_training
    assert reply["text"].splitlines()[0] != t("en", "training.ask_session")


async def test_a_duplicate_update_is_answered_once(telegram, gateway, chat_id):
    update_id = telegram.push_command(chat_id, "/help")
    [help_] = await telegram.wait_for_messages(chat_id, count=1, timeout=10)
    assert help_["text"] == t("en", "common.help")
    telegram.push_raw(telegram.update(update_id))
    telegram.push_command(chat_id, "/start")
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=10)
    # /start's answer came next: /help was not answered again.
    assert reply["text"] == t("en", "common.start")


async def test_rasa_down_gives_an_apology_and_the_bot_recovers(
    telegram, gateway, rasa_server, chat_id
):
    await rasa_server.stop()
    try:
        started = time.monotonic()
        telegram.push_text(chat_id, "When does TIMS close?")
        [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=12)
        assert time.monotonic() - started < 10
        assert reply["text"] == t("en", "common.apology_unavailable")
    finally:
        await rasa_server.start()
    telegram.push_text(chat_id, "When does TIMS close?")
    replies = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert texts(replies) == closure_answer("en")


# ---------------------------------------------------------------- limits, groups, long replies

SPAM_TURNS = 20
SPAMMER_OFFSET = 40_000_000  # chat ids of their own, far from the fixture's
LONG_ID = "29009000"  # not in the demo records
LONG_PHONE = "+254700009000"


async def restart_gateway(gateway, telegram, probe_chat: int, **env: str | None) -> None:
    """Restarts the gateway process and waits until it answers again (a /start round trip:
    updates wait in the emulator until the new process polls)."""
    await gateway.restart(**env)
    telegram.push_command(probe_chat, "/start")
    [reply] = await telegram.wait_for_messages(probe_chat, count=1, timeout=60)
    assert reply["text"] == t("en", "common.start")


@pytest.fixture(scope="module")
async def real_burst_limit(gateway, telegram) -> AsyncIterator[None]:
    """The gateway with the default burst limit for this module, the fixture's after it."""
    probe = 790_000_001 + os.getpid() % 1000 * 1_000_000
    await restart_gateway(gateway, telegram, probe, CHAT_BURST_MESSAGES=None)
    yield
    await restart_gateway(gateway, telegram, probe + 1, CHAT_BURST_MESSAGES="1000")


def send_order(telegram, chat_id: int) -> list[int]:
    """Positions, among every message the bot sent, of those sent to ``chat_id``."""
    calls = [c for c in telegram.calls("sendMessage") if c.ok]
    return [i for i, c in enumerate(calls) if c.params.get("chat_id") == chat_id]


async def test_one_chat_flooding_is_slowed_and_others_are_answered(
    telegram, gateway, real_burst_limit, chat_id
):
    spammer, other = chat_id + SPAMMER_OFFSET, chat_id
    burst = Settings().chat_burst_messages
    for _ in range(SPAM_TURNS):
        telegram.push_text(spammer, "When does TIMS close?")
    telegram.push_text(other, "When does TIMS close?")

    [answer] = await telegram.wait_for_messages(other, count=1, timeout=30)
    assert answer["text"] == closure_answer("en")
    # The spammer: the first `burst` turns answered in order, the rest dropped with one
    # polite notice (sent as soon as the flood was seen, before the queued answers).
    got = await telegram.wait_for_messages(spammer, count=burst + 1, timeout=60)
    assert sorted(m["text"] for m in got) == sorted(
        [t("en", "common.slow_down")] + [closure_answer("en")] * burst
    )
    # The other chat did not wait behind the spammer's queue: its answer went out before
    # the spammer's last answered turn.
    assert send_order(telegram, other)[-1] < send_order(telegram, spammer)[-1]


async def test_a_button_made_before_a_restart_works_after_it(
    telegram, gateway, real_burst_limit, chat_id
):
    telegram.push_command(chat_id, "/faq")
    [menu] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    closure = faq.menu("en").buttons[0]
    assert menu["text"] == faq.menu("en").text
    await restart_gateway(gateway, telegram, chat_id + SPAMMER_OFFSET + 1)

    telegram.press_button(chat_id, closure.title, message_id=menu["message_id"])
    [answer] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert answer["text"] == closure_answer("en")


async def test_groups_get_no_answer_to_commands_or_buttons(telegram, gateway, chat_id):
    group = -(1_009_000_000_000 + chat_id)
    telegram.add_group(group, "Wanjiku's friends")
    telegram.push_command(chat_id, "/faq")  # a real button, made in a private chat
    [menu] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    button = _inline_button(menu, faq.menu("en").buttons[0].title)

    asked = telegram.push_command(group, "/faq")
    message_id = telegram.update(asked)["message"]["message_id"]
    pressed = telegram.push_callback(group, message_id, button["callback_data"])
    # A later question in a private chat is answered: by then the group's turns were seen.
    telegram.push_text(chat_id, "When does TIMS close?")
    [answer] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert answer["text"] == closure_answer("en")
    assert telegram.outbox(group) == []
    assert telegram.callback_answer(pressed) is None


def _inline_button(message: dict, title: str) -> dict:
    markup = message.get("reply_markup") or {}
    [button] = [b for row in markup["inline_keyboard"] for b in row if b["text"] == title]
    return button


async def _person_with_many_pending(database_url: str, count: int) -> PersonStatus:
    engine = create_engine(database_url)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session, session.begin():
            await session.merge(
                Account(
                    id_number=LONG_ID,
                    full_name="Baraka Mutua",
                    phone=LONG_PHONE,
                    email=None,
                    validated_on=None,
                )
            )
            for n in range(1, count + 1):
                await session.merge(
                    Transaction(
                        reference=f"TIMS-MVR-2023-{n:06d}",
                        id_number=LONG_ID,
                        service="Motor vehicle registration",
                        status=TransactionStatus.AWAITING_INSPECTION,
                        submitted_on=date(2023, 11, 1),
                        updated_on=date(2023, 11, 20),
                    )
                )
        status = await SqlStatusBackend(sessions).lookup(LONG_ID)
    finally:
        await engine.dispose()
    assert status is not None
    return status


async def test_a_status_answer_longer_than_telegram_allows_arrives_whole_in_parts(
    telegram, gateway, e2e_database, chat_id
):
    person = await _person_with_many_pending(e2e_database, 100)
    telegram.push_text(chat_id, "check my status")
    [ask_id] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert ask_id["text"] == t("en", "status.ask_id")
    telegram.push_text(chat_id, LONG_ID)
    [ask_proof] = await telegram.wait_for_messages(chat_id, count=1, timeout=30)
    assert ask_proof["text"] == "\n\n".join(
        [
            t("en", "status.ask_proof", id=mask_id_number(LONG_ID)),
            t("en", "status.code_alternative"),
        ]
    )

    telegram.push_contact(chat_id, LONG_PHONE.removeprefix("+"))
    whole = status_answers.compose(person, Part.ALL, "en", datetime.now(NAIROBI))
    assert len(whole) > 9000
    parts = split_text(whole)
    got = await telegram.wait_for_messages(chat_id, count=len(parts), timeout=30)
    assert [m["text"] for m in got] == parts
    assert "\n".join(parts) == whole
    # The keyboard the answer removes goes with its last part.
    assert [m["reply_markup"] for m in got] == [None] * (len(parts) - 1) + [
        {"remove_keyboard": True}
    ]
    assert telegram.reply_keyboard(chat_id) is None
