"""Rasa's event broker for the operators' report: one row per user turn, nothing personal.

Rasa hands every new tracker event to the broker; this one turns a user message and what
followed it (up to ``action_listen``) into one row of the app's ``activity_events`` table:
when, the chat as a keyed hash, the language, the intent and its confidence, whether the
message was typed or a button, whether Rasa fell back, which action answered and how long
Rasa took (from its own event timestamps). The text is kept only when the message was not
understood, minimised the same way as the app does; metadata (where a proven phone
travels), entities and slot values are never stored.

It must never slow down or break a conversation: :meth:`ActivityEventBroker.publish` only
builds the row in memory and queues it; a thread of its own writes queued rows in batches
and, when the database refuses, drops them with a warning (at most one a minute). The
database is reached lazily, so Rasa starts even while it is down.

The two rules it shares with the app's recorder (``ntsa_assistant/reporting/activity.py``),
kept equal by ``tests/e2e/test_report.py``: :func:`chat_key` (HMAC-SHA256 of
``"chat:" + chat id`` under the key in ``activity_key``, made by whichever process needs it
first) and :func:`minimise`. This runs in Rasa's environment and cannot import the app.

Configured in ``nlu/endpoints.yml``::

    event_broker:
      type: ntsa_rasa.event_broker.ActivityEventBroker

The database is the app's: ``url`` there if given, else ``DATABASE_URL`` (its async
drivers swapped for psycopg2 / sqlite3), else the app's default SQLite file.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///var/assistant.db"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_default_fallback"})
# Rasa's own steps around a turn, never "the action that answered".
BOOKKEEPING_ACTIONS = frozenset(
    {"action_listen", "action_session_start", "action_extract_slots", "action_unlikely_intent"}
)
LANGUAGE_SLOT = "language"
LANGUAGES = ("en", "sw")
USER_LANGUAGE_META = "user_language"  # ntsa_assistant.protocol.Meta.USER_LANGUAGE
PAYLOAD_PREFIX = "/"  # ntsa_assistant.protocol.PAYLOAD_PREFIX
KEY_ROW = 1
TEXT_LIMIT = 200
NUMBER_MASK = "****"
QUEUE_SIZE = 10_000
BATCH_SIZE = 200
CHATS_REMEMBERED = 100_000
WARN_EVERY_SECONDS = 60.0

_LONG_NUMBER = 4
_NUMBER = re.compile(r"\+?[0-9*](?:[ .\-/]?[0-9*])*")
_EMAIL = re.compile(r"([^\s@])[^\s@]*@([^\s@]+)")
_SPACES = re.compile(r"\s+")


# --- the rules shared with the app --------------------------------------------------------


def chat_key(secret: bytes, chat_id: int | str) -> str:
    """The chat's pseudonym in the record (the app computes the same)."""
    message = f"chat:{str(chat_id).strip()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _number(match: re.Match[str]) -> str:
    run = match.group(0)
    return NUMBER_MASK if sum(ch.isdigit() or ch == "*" for ch in run) >= _LONG_NUMBER else run


def minimise(text: str) -> str:
    """What the record keeps of a text (the app applies the same)."""
    text = _SPACES.sub(" ", text).strip()
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _NUMBER.sub(_number, text)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1].rstrip() + "…"


# --- from Rasa's events to turns ------------------------------------------------------------


@dataclass
class Turn:
    sender: str
    at: float
    intent: str | None
    confidence: float | None
    typed: bool
    text: str
    hint: str | None  # the language the gateway was told by Telegram, if any
    action: str | None = None
    fallback_action: bool = False
    form: str | None = None  # the form that was asking when the message came
    form_took_it: bool = False  # that form ran next: the message answered its question

    @property
    def fell_back(self) -> bool:
        """Not understood. A form's answer (a name, a phone, a date) is not an intent the
        NLU knows, yet it was understood by the form: never a miss, and never kept."""
        if self.form_took_it and not self.fallback_action:
            return False
        return self.intent == FALLBACK_INTENT or self.fallback_action

    def row(self, language: str | None, ended_at: float | None) -> dict[str, Any]:
        latency = round((ended_at - self.at) * 1000) if ended_at is not None else None
        return {
            "sender": self.sender,
            "at": datetime.fromtimestamp(self.at, timezone.utc),
            "language": language or self.hint,
            "intent": self.intent[:128] if self.intent else None,
            "confidence": round(self.confidence, 4) if self.confidence is not None else None,
            "typed": self.typed,
            "fell_back": self.fell_back,
            "action": self.action[:64] if self.action else None,
            "latency_ms": latency if latency is not None and latency >= 0 else None,
            "text": (minimise(self.text) or None) if self.fell_back and self.typed else None,
        }


def _language(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return next((lang for lang in LANGUAGES if text.startswith(lang)), None)


class TurnBuilder:
    """Follows each chat's events; a turn is complete at the ``action_listen`` after the
    user's message (or at their next message, if Rasa never listened again)."""

    def __init__(self, remembered: int = CHATS_REMEMBERED) -> None:
        self._open: dict[str, Turn] = {}
        self._forms: dict[str, str] = {}  # the active form of each chat that has one
        self._languages: OrderedDict[str, str] = OrderedDict()
        self._remembered = remembered

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows this event completes (none, or one)."""
        sender = str(event.get("sender_id") or "")
        kind = event.get("event")
        stamp = float(event.get("timestamp") or time.time())
        if not sender:
            return []
        if kind == "user":
            done = self._close(sender, None)
            text = str(event.get("text") or "")
            intent = (event.get("parse_data") or {}).get("intent") or {}
            metadata = event.get("metadata") or {}
            self._open[sender] = Turn(
                sender,
                stamp,
                intent.get("name"),
                intent.get("confidence"),
                typed=not text.startswith(PAYLOAD_PREFIX),
                text=text,
                hint=_language(metadata.get(USER_LANGUAGE_META))
                if isinstance(metadata, dict)
                else None,
                form=self._forms.get(sender),
            )
            return done
        if kind == "active_loop":
            if event.get("name"):
                self._forms[sender] = str(event["name"])
            else:
                self._forms.pop(sender, None)
            return []
        if kind == "slot" and event.get("name") == LANGUAGE_SLOT:
            language = _language(event.get("value"))
            if language is not None:
                self._languages[sender] = language
                self._languages.move_to_end(sender)
                while len(self._languages) > self._remembered:
                    self._languages.popitem(last=False)
            return []
        turn = self._open.get(sender)
        if kind != "action" or turn is None:
            return []
        name = str(event.get("name") or "")
        if name in FALLBACK_ACTIONS:
            turn.fallback_action = True
        if turn.form is not None and name == turn.form:
            turn.form_took_it = True
        if name == "action_listen":
            return self._close(sender, stamp)
        if name not in BOOKKEEPING_ACTIONS and turn.action is None:
            turn.action = name
        return []

    def _close(self, sender: str, ended_at: float | None) -> list[dict[str, Any]]:
        turn = self._open.pop(sender, None)
        return [] if turn is None else [turn.row(self._languages.get(sender), ended_at)]

    def flush(self) -> list[dict[str, Any]]:
        """Every turn still open (at shutdown)."""
        return [row for sender in list(self._open) for row in self._close(sender, None)]


# --- writing ----------------------------------------------------------------------------------

_METADATA = sa.MetaData()
EVENTS = sa.Table(
    "activity_events",
    _METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("kind", sa.String(32)),
    sa.Column("chat", sa.String(64)),
    sa.Column("language", sa.String(32)),
    sa.Column("intent", sa.String(128)),
    sa.Column("confidence", sa.Float()),
    sa.Column("typed", sa.Boolean()),
    sa.Column("fell_back", sa.Boolean()),
    sa.Column("action", sa.String(64)),
    sa.Column("latency_ms", sa.Integer()),
    sa.Column("text", sa.Text()),
)
KEYS = sa.Table(
    "activity_key",
    _METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("secret", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


def database_url(configured: str | None) -> str:
    """A synchronous SQLAlchemy URL for the app's database."""
    url = make_url(configured or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite")
    elif backend == "postgresql":
        query = dict(url.query)
        if "ssl" in query:  # asyncpg's name for what libpq calls sslmode
            query.setdefault("sslmode", query.pop("ssl"))
        url = url.set(drivername="postgresql+psycopg2", query=query)
    return url.render_as_string(hide_password=False)


class _Writer(threading.Thread):
    """Writes queued rows in batches; drops a batch the database refuses."""

    STOP = object()

    def __init__(self, url: str, rows: queue.Queue[Any]) -> None:
        super().__init__(name="activity-writer", daemon=True)
        self._url = url
        self._rows = rows
        self._engine: sa.engine.Engine | None = None
        self._secret: bytes | None = None
        self._last_warning = 0.0
        self.dropped = 0
        self.written = 0

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._rows.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._rows.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is self.STOP for item in batch)
            rows = [item for item in batch if item is not self.STOP]
            if rows:
                try:
                    self._write(rows)
                    self.written += len(rows)
                except Exception as exc:  # never let the record break or stop Rasa
                    self.warn(len(rows), f"{type(exc).__name__}: {exc}")
        if self._engine is not None:
            self._engine.dispose()

    def warn(self, lost: int, why: str) -> None:
        self.dropped += lost
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning("activity record: %d turns dropped so far (%s)", self.dropped, why[:200])

    def _connect(self) -> sa.engine.Engine:
        if self._engine is None:
            url = make_url(self._url)
            if url.get_backend_name() == "sqlite":
                engine = sa.create_engine(url, connect_args={"timeout": 5})
            else:
                engine = sa.create_engine(
                    url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
                )
            self._engine = engine
        return self._engine

    def _key(self, engine: sa.engine.Engine) -> bytes:
        """The HMAC key, made here if no process made it yet (two at once agree on one)."""
        if self._secret is None:
            select = sa.select(KEYS.c.secret).where(KEYS.c.id == KEY_ROW)
            with engine.connect() as connection:
                found = connection.execute(select).scalar()
            if found is None:
                try:
                    with engine.begin() as connection:
                        connection.execute(
                            KEYS.insert().values(
                                id=KEY_ROW,
                                secret=secrets.token_hex(32),
                                created_at=datetime.now(timezone.utc),
                            )
                        )
                except sa.exc.IntegrityError:  # another process made it first
                    pass
                with engine.connect() as connection:
                    found = connection.execute(select).scalar()
            self._secret = bytes.fromhex(found)
        return self._secret

    def _write(self, rows: list[dict[str, Any]]) -> None:
        engine = self._connect()
        secret = self._key(engine)
        with engine.begin() as connection:
            values = [
                {
                    **{k: v for k, v in row.items() if k != "sender"},
                    "kind": "turn",
                    "chat": chat_key(secret, row["sender"]),
                }
                for row in rows
            ]
            connection.execute(EVENTS.insert(), values)


class ActivityEventBroker(EventBroker):
    """See the module's docstring."""

    def __init__(self, url: str | None = None, queue_size: int = QUEUE_SIZE) -> None:
        self._turns = TurnBuilder()
        self._rows: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._writer = _Writer(database_url(url), self._rows)
        self._writer.start()

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig,
        event_loop: asyncio.AbstractEventLoop | None = None,
    ) -> ActivityEventBroker:
        return cls(url=broker_config.url, **broker_config.kwargs)

    def publish(self, event: dict[str, Any]) -> None:
        try:
            rows = self._turns.feed(event)
        except Exception as exc:  # a malformed event costs its row, never the turn
            self._writer.warn(1, f"unreadable event: {type(exc).__name__}")
            return
        self._queue(rows)

    def _queue(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            try:
                self._rows.put_nowait(row)
            except queue.Full:
                self._writer.warn(1, "the write queue is full (the database is slow or down)")

    @property
    def written(self) -> int:
        return self._writer.written

    async def close(self) -> None:
        """Writes what is left (the turns still open too), waiting a few seconds at most."""
        self._queue(self._turns.flush())
        await asyncio.get_running_loop().run_in_executor(None, self._stop, 5.0)

    def _stop(self, timeout: float) -> None:
        try:
            self._rows.put(_Writer.STOP, timeout=timeout)
        except queue.Full:
            self._writer.warn(self._rows.qsize(), "the database did not take the last turns")
            return
        self._writer.join(timeout)
