"""The action server's one error handler: an action that raises is an apology, never a 500.

rasa-sdk's own handler answers an unexpected exception with HTTP 500 and the whole request
body (the tracker: every message, slot and ID the person typed), and Rasa then logs that
body unmasked. Ours answers Rasa with a normal action result — the apology in the person's
language, no events, so the conversation carries on — and logs the exception through the
masking formatter. Refusals Sanic raises on purpose (404, 401, 400 …) keep their status,
without the body.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions.tracker import reply_language
from ntsa_assistant.core.i18n import DEFAULT_LANGUAGE, Lang, t

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
APOLOGY_KEY = "common.apology_error"


def apology_result(lang: Lang) -> dict[str, Any]:
    """An action result Rasa accepts: one apology, no events."""
    return {"events": [], "responses": [{"text": t(lang, APOLOGY_KEY)}]}


def _action_call(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:  # an unreadable body: nothing of it is needed to apologise
        return {}
    return body if isinstance(body, dict) else {}


def _language(action_call: dict[str, Any]) -> Lang:
    try:
        return reply_language(Tracker.from_dict(action_call["tracker"]))
    except Exception:  # no usable tracker: the default language still apologises
        return DEFAULT_LANGUAGE


async def answer_error(request: Request, exception: Exception) -> HTTPResponse:
    if isinstance(exception, SanicException) and exception.status_code < 500:
        return json({"error": str(exception.message)}, status=exception.status_code)
    action_call = _action_call(request)
    action = action_call.get("next_action")
    sender = action_call.get("sender_id")
    logger.error(
        "action %s failed for chat %s: %s",
        action,
        sender,
        type(exception).__name__,
        exc_info=exception,
    )
    if request.path != WEBHOOK_PATH:
        return json({"error": "internal error"}, status=500)
    return json(apology_result(_language(action_call)))


def install(app: Sanic) -> None:
    """Makes :func:`answer_error` the app's handler of last resort.

    rasa-sdk registers its handler for ``Exception`` on all routes, and Sanic refuses a
    second registration for the same key, so the entry is replaced. Handlers registered for
    narrower exceptions (an auth refusal, say) are found first and stay in force.
    """
    app.error_handler.cached_handlers[(Exception, None)] = answer_error
