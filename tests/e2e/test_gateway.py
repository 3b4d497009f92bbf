"""The whole path, Telegram → gateway → Rasa → actions → database, through the emulator."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.storage.engine import create_engine, create_session_factory
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
    # so it is read as words about training, never as the raw intent with its audience
    # (that would list the motorists' sessions).
    words_about_training = {
        faq.answer(Topic.TRAINING, "en", datetime.now(NAIROBI)).text,
        t("en", "training.ask_audience"),
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
