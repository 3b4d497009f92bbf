"""/start and /help answer here (they work even when Rasa is down); /faq, /language, the
deadline reminders' /subscribe and /unsubscribe (Kiswahili /niarifu, /usiniarifu: they say
the language too) and a deep link's ``/start <topic anchor>`` are handed to Rasa as payloads
the gateway itself makes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.context import GatewayContext
from bot.desk import person
from bot.handlers.chat import relay_payload
from bot.handlers.scope import USER_CHATS
from ntsa_assistant import protocol
from ntsa_assistant.announcements.subscriptions import SubscriptionIntent
from ntsa_assistant.core.i18n import t
from ntsa_assistant.faq import answers as faq

RASA_COMMANDS = {
    "faq": protocol.payload(protocol.Intent.FAQ_MENU),
    "language": protocol.payload(protocol.Intent.CHOOSE_LANGUAGE),
    "lugha": protocol.payload(protocol.Intent.CHOOSE_LANGUAGE),
    # Through Rasa, so that the subscription takes the language the chat is answered in.
    "subscribe": protocol.payload(SubscriptionIntent.SUBSCRIBE),
    "unsubscribe": protocol.payload(SubscriptionIntent.UNSUBSCRIBE),
    "niarifu": protocol.payload(SubscriptionIntent.SUBSCRIBE, {protocol.Entity.LANGUAGE: "sw"}),
    "usiniarifu": protocol.payload(
        SubscriptionIntent.UNSUBSCRIBE, {protocol.Entity.LANGUAGE: "sw"}
    ),
}


async def start(update: Update, context: GatewayContext) -> None:
    """``/start``, or a deep link's ``/start <anchor>`` that opens that FAQ topic.

    The argument comes from whoever made the link: only a known topic's anchor is taken,
    and then as the gateway's own payload; anything else gets the usual greeting.
    """
    topic = faq.topic_for_anchor(context.args[0]) if context.args else None
    if topic is not None:
        await relay_payload(update, context, protocol.payload(faq.topic_command(topic)))
        return
    await update.effective_message.reply_text(t(_lang(update, context), "common.start"))


async def help_(update: Update, context: GatewayContext) -> None:
    await update.effective_message.reply_text(t(_lang(update, context), "common.help"))


def _lang(update: Update, context: GatewayContext) -> str | None:
    user = update.effective_user
    return context.language_hint or (user.language_code if user else None)


def _to_rasa(payload: str) -> Callable[[Update, GatewayContext], Awaitable[None]]:
    async def callback(update: Update, context: GatewayContext) -> None:
        await relay_payload(update, context, payload)

    return callback


def handlers() -> list[BaseHandler]:
    result: list[BaseHandler] = [
        CommandHandler("start", start, filters=USER_CHATS),
        CommandHandler(["help", "msaada"], help_, filters=USER_CHATS),
        CommandHandler(["agent", "mhudumu"], person.agent_command, filters=USER_CHATS),
    ]
    result += [
        CommandHandler(name, _to_rasa(payload), filters=USER_CHATS)
        for name, payload in RASA_COMMANDS.items()
    ]
    return result
