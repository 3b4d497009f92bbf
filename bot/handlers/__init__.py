"""The gateway's handlers, one module per feature, composed here."""

from __future__ import annotations

from telegram.ext import Application, BaseHandler

from bot.desk import agents, person
from bot.handlers import chat, commands, dedupe, errors, scope, throttle
from bot.shared_state import SharedRedis
from ntsa_assistant.core.settings import Settings

# Groups run in order and one handler per group: gates first, each may stop an update.
# (Group -2 is the factory's own gate for update kinds, in bot/app.py.) A chat handed to
# an agent is taken by the handoff gate before any feature sees it.
SCOPE_GROUP, DEDUPE_GROUP, THROTTLE_GROUP, HANDOFF_GROUP, FEATURES_GROUP = -4, -3, -1, 0, 1


def register(
    application: Application, settings: Settings, shared: SharedRedis | None = None
) -> None:
    """Wires every feature's handlers into the application, in order; ``shared``: the
    replicas' Redis (update de-duplication across them)."""
    groups: list[tuple[int, list[BaseHandler]]] = [
        (SCOPE_GROUP, scope.handlers()),
        (DEDUPE_GROUP, dedupe.handlers(shared)),
        (THROTTLE_GROUP, throttle.handlers()),
        (HANDOFF_GROUP, person.handlers()),
        (FEATURES_GROUP, commands.handlers() + agents.handlers(settings) + chat.handlers()),
    ]
    for group, handlers in groups:
        application.add_handlers(handlers, group=group)
    application.add_error_handler(errors.on_error)
