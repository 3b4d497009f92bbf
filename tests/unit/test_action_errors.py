"""What the action server does when an action raises, and which chat a non-Telegram sender is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from rasa_sdk import Tracker
from sanic.exceptions import Unauthorized
from sanic.request import Request

from actions.training.common import TELEGRAM_ID_LIMIT, chat_id, chat_number
from ntsa_assistant.core.i18n import t
from rasa_sdk_plugins.errors import answer_error


@dataclass
class FakeRequest:
    """The two things the handler reads of a Sanic request."""

    json: Any
    path: str = "/webhook"
    headers: dict[str, str] = field(default_factory=dict)


def action_call(sender: str = "700000001", language: str = "sw") -> dict[str, Any]:
    return {
        "next_action": "action_training_my_registrations",
        "sender_id": sender,
        "tracker": {
            "sender_id": sender,
            "slots": {"language": language},
            "latest_message": {"text": "/training_mine", "intent": {"name": "training_mine"}},
            "events": [],
        },
    }


async def test_an_action_that_raises_is_an_apology_in_the_persons_language() -> None:
    request = cast(Request, FakeRequest(action_call(language="sw")))

    response = await answer_error(request, ConnectionRefusedError("database down"))

    assert response.status == 200
    assert json.loads(response.body or b"") == {
        "events": [],
        "responses": [{"text": t("sw", "common.apology_error")}],
    }


async def test_without_a_readable_tracker_the_apology_is_in_english() -> None:
    request = cast(Request, FakeRequest(["not", "an", "action", "call"]))

    response = await answer_error(request, RuntimeError("boom"))

    assert json.loads(response.body or b"") == {
        "events": [],
        "responses": [{"text": t("en", "common.apology_error")}],
    }


async def test_a_refusal_keeps_its_status_and_echoes_nothing() -> None:
    request = cast(Request, FakeRequest(action_call()))

    response = await answer_error(request, Unauthorized("missing token"))

    assert response.status == 401
    assert json.loads(response.body or b"") == {"error": "missing token"}


async def test_an_error_outside_the_webhook_is_a_plain_500() -> None:
    request = cast(Request, FakeRequest(action_call(), path="/actions"))

    response = await answer_error(request, RuntimeError("boom"))

    assert response.status == 500
    assert json.loads(response.body or b"") == {"error": "internal error"}


def tracker_of(sender: str) -> Tracker:
    return Tracker.from_dict(action_call(sender)["tracker"])


def test_a_telegram_chat_is_its_own_id() -> None:
    assert chat_id(tracker_of("700000001")) == 700000001
    assert chat_number("-1001234567890") == -1001234567890


def test_the_local_chat_gets_a_stable_number_outside_telegrams_ids() -> None:
    local = chat_id(tracker_of("local-1a2b3c4d"))

    assert local == -4515821111074886
    assert chat_id(tracker_of("local-1a2b3c4d")) == local
    assert chat_number("local-99999999") not in (local, 0)
    assert local < -TELEGRAM_ID_LIMIT
    # Digits too long for a Telegram id are not taken as one either.
    assert chat_number("99999999999999999999") < -TELEGRAM_ID_LIMIT
