"""Rasa's REST channel, failing honestly: a turn that could not be handled (its
conversation could not be read or saved) is answered 503, never 200 with half an answer,
and what the person typed is never logged.

Rasa's own REST channel answers such a turn 200 with whatever was collected before the
failure (often nothing) and logs the person's text at ERROR. The gateway turns a 503 into
its "try again in a minute" apology; the conversation stays as it was stored before the
turn, so the person's next message continues from there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)


class FailingRestInput(RestInput):
    """Same URL and body as Rasa's ``rest`` channel (``/webhooks/rest/webhook``)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("ntsa_rest", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            collector = CollectingOutputChannel()
            message = UserMessage(
                self._extract_message(request),
                collector,
                await self._extract_sender(request),
                input_channel=self._extract_input_channel(request),
                metadata=self.get_metadata(request),
            )
            try:
                await on_new_message(message)
            except Exception as error:
                logger.error(
                    "A turn could not be handled (%s); the sender gets an apology.",
                    type(error).__name__,
                )
                return response.json({"error": "turn not handled"}, status=503)
            return response.json(collector.messages)

        return webhook
