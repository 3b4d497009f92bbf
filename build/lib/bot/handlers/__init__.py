"""The gateway's handlers, one module per feature, composed here."""

from __future__ import annotations

from telegram.ext import Application, BaseHandler

from bot.handlers import chat, commands, dedupe, errors


def register(application: Application) -> None:
    """Wires every feature's handlers into the application, in order."""
    groups: list[tuple[int, list[BaseHandler]]] = [
        (-1, dedupe.handlers()),
        (0, commands.handlers() + chat.handlers()),
    ]
    for group, handlers in groups:
        application.add_handlers(handlers, group=group)
    application.add_error_handler(errors.on_error)
