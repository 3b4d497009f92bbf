"""Channel-neutral replies → Telegram messages.

Rasa buttons become an inline keyboard whose callback data is kept by the bot
(python-telegram-bot's arbitrary callback data): Telegram only ever sees an opaque
id, so only buttons the bot made can carry a payload. Custom replies:
``{"type": "request_contact", "text", "button"}``, ``{"type": "remove_keyboard", "text"}``,
``{"type": "document", "filename", "mime_type", "content_base64", "caption"}``.
"""

from __future__ import annotations

import base64
import logging

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.conversation import Reply
from ntsa_assistant.protocol import Custom

logger = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096


def inline_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    rows = [
        [InlineKeyboardButton(b.title[:64], callback_data={"payload": b.payload, "title": b.title})]
        for b in reply.buttons
    ]
    return InlineKeyboardMarkup(rows)


async def send_replies(bot: Bot, chat_id: int, replies: list[Reply]) -> None:
    """Sends each reply in order; an unknown custom type is logged, never shown raw."""
    for reply in replies:
        kind = reply.custom.get("type")
        if kind == Custom.REQUEST_CONTACT:
            keyboard = ReplyKeyboardMarkup(
                [[KeyboardButton(str(reply.custom.get("button", "📱")), request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
            await bot.send_message(
                chat_id, str(reply.custom.get("text", "")), reply_markup=keyboard
            )
        elif kind == Custom.REMOVE_KEYBOARD:
            await bot.send_message(
                chat_id, str(reply.custom.get("text", "")), reply_markup=ReplyKeyboardRemove()
            )
        elif kind == Custom.DOCUMENT:
            content = base64.b64decode(str(reply.custom.get("content_base64", "")))
            document = InputFile(content, filename=str(reply.custom.get("filename", "file")))
            await bot.send_document(chat_id, document, caption=reply.custom.get("caption"))
        elif kind:
            logger.error("unknown custom reply type %r: not sent", kind)
        if reply.text or reply.buttons:
            text = (reply.text or "…")[:TELEGRAM_TEXT_LIMIT]
            await bot.send_message(chat_id, text, reply_markup=inline_keyboard(reply))
