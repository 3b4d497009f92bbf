"""Domain answers as Rasa messages: a text with buttons ``{"title", "payload"}``."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from ntsa_assistant.protocol import Answer, Button


def rasa_buttons(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    return [{"title": b.title, "payload": b.payload} for b in buttons]


def send(dispatcher: CollectingDispatcher, answer: Answer) -> None:
    """One message: the answer's short text with its buttons (the "more" text waits)."""
    dispatcher.utter_message(text=answer.text, buttons=rasa_buttons(answer.buttons))


def send_custom(dispatcher: CollectingDispatcher, message: dict[str, Any]) -> None:
    """A custom reply made by :mod:`ntsa_assistant.protocol` (``request_contact`` …)."""
    dispatcher.utter_message(json_message=message)
