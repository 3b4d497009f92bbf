"""A turn sent to Rasa again is answered again, not played twice (nlu/ntsa_rasa/rest.py).

A webhook gateway killed after Rasa answered a turn and before it told Telegram has the
update sent again (bot/webhook.py); its turn carries the same number (Telegram's update id,
``turn_id``). Posted straight to the real Rasa's REST channel, as the gateway posts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import t
from tools.stack import run_secrets

pytestmark = pytest.mark.e2e

TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass
class Chat:
    http: aiohttp.ClientSession
    url: str
    sender: str

    async def post(self, message: str, turn_id: int | None) -> list[dict[str, Any]]:
        metadata: dict[str, Any] = {protocol.Meta.CHANNEL: "telegram"}
        if turn_id is not None:
            metadata[protocol.Meta.TURN_ID] = turn_id
        body = {"sender": self.sender, "message": message, "metadata": metadata}
        async with self.http.post(f"{self.url}/webhooks/rest/webhook", json=body) as response:
            assert response.status == 200
            answer: list[dict[str, Any]] = await response.json()
            return answer

    async def user_turns(self) -> list[str]:
        params = {"token": run_secrets()["RASA_AUTH_TOKEN"]}
        url = f"{self.url}/conversations/{self.sender}/tracker"
        async with self.http.get(url, params=params) as response:
            assert response.status == 200
            tracker = await response.json()
        return [e["text"] for e in tracker["events"] if e["event"] == "user"]


@pytest.fixture
async def chat(rasa_server, chat_id) -> AsyncIterator[Chat]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        yield Chat(http, rasa_server.url, str(chat_id))


def texts(answer: list[dict[str, Any]]) -> list[str]:
    return [m.get("text") or (m.get("custom") or {}).get("text") or "" for m in answer]


async def test_a_turn_sent_again_gets_its_first_answer_and_moves_nothing(chat):
    assert texts(await chat.post("check my status", 9001)) == [t("en", "status.ask_id")]
    first = await chat.post("21000102", 9002)
    assert texts(first)[0].startswith(t("en", "status.ask_proof", id="******02"))
    assert await chat.post("21000102", 9002) == first  # the same turn again
    assert await chat.user_turns() == ["check my status", "21000102"]
    # A new number is a new turn: typed again at the proof step, the ID is not a phone.
    again = texts(await chat.post("21000102", 9003))
    assert again != texts(first)
    assert await chat.user_turns() == ["check my status", "21000102", "21000102"]


async def test_the_same_turn_twice_at_once_is_played_once(chat):
    both = await asyncio.gather(*(chat.post("check my status", 9101) for _ in range(2)))
    assert both[0] == both[1]
    assert texts(both[0]) == [t("en", "status.ask_id")]
    assert await chat.user_turns() == ["check my status"]


async def test_without_a_number_every_turn_is_played(chat):
    await chat.post("check my status", None)
    await chat.post("check my status", None)
    assert await chat.user_turns() == ["check my status", "check my status"]
