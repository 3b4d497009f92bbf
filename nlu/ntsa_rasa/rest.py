"""Rasa's REST channel, failing honestly and answering a turn sent again without playing
it twice.

A turn that could not be handled (its conversation could not be read or saved) is
answered 503, never 200 with half an answer, and what the person typed is never logged.
Rasa's own REST channel answers such a turn 200 with whatever was collected before the
failure (often nothing) and logs the person's text at ERROR. The gateway turns a 503 into
its "try again in a minute" apology; the conversation stays as it was stored before the
turn, so the person's next message continues from there.

The gateway numbers each turn (``turn_id`` in its metadata: Telegram's update id). A
gateway that dies after Rasa answered and before it told Telegram has that update sent
again (bot/webhook.py), and the new turn carries the same number: it gets the answer the
first one got, and the conversation does not move twice ("Wanjiru" taken as the name, then
read again at the phone question). A number still being answered is waited for. Answers
are remembered per process, the latest :data:`REMEMBERED_TURNS`: a chat stays on its home
replica (bot/rasa_client.py), so the turn sent again comes back here unless this replica
went down too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# The gateway's number for a turn (ntsa_assistant.protocol.Meta.TURN_ID; this environment
# does not import the app's package).
TURN_ID = "turn_id"
REMEMBERED_TURNS = 4096

Answer = list[dict[str, Any]]
TurnKey = tuple[str, str]


class AnsweredTurns:
    """The answers of the latest turns by (sender, turn id), and the turns under way."""

    def __init__(self, size: int = REMEMBERED_TURNS) -> None:
        self._size = size
        self._turns: OrderedDict[TurnKey, asyncio.Future[Answer | None]] = OrderedDict()

    def get(self, key: TurnKey) -> asyncio.Future[Answer | None] | None:
        return self._turns.get(key)

    def begin(self, key: TurnKey) -> asyncio.Future[Answer | None]:
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._turns[key] = future
        while len(self._turns) > self._size:
            _, oldest = self._turns.popitem(last=False)
            if not oldest.done():
                oldest.set_result(None)  # whoever waits for it plays its turn itself
        return future

    def end(
        self, key: TurnKey, future: asyncio.Future[Answer | None], answer: Answer | None
    ) -> None:
        """``answer`` None: the turn failed, and the same number may be played afresh."""
        if not future.done():
            future.set_result(answer)
        if answer is None and self._turns.get(key) is future:
            del self._turns[key]


def turn_key(sender: str | None, metadata: dict[str, Any] | None) -> TurnKey | None:
    turn_id = (metadata or {}).get(TURN_ID)
    if sender is None or isinstance(turn_id, bool) or not isinstance(turn_id, int | str):
        return None
    return (sender, str(turn_id))


class FailingRestInput(RestInput):
    """Same URL and body as Rasa's ``rest`` channel (``/webhooks/rest/webhook``)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("ntsa_rest", __name__)
        answered = AnsweredTurns()

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            sender = await self._extract_sender(request)
            metadata = self.get_metadata(request)
            key = turn_key(sender, metadata)
            earlier = answered.get(key) if key is not None else None
            if earlier is not None:
                answer = await asyncio.shield(earlier)
                if answer is not None:
                    logger.info("A turn sent again got its first answer (not played twice).")
                    return response.json(answer)
            future = answered.begin(key) if key is not None else None
            collector = CollectingOutputChannel()
            message = UserMessage(
                self._extract_message(request),
                collector,
                sender,
                input_channel=self._extract_input_channel(request),
                metadata=metadata,
            )
            answer: Answer | None = None
            try:
                await on_new_message(message)
                answer = collector.messages
            except Exception as error:
                logger.error(
                    "A turn could not be handled (%s); the sender gets an apology.",
                    type(error).__name__,
                )
                return response.json({"error": "turn not handled"}, status=503)
            finally:  # also when the request is cancelled: no one waits on it for ever
                if key is not None and future is not None:
                    answered.end(key, future, answer)
            return response.json(answer)

        return webhook
