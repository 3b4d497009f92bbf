"""Typed access to what the handlers share (STYLE.md: a custom CallbackContext)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import (
    BasePersistence,
    CallbackContext,
    ExtBot,
)

from bot.chat_store import ChatStateFile, RedisChatState
from bot.conversation import Conversation
from bot.rasa_client import RasaClient
from bot.render import ChatButtons
from bot.shared_state import SharedRedis
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory

if TYPE_CHECKING:
    from bot.desk.relay import DeskRelay


@dataclass
class GatewayState:
    """Made in ``post_init``, closed in ``post_shutdown``."""

    settings: Settings
    rasa: RasaClient
    conversation: Conversation
    engine: AsyncEngine
    sessions: SessionFactory  # the database (reminders, promotion notices, handoffs)
    desk: DeskRelay | None = None  # the agents' desk outbox, when SUPPORT_CHAT_ID is set
    turns_under_way: int = 0  # turns waiting for their answer right now (bot/handlers/chat.py)

    def now(self) -> datetime:
        """The clock every rule reads (``ASSISTANT_NOW`` in demos and tests)."""
        return Clock(self.settings.assistant_now).now()

    def wake_desk(self, desk_chat_id: int | None = None) -> None:
        """Something was queued for a desk group (or for any): its relay looks now."""
        if self.desk is not None:
            self.desk.wake(desk_chat_id)


def chat_state(settings: Settings, shared: SharedRedis | None = None) -> BasePersistence:
    """Per-chat state (button payloads, language) kept across restarts.

    Only ``chat_data`` is kept: ``bot_data`` holds live resources (made in post_init).
    With Redis (``shared``), in Redis as JSON, where every replica reads and writes it
    (bot/chat_store.py). Without, in one file, written every few seconds and on a clean
    stop: one gateway process per file.
    """
    if shared is not None:
        return RedisChatState(shared)
    path = Path(settings.gateway_state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ChatStateFile(path, update_interval=5)


class GatewayContext(CallbackContext[ExtBot, dict, dict, dict]):
    """``context.gateway`` instead of ``context.bot_data["..."]``."""

    @property
    def gateway(self) -> GatewayState:
        return self.application.bot_data["gateway"]

    @property
    def language_hint(self) -> str | None:
        """The last language this chat clearly wrote in, if any."""
        return self.chat_data.get("lang") if self.chat_data is not None else None

    @property
    def buttons(self) -> ChatButtons:
        """The payloads behind the inline buttons this chat was shown."""
        if self.chat_data is None:
            raise RuntimeError("buttons belong to a chat; this update has none")
        return ChatButtons(self.chat_data)

    async def share_chat_state(self, chat_id: int) -> None:
        """With replicas, writes what this turn kept (buttons, language) now rather than a
        moment later, so a tap on a button just sent works on whichever replica gets it."""
        persistence = self.application.persistence
        if isinstance(persistence, RedisChatState) and self.chat_data is not None:
            await persistence.update_chat_data(chat_id, self.chat_data)

    def remember_language(self, lang: str) -> None:
        if self.chat_data is not None:
            self.chat_data["lang"] = lang
