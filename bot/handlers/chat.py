"""Text, button presses, shared contacts and everything else a user sends."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    InvalidCallbackData,
    MessageHandler,
    filters,
)

from bot.context import GatewayContext
from bot.conversation import Reply
from bot.render import send_replies
from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.language import detect

logger = logging.getLogger(__name__)

CONTACT_PAYLOAD = protocol.payload(protocol.Intent.CONTACT_SHARED)

_chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _chat_lock(chat_id: int) -> asyncio.Lock:
    """Turns of one chat go to Rasa one at a time, in order; chats run side by side."""
    lock = _chat_locks.get(chat_id)
    if lock is None:
        lock = asyncio.Lock()
        _chat_locks[chat_id] = lock
    return lock


def base_metadata(update: Update) -> dict[str, Any]:
    """What the gateway knows for sure; never anything the user typed."""
    user = update.effective_user
    return {
        protocol.Meta.CHANNEL: "telegram",
        protocol.Meta.USER_LANGUAGE: user.language_code if user else None,
    }


async def _answer(
    update: Update, context: GatewayContext, produce: Callable[[], Awaitable[list[Reply]]]
) -> None:
    chat_id = update.effective_chat.id
    async with _chat_lock(chat_id):
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        replies: list[Reply] = await produce()
        await send_replies(context.bot, chat_id, replies)


async def on_text(update: Update, context: GatewayContext) -> None:
    text = update.effective_message.text or ""
    detected = detect(text)
    if detected:
        context.remember_language(detected)
    hint = context.language_hint or base_metadata(update)[protocol.Meta.USER_LANGUAGE]
    conversation = context.gateway.conversation
    await _answer(
        update,
        context,
        lambda: conversation.user_text(
            str(update.effective_chat.id), text, base_metadata(update), hint
        ),
    )


async def relay_payload(
    update: Update, context: GatewayContext, payload: str, extra: dict[str, Any] | None = None
) -> None:
    """Sends a payload the gateway made itself (command, button, contact) to Rasa."""
    metadata = base_metadata(update) | (extra or {})
    hint = context.language_hint or metadata[protocol.Meta.USER_LANGUAGE]
    conversation = context.gateway.conversation
    await _answer(
        update,
        context,
        lambda: conversation.trusted_payload(
            str(update.effective_chat.id), payload, metadata, hint
        ),
    )


async def on_button(update: Update, context: GatewayContext) -> None:
    query = update.callback_query
    await query.answer()
    data = query.data
    if isinstance(data, InvalidCallbackData) or not isinstance(data, dict):
        await query.message.reply_text(t(context.language_hint, "common.button_expired"))
        return
    await relay_payload(update, context, str(data["payload"]))


async def on_contact(update: Update, context: GatewayContext) -> None:
    """A shared contact proves a phone only when it is the sender's own (DESIGN.md)."""
    contact = update.effective_message.contact
    own = contact.user_id is not None and contact.user_id == update.effective_user.id
    claim = protocol.contact_metadata(own, contact.phone_number)
    await relay_payload(update, context, CONTACT_PAYLOAD, claim)


async def on_unsupported(update: Update, context: GatewayContext) -> None:
    await update.effective_message.reply_text(t(context.language_hint, "common.unsupported"))


def handlers() -> list[BaseHandler]:
    return [
        CallbackQueryHandler(on_button),
        MessageHandler(filters.CONTACT & filters.ChatType.PRIVATE, on_contact),
        MessageHandler(filters.TEXT & filters.ChatType.PRIVATE, on_text),
        MessageHandler(filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL, on_unsupported),
    ]
