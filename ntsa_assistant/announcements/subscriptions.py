"""Subscribing a chat to the deadline announcements, in its language, and unsubscribing it.

A person subscribes by asking in words ("notify me about the deadlines", "niarifu") or with
the gateway's ``/subscribe`` (``/niarifu``); both reach the action server as the intents of
:class:`SubscriptionIntent`. A chat is subscribed once: asking again says so, or switches
the language it is written to in.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from ntsa_assistant.announcements.texts import SubscribeOutcome
from ntsa_assistant.core.i18n import LANGUAGES, Lang
from ntsa_assistant.core.language import detect
from ntsa_assistant.protocol import is_payload
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import Language, Subscription


class SubscriptionIntent(enum.StrEnum):
    """Sent by Rasa's NLU for typed requests and, as payloads, by the gateway's commands
    (``/subscribe_announcements{"language":"sw"}`` for ``/niarifu``)."""

    SUBSCRIBE = "subscribe_announcements"
    UNSUBSCRIBE = "unsubscribe_announcements"


# Telegram's chat ids fit in 52 bits; announcements go to private chats, whose ids are
# positive. Any other sender (the local terminal chat, "local-1a2b3c4d") cannot get them.
TELEGRAM_ID_LIMIT = 2**52
_NUMERIC = re.compile(r"[0-9]{1,16}")

# Words of these requests that only Kiswahili has: "niarifu" alone says which language the
# person wants, though it is too short for the language detector to tell.
_SWAHILI_WORD_LIST = """
    niarifu uniarifu niarifiwe nijulishe unijulishe nijuze unijuze nikumbushe unikumbushe
    usiniarifu usinijulishe usinikumbushe nitaarifiwa arifa taarifa vikumbusho kikumbusho
    sitisha usitishe acha niondoe uniondoe jiondoe zima ondoa
"""
_SWAHILI_WORDS = frozenset(_SWAHILI_WORD_LIST.split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def telegram_chat(sender: str) -> int | None:
    """The private Telegram chat a Rasa sender id names, or None for any other channel."""
    if _NUMERIC.fullmatch(sender) and 0 < (number := int(sender)) < TELEGRAM_ID_LIMIT:
        return number
    return None


def says_swahili(text: str) -> bool:
    """Whether a request holds a Kiswahili word of its own ("niarifu", "usinikumbushe")."""
    return any(word.lower() in _SWAHILI_WORDS for word in _WORD.findall(text))


def request_language(text: str | None, asked: str | None, otherwise: Lang) -> tuple[Lang, bool]:
    """The language of a (un)subscribe request, and whether the request itself said it.

    ``asked``: the language a command names (``/niarifu`` is Kiswahili); else the typed
    message's own language, or Kiswahili for a request in a Kiswahili word the detector
    cannot place ("niarifu"); else ``otherwise`` (the one the chat uses)."""
    if asked in LANGUAGES:
        return asked, True
    if text and not is_payload(text):
        if detected := detect(text):
            return detected, True
        if says_swahili(text):
            return "sw", True
    return otherwise, False


async def subscribe(
    sessions: SessionFactory, chat_id: int, lang: Lang, now: datetime
) -> SubscribeOutcome:
    """Puts ``chat_id`` on the list in ``lang`` (once, even when asked twice at once)."""
    language = Language(lang)

    async def attempt() -> SubscribeOutcome:
        async with sessions() as db, db.begin():
            dialect = db.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert(Subscription)
                .values(chat_id=chat_id, language=language, subscribed_at=now)
                .on_conflict_do_nothing(index_elements=[Subscription.chat_id])
            )
            if claimed_rows(await db.execute(statement)) == 1:
                return SubscribeOutcome.SUBSCRIBED
            row = await db.get(Subscription, chat_id, populate_existing=True)
            if row is None:  # unsubscribed between the two statements: subscribe anew
                db.add(Subscription(chat_id=chat_id, language=language, subscribed_at=now))
                return SubscribeOutcome.SUBSCRIBED
            if row.language is language:
                return SubscribeOutcome.ALREADY
            row.language = language
            return SubscribeOutcome.LANGUAGE_CHANGED

    return await retry_if_locked(attempt)


async def unsubscribe(sessions: SessionFactory, chat_id: int) -> bool:
    """Takes ``chat_id`` off the list; False when it was not on it."""

    async def attempt() -> bool:
        async with sessions() as db, db.begin():
            result = await db.execute(delete(Subscription).where(Subscription.chat_id == chat_id))
            return claimed_rows(result) == 1

    return await retry_if_locked(attempt)


async def subscription(sessions: SessionFactory, chat_id: int) -> Lang | None:
    """The language ``chat_id`` is subscribed in, or None."""
    async with sessions() as db:
        row = await db.get(Subscription, chat_id)
        return None if row is None else row.language.value
