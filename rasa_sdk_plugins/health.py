"""The action server's readiness: ``GET /ready`` answers 200 ``{"ready": true}`` once this
worker's resources are made and the database answers, else 503 with the reason.

rasa_sdk's own ``/health`` says ``ok`` whenever the process answers, which is liveness.
Neither tells anything of a person.
"""

from __future__ import annotations

import asyncio

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from actions import runtime

READY_PATH = "/ready"
# A probe wants an answer quickly, even from a database that does not answer at all.
CHECK_SECONDS = 3.0


async def problem() -> str | None:
    """Why this worker cannot serve actions now; None when it can."""
    try:
        resources = runtime.resources()
    except RuntimeError:
        return "starting: the action server's resources are not made yet"
    # A plain query, not the schema check of the start (Alembic logs every look it takes).
    try:
        async with asyncio.timeout(CHECK_SECONDS), resources.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return f"the database did not answer within {CHECK_SECONDS:.0f} s"
    except (OSError, SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's error, not the SQL around it
        return f"the database is unreachable ({type(cause).__name__})"
    return None


def install(app: Sanic) -> None:
    @app.get(READY_PATH)
    async def _ready(_request: Request) -> HTTPResponse:
        reason = await problem()
        if reason is None:
            return response.json({"ready": True})
        return response.json({"ready": False, "reason": reason}, status=503)
