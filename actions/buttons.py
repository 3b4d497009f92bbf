"""Domain buttons as Rasa buttons: ``{"title": ..., "payload": "/intent{...}"}``."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from ntsa_assistant.faq.answers import Answer, Button


def payload(button: Button) -> str:
    """``/faq_more{"faq_topic":"closure"}``; a button's command is an intent name."""
    if not button.args:
        return f"/{button.command}"
    return f"/{button.command}{json.dumps(dict(button.args), separators=(',', ':'))}"


def rasa_buttons(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    return [{"title": b.title, "payload": payload(b)} for b in buttons]


def send(dispatcher: CollectingDispatcher, answer: Answer) -> None:
    """One message: the answer's short text with its buttons (the "more" text waits)."""
    dispatcher.utter_message(text=answer.text, buttons=rasa_buttons(answer.buttons))
