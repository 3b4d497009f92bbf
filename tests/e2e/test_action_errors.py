"""The action server, posted to as Rasa posts to it: an action that raises is an apology
(HTTP 200, no events, nothing of the tracker echoed), and the local terminal chat's sender
is served like any chat."""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp
import pytest

from ntsa_assistant.core.i18n import t
from ntsa_assistant.protocol import ACTION_SECRET_HEADER
from tests.support.processes import RunningService, free_port

pytestmark = pytest.mark.e2e

# What the person typed: none of it may come back in an answer (Rasa would log it).
TYPED = "nionyeshe usajili wangu, kitambulisho changu ni 21000102, simu yangu 0712-345-678"


def action_call(sender: str, language: str) -> dict[str, Any]:
    return {
        "next_action": "action_training_my_registrations",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {"language": language},
            "latest_message": {"text": TYPED, "intent": {"name": "training_mine"}},
            "latest_event_time": 1702191600.0,
            "followup_action": None,
            "paused": False,
            "events": [{"event": "user", "text": TYPED, "timestamp": 1702191600.0}],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
    }


async def post_action(server: RunningService, call: dict[str, Any]) -> tuple[int, str]:
    """A POST as Rasa makes it, with the shared secret the action server was started with."""
    secret = (os.environ | server.service.env)["ACTION_SERVER_SECRET"]
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(
            f"{server.url}/webhook", json=call, headers={ACTION_SECRET_HEADER: secret}
        ) as response,
    ):
        return response.status, await response.text()


async def test_the_local_chat_sender_lists_its_registrations(action_server):
    status, body = await post_action(action_server, action_call("local-1a2b3c4d", "sw"))

    assert status == 200, body
    assert [r["text"] for r in json.loads(body)["responses"]] == [t("sw", "training.my_none")]


async def test_a_database_down_is_an_apology_without_the_tracker(action_server, e2e_database):
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    await action_server.restart(DATABASE_URL=unreachable)
    try:
        status, body = await post_action(action_server, action_call("700000001", "sw"))
    finally:
        await action_server.restart(DATABASE_URL=e2e_database)

    assert status == 200, body
    assert json.loads(body) == {
        "events": [],
        "responses": [{"text": t("sw", "common.apology_error")}],
    }
    assert "21000102" not in body
