"""Rasa's readiness, with the reason when it is not ready.

An input channel (listed in ``nlu/credentials.yml``) only so that Rasa mounts its routes:
``GET /webhooks/health/ready`` answers 200 ``{"ready": true}`` or 503
``{"ready": false, "reason": "..."}``. No token is needed and nothing else is told: no
model name, no URL, no error text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from ntsa_rasa.tracker_store import EncryptedSQLTrackerStore

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 5.0
NO_MODEL = "no model loaded"
TRACKER_STORE_IN_MEMORY = "tracker store not configured (conversations would be in memory)"
TRACKER_STORE_UNREACHABLE = "tracker store unreachable"
LOCK_STORE_UNREACHABLE = "lock store unreachable"


def _unwrap(store: Any) -> Any:
    """The configured store inside Rasa's wrappers (FailSafe…, Awaitable…TrackerStore)."""
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


async def _answers(check: Callable[[], None]) -> bool:
    """Runs a blocking check in a thread, so a silent database holds no one else up."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, check), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # any failure means "not now"; the kind goes to the log
        logger.warning("Readiness check failed: %s", type(error).__name__)
        return False
    return True


async def readiness_problem(agent: Any) -> str | None:
    """Why Rasa cannot serve a conversation now, or None when it can."""
    if agent is None or not agent.is_ready():
        return NO_MODEL
    tracker_store = _unwrap(agent.tracker_store)
    if isinstance(tracker_store, InMemoryTrackerStore):
        return TRACKER_STORE_IN_MEMORY
    if isinstance(tracker_store, EncryptedSQLTrackerStore) and not await _answers(
        tracker_store.check_connection
    ):
        return TRACKER_STORE_UNREACHABLE
    check_lock_store = getattr(agent.lock_store, "check_connection", None)
    if check_lock_store is not None and not await _answers(check_lock_store):
        return LOCK_STORE_UNREACHABLE
    return None


class HealthChannel(InputChannel):
    """Adds ``/webhooks/health/ready``; takes no messages."""

    @classmethod
    def name(cls) -> str:
        return "health"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("ntsa_health", __name__)

        @blueprint.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            reason = await readiness_problem(getattr(request.app.ctx, "agent", None))
            if reason is None:
                return response.json({"ready": True})
            return response.json({"ready": False, "reason": reason}, status=503)

        return blueprint
