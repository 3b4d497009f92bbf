"""The gateway's one error handler: bugs go to the log, the user gets an apology."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import GatewayContext
from ntsa_assistant.core.i18n import t

logger = logging.getLogger(__name__)


async def on_error(update: object, context: GatewayContext) -> None:
    logger.error("unhandled error in the gateway", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id, t(context.language_hint, "common.apology_error")
            )
        except TelegramError:
            logger.exception("could not send the apology")
