"""Only Rasa may call the action server: every request but the health checks must carry
the shared secret (``ACTION_SERVER_SECRET``) in the header Rasa sends (nlu/endpoints.yml).

The check is a request middleware, so a refused call never reaches rasa_sdk's route, its
executor or an action. The server refuses to start without a secret: ``make run`` makes one
per run, and production sets it (README, "Security").
"""

from __future__ import annotations

import hmac
import logging

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.protocol import ACTION_SECRET_HEADER

logger = logging.getLogger(__name__)

# The liveness and readiness probes; they tell nothing of a person.
OPEN_PATHS = frozenset({"/health", "/ready"})


class MissingSecret(RuntimeError):
    """The action server would start without ACTION_SERVER_SECRET."""


def install(app: Sanic, settings: Settings) -> None:
    """Adds the secret check in front of every route of ``app`` except the health checks."""
    if settings.action_server_secret is None:
        raise MissingSecret(
            "ACTION_SERVER_SECRET is not set, so anyone could call the actions: the action "
            "server does not start. 'make run' makes one per run; in production set the same "
            "value for Rasa and the action server (.env)."
        )
    expected = settings.action_server_secret.get_secret_value().encode("utf-8")

    @app.on_request
    async def _require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(ACTION_SECRET_HEADER)
        if given is None:
            logger.warning("action call without the secret refused: %s", request.path)
            return response.json({"error": "missing action server secret"}, status=401)
        if not hmac.compare_digest(given.encode("utf-8"), expected):
            logger.warning("action call with a wrong secret refused: %s", request.path)
            return response.json({"error": "wrong action server secret"}, status=403)
        return None
