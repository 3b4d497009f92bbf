"""Text, button presses, shared contacts and everything else a user sends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot.context import GatewayContext
from bot.conversation import Reply
from bot.desk import person
from bot.handlers.scope import USER_CHATS, is_user_chat
from bot.metadata import base_metadata
from bot.render import send_replies
from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.language import detect
from ntsa_assistant.core.typed import pick

logger = logging.getLogger(__name__)

CONTACT_PAYLOAD = protocol.payload(protocol.Intent.CONTACT_SHARED)
# "typing…" only for an answer that keeps the person waiting: every call to Telegram spends
# the bot's ~30 a second, and most answers come sooner than this.
TYPING_AFTER_SECONDS = 1.0
# …and never from a busy gateway: when this many turns are under way, answers are slow
# because many people write at once, and a "typing…" for each would take the very budget
# their answers wait for (measured: at 30 turns a second it halved what got answered).
TYPING_MAX_TURNS = 8


async def _typing_after(context: GatewayContext, chat_id: int, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as exc:  # a courtesy: its failure must not touch the turn
        logger.info("chat %s: typing not shown: %s", chat_id, exc)


async def _answer(
    update: Update, context: GatewayContext, produce: Callable[[], Awaitable[list[Reply]]]
) -> None:
    """One turn. Turns of one chat reach here one at a time, in order (ChatTurns)."""
    chat_id = update.effective_chat.id
    state = context.gateway
    state.turns_under_way += 1
    typing = None
    if state.turns_under_way <= TYPING_MAX_TURNS:
        typing = asyncio.create_task(_typing_after(context, chat_id, TYPING_AFTER_SECONDS))
    try:
        replies: list[Reply] = await produce()
    finally:
        state.turns_under_way -= 1
        if typing is not None:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
    handoffs = [protocol.parse_handoff_request(reply.custom) for reply in replies]
    others = [reply for reply, handoff in zip(replies, handoffs, strict=True) if handoff is None]
    await send_replies(context.bot, chat_id, others, context.buttons)
    await context.share_chat_state(chat_id)
    if request := next((handoff for handoff in handoffs if handoff is not None), None):
        await person.start(update, context, request)


async def on_text(update: Update, context: GatewayContext) -> None:
    text = update.effective_message.text or ""
    detected = detect(text)
    if detected:
        context.remember_language(detected)
    menu = context.buttons.menu()
    choice = pick(text, [button.title for button in menu]) if menu else None
    if choice is not None:  # "2", "Topics", "ndiyo" typed under the latest buttons: a tap
        await relay_payload(update, context, menu[choice].payload)
        return
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
    button = context.buttons.find(query.data)
    if button is None:  # older than the chat's kept buttons, or never made here
        await context.bot.send_message(
            update.effective_chat.id, t(context.language_hint, "common.button_expired")
        )
        return
    await relay_payload(update, context, button.payload)


async def on_contact(update: Update, context: GatewayContext) -> None:
    """A shared contact proves a phone only when it is the sender's own (DESIGN.md)."""
    contact = update.effective_message.contact
    own = contact.user_id is not None and contact.user_id == update.effective_user.id
    sender, secret = str(update.effective_chat.id), context.gateway.settings.gateway_signing_secret
    claim = protocol.contact_metadata(own, contact.phone_number, sender, secret)
    await relay_payload(update, context, CONTACT_PAYLOAD, claim)


async def on_unsupported(update: Update, context: GatewayContext) -> None:
    await update.effective_message.reply_text(t(context.language_hint, "common.unsupported"))


def _private_only(
    callback: Callable[[Update, GatewayContext], Awaitable[None]],
) -> Callable[[Update, GatewayContext], Awaitable[None]]:
    """CallbackQueryHandler takes no filters: the same rule as the other handlers."""

    async def checked(update: Update, context: GatewayContext) -> None:
        if is_user_chat(update):
            await callback(update, context)

    return checked


def handlers() -> list[BaseHandler]:
    return [
        CallbackQueryHandler(_private_only(on_button)),
        MessageHandler(filters.CONTACT & USER_CHATS, on_contact),
        MessageHandler(filters.TEXT & USER_CHATS, on_text),
        MessageHandler(USER_CHATS & ~filters.StatusUpdate.ALL, on_unsupported),
    ]
