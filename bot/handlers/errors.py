"""The gateway's one error handler: bugs go to the log, the user gets an apology.

One apology per update, and nothing after it: PTB would otherwise go on to the next
handler group, so a gate that failed (the handoff gate cannot read the database) would be
followed by the turn itself — two answers to one message, the second made without the
gate's decision. A database that cannot be reached is a passing outage: "try again in a
minute", in the language of the person's message, and a warning rather than a traceback.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import GatewayContext
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.language import choose_language
from ntsa_assistant.storage.engine import unreachable

logger = logging.getLogger(__name__)


async def on_error(update: object, context: GatewayContext) -> None:
    error = context.error
    outage = error is not None and unreachable(error)
    if outage:
        logger.warning("the database is unreachable: %s", type(error).__name__)
    else:
        logger.error("unhandled error in the gateway", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return  # a job's error: logged, nobody to tell
    if update.callback_query is not None:  # a button: stop its spinner too
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    message = update.effective_message
    lang = choose_language(message.text if message else None, context.language_hint)
    key = "common.apology_unavailable" if outage else "common.apology_error"
    try:
        await context.bot.send_message(update.effective_chat.id, t(lang, key))
    except TelegramError:
        logger.exception("could not send the apology")
    raise ApplicationHandlerStop
