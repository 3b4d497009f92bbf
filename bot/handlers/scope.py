"""Where the assistant talks: private chats only.

In a group every member shares one conversation (and would see each other's answers),
so commands, buttons and messages from groups get no answer at all. The one exception is
the agents' desk (``SUPPORT_CHAT_ID``): its updates pass this gate, and the desk's own
handlers, registered with :func:`desk_filter`, are the only ones that answer there —
every user-facing handler is itself limited to :data:`USER_CHATS`.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler, filters

from bot.context import GatewayContext
from ntsa_assistant.core.settings import Settings

logger = logging.getLogger(__name__)

USER_CHATS = filters.ChatType.PRIVATE
"""The filter of every message handler that answers people (commands, text, contacts)."""


def is_user_chat(update: Update) -> bool:
    """The same rule for updates filters cannot see, such as button presses."""
    chat = update.effective_chat
    return chat is not None and chat.type == chat.PRIVATE


def desk_chat_ids(settings: Settings) -> frozenset[int]:
    """The agents' desk group(s); empty when none is configured."""
    return frozenset(settings.support_chat_id)


def desk_filter(settings: Settings) -> filters.BaseFilter:
    """For the desk's handlers: updates from the desk group(s) only."""
    return filters.Chat(chat_id=desk_chat_ids(settings))


async def _only_private_chats(update: Update, context: GatewayContext) -> None:
    if is_user_chat(update):
        return
    chat = update.effective_chat
    if chat is not None and chat.id in desk_chat_ids(context.gateway.settings):
        return
    logger.info(
        "update %s from a %s chat ignored", update.update_id, chat.type if chat else "unknown"
    )
    raise ApplicationHandlerStop


def handlers() -> list[BaseHandler]:
    return [TypeHandler(Update, _only_private_chats)]
