"""Typed access to what the handlers share (STYLE.md: a custom CallbackContext)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import CallbackContext, ExtBot

from bot.conversation import Conversation
from bot.rasa_client import RasaClient
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory


@dataclass
class GatewayState:
    """Made in ``post_init``, closed in ``post_shutdown``."""

    settings: Settings
    rasa: RasaClient
    conversation: Conversation
    engine: AsyncEngine
    sessions: SessionFactory  # the database (reminders, promotion notices)


class GatewayContext(CallbackContext[ExtBot, dict, dict, dict]):
    """``context.gateway`` instead of ``context.bot_data["..."]``."""

    @property
    def gateway(self) -> GatewayState:
        return self.application.bot_data["gateway"]

    @property
    def language_hint(self) -> str | None:
        """The last language this chat clearly wrote in, if any."""
        return self.chat_data.get("lang") if self.chat_data is not None else None

    def remember_language(self, lang: str) -> None:
        if self.chat_data is not None:
            self.chat_data["lang"] = lang
