"""Every internal service is authenticated, tried from outside as an attacker would: real
HTTP requests at the action server, at Rasa's REST channel and HTTP API, and at the
gateway's webhook port.

The processes are the session's (tests/conftest.py), started by tools/stack.py with the
per-run secrets of :func:`tools.stack.run_secrets`; the webhook tests start a second
gateway in webhook mode against an emulator of their own. The person is the packaged demo
record 21000102 (Kiprono, phone +254700000102, two pending TIMS applications).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import t
from tests.support.processes import BOT_TOKEN, LOG_DIR, RunningService, exit_output, free_port
from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import actions_service, gateway_service, run_secrets, webhook_env

pytestmark = pytest.mark.e2e

ID_NUMBER = "21000102"
PHONE = "+254700000102"
PENDING_REFERENCE = "TIMS-DL-2023-000102"  # in the status answer only after a proof
WEBHOOK_SECRET = "webhook-secret-for-tests_1"
TIMEOUT = aiohttp.ClientTimeout(total=60)


def secret(name: str) -> str:
    return run_secrets()[name]


# --- the database's record of what was disclosed -----------------------------------------


def _db_path(e2e_database: str) -> str:
    return e2e_database.split(":///", 1)[1]


@pytest.fixture(autouse=True)
def fresh_limits(e2e_database: str) -> None:
    """No proofs, codes or counted look-ups from earlier tests (the demo ID repeats)."""
    with sqlite3.connect(_db_path(e2e_database)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        for table in ("limit_events", "one_time_codes", "ownership_proofs"):
            if table in tables:
                db.execute(f"DELETE FROM {table}")


def disclosures(e2e_database: str, sender: str) -> int:
    """How many status answers this conversation was given (each one is audited)."""
    with sqlite3.connect(_db_path(e2e_database)) as db:
        query = "SELECT count(*) FROM status_disclosures WHERE chat_id = ?"
        return int(db.execute(query, (sender,)).fetchone()[0])


# --- 1. the action server ------------------------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel lists them) with a TCP socket in LISTEN on
    ``port``: ``0100007F`` is 127.0.0.1, ``00000000`` every IPv4 interface."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def _port(service: RunningService) -> int:
    return int(service.url.rsplit(":", 1)[1])


async def test_rasa_and_the_action_server_listen_on_loopback_only(action_server, rasa_server):
    assert listening_addresses(_port(action_server)) == {"0100007F"}
    assert listening_addresses(_port(rasa_server)) == {"0100007F"}


def action_call(sender: str, action: str = "action_status_unexpected_contact") -> dict[str, Any]:
    """What an attacker posts to /webhook: a hand-made tracker claiming an own contact."""
    forged = {protocol.Meta.CONTACT_IS_OWN.value: True, protocol.Meta.VERIFIED_PHONE.value: PHONE}
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {"slots": {}, "forms": {}, "responses": {}, "intents": [], "entities": []},
        "tracker": {
            "sender_id": sender,
            "slots": {"language": "en"},
            "latest_message": {
                "text": "/contact_shared",
                "intent": {"name": protocol.Intent.CONTACT_SHARED.value},
                "entities": [],
                "metadata": forged,
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "missing action server secret"),
        ({protocol.ACTION_SECRET_HEADER: "guessed"}, 403, "wrong action server secret"),
        ({protocol.ACTION_SECRET_HEADER: ""}, 403, "wrong action server secret"),
    ],
)
async def test_an_action_call_without_the_secret_runs_nothing(
    action_server, chat_id, headers, status, error
):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        url = f"{action_server.url}/webhook"
        async with http.post(url, json=action_call(str(chat_id)), headers=headers) as response:
            assert response.status == status
            assert await response.json() == {"error": error}  # no events, no responses
        # The list of actions is not for strangers either; the health check stays open.
        async with http.get(f"{action_server.url}/actions", headers=headers) as response:
            assert response.status == status
        async with http.get(f"{action_server.url}/health") as response:
            assert response.status == 200


async def test_rasa_s_own_action_calls_carry_the_secret(action_server, chat_id):
    """The same call with the secret runs the action: the refusals above are the check's."""
    headers = {protocol.ACTION_SECRET_HEADER: secret("ACTION_SERVER_SECRET")}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        url = f"{action_server.url}/webhook"
        async with http.post(url, json=action_call(str(chat_id)), headers=headers) as response:
            assert response.status == 200
            body = await response.json()
    [reply] = body["responses"]
    assert reply["custom"]["text"] == t("en", "status.unexpected_contact")


async def test_the_action_server_refuses_to_start_without_a_secret():
    service = actions_service(free_port(), env={"ACTION_SERVER_SECRET": ""})
    output = await exit_output(service.argv, service.env)
    assert "ACTION_SERVER_SECRET is not set" in output


# --- 2. Rasa: its HTTP API needs the token, the REST channel's claims need a signature -----


@dataclass
class Rest:
    """A conversation posted straight at Rasa's REST channel, as anyone on :5005 could."""

    http: aiohttp.ClientSession
    url: str
    sender: str

    async def say(self, message: str, metadata: dict[str, Any] | None = None) -> list[str]:
        body = {"sender": self.sender, "message": message, "metadata": metadata or {}}
        async with self.http.post(f"{self.url}/webhooks/rest/webhook", json=body) as response:
            assert response.status == 200
            replies = await response.json()
        return [r.get("text") or (r.get("custom") or {}).get("text") or "" for r in replies]

    async def start_check(self) -> None:
        assert await self.say("check my status") == [t("en", "status.ask_id")]
        asked = t("en", "status.ask_proof", id="******02")
        assert await self.say(ID_NUMBER) == [f"{asked}\n\n{t('en', 'status.code_alternative')}"]


@pytest.fixture
async def rest(rasa_server, chat_id) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        yield Rest(http, rasa_server.url, str(chat_id))


def signed(sender: str, now: float | None = None) -> dict[str, Any]:
    key = secret("GATEWAY_SIGNING_SECRET")
    return protocol.contact_metadata(True, PHONE, sender, key, now)


async def test_a_correctly_signed_claim_proves_the_phone(rest, e2e_database):
    """The control: what the gateway sends does disclose, so the refusals below are real."""
    await rest.start_check()
    answer = await rest.say("/contact_shared", signed(rest.sender))
    assert PENDING_REFERENCE in "\n".join(answer)
    assert disclosures(e2e_database, rest.sender) == 1


@pytest.mark.parametrize(
    "claim",
    ["unsigned", "wrong key", "another chat", "replayed", "tampered phone"],
)
async def test_forged_contact_metadata_at_the_rest_channel_discloses_nothing(
    rest, e2e_database, claim
):
    await rest.start_check()
    metadata = {
        "unsigned": {"contact_is_own": True, "verified_phone": PHONE},
        "wrong key": protocol.contact_metadata(True, PHONE, rest.sender, "guessed"),
        "another chat": signed(str(int(rest.sender) + 1)),
        "replayed": signed(rest.sender, time.time() - protocol.CLAIM_MAX_AGE_SECONDS - 5),
        "tampered phone": signed(rest.sender) | {"verified_phone": "+254700000101"},
    }[claim]
    reply = await rest.say("/contact_shared", metadata)
    assert reply == [t("en", "status.not_own_contact")]
    assert disclosures(e2e_database, rest.sender) == 0


async def test_rasa_s_http_api_needs_the_token(rasa_server, rest):
    await rest.say("hello")  # the conversation exists, with what the user typed in it
    tracker_url = f"{rasa_server.url}/conversations/{rest.sender}/tracker"
    token = secret("RASA_AUTH_TOKEN")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for params in ({}, {"token": "guessed"}):
            async with http.get(tracker_url, params=params) as response:
                assert response.status == 401
            async with http.put(f"{rasa_server.url}/model", params=params, json={}) as response:
                assert response.status == 401
            async with http.post(f"{rasa_server.url}/model/parse", params=params) as response:
                assert response.status == 401
        async with http.get(tracker_url, params={"token": token}) as response:
            assert response.status == 200
            tracker = await response.json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hello"]


# --- 3. the gateway's webhook ----------------------------------------------------------------


@dataclass
class Webhook:
    telegram: TelegramEmulator
    url: str
    rasa_url: str

    async def post(self, update: dict[str, Any], secret_token: str | None) -> int:
        headers = {} if secret_token is None else {"X-Telegram-Bot-Api-Secret-Token": secret_token}
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(self.url, json=update, headers=headers) as response,
        ):
            return response.status

    def text_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """A message update as Telegram would post it (made by the emulator, not queued
        for anyone: the gateway is in webhook mode and never polls)."""
        return self.telegram.update(self.telegram.push_text(chat_id, text))

    async def say(self, chat_id: int, text: str) -> str:
        """Posts a genuine message (with the secret) and returns the bot's one reply."""
        assert await self.post(self.text_update(chat_id, text), WEBHOOK_SECRET) == 200
        [reply] = await self.telegram.wait_for_messages(chat_id, timeout=40)
        return str(reply["text"])

    async def user_turns(self, chat_id: int) -> list[str]:
        """What reached Rasa from this chat: the user turns of its tracker."""
        params = {"token": secret("RASA_AUTH_TOKEN")}
        url = f"{self.rasa_url}/conversations/{chat_id}/tracker"
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(url, params=params) as response,
        ):
            assert response.status == 200
            tracker = await response.json()
        return [e["text"] for e in tracker["events"] if e["event"] == "user"]


@pytest.fixture(scope="module")
async def webhook(rasa_server, e2e_database) -> AsyncIterator[Webhook]:
    """A second gateway, in webhook mode, with a Telegram emulator of its own."""
    port = free_port()
    async with TelegramEmulator(token=BOT_TOKEN) as telegram:
        env = {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_BASE_URL": telegram.base_url,
            **webhook_env(port, WEBHOOK_SECRET),
            "RASA_URL": rasa_server.url,
            "DATABASE_URL": e2e_database,
            "LOG_LEVEL": "INFO",
        }
        service = gateway_service(env=env, log_path=LOG_DIR / "bot-webhook.log")
        await service.start()
        try:
            await _wait_listening(telegram, service, port)
            yield Webhook(telegram, f"http://127.0.0.1:{port}/", rasa_server.url)
        finally:
            await service.stop()


async def _wait_listening(telegram: TelegramEmulator, service: Any, port: int) -> None:
    """Until the gateway has registered its webhook and accepts connections on its port."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not service.running:
            raise RuntimeError(f"the webhook gateway exited; see {service.log_path}")
        if telegram.webhook.get("url"):
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the webhook gateway never listened; see {service.log_path}")


async def test_the_webhook_is_registered_with_its_secret_and_only_the_updates_we_handle(
    webhook,
):
    registered = webhook.telegram.webhook
    assert registered["secret_token"] == WEBHOOK_SECRET
    assert registered["allowed_updates"] == ["message", "callback_query"]


@pytest.mark.parametrize("secret_token", [None, "wrong-secret", ""])
async def test_an_update_without_the_webhook_secret_is_refused(webhook, chat_id, secret_token):
    forged = webhook.text_update(chat_id, "forged: check my status")
    assert await webhook.post(forged, secret_token) == 403
    # The next genuine update is answered, and it is the only turn that reached Rasa.
    assert await webhook.say(chat_id, "check my status") == t("en", "status.ask_id")
    assert await webhook.user_turns(chat_id) == ["check my status"]


async def test_an_edited_message_is_not_a_new_turn(webhook, chat_id):
    original = webhook.text_update(chat_id, "check my status")
    assert await webhook.post(original, WEBHOOK_SECRET) == 200
    [reply] = await webhook.telegram.wait_for_messages(chat_id, timeout=40)
    assert reply["text"] == t("en", "status.ask_id")
    message_id = original["message"]["message_id"]
    edit = webhook.telegram.update(webhook.telegram.push_edit(chat_id, message_id, ID_NUMBER))
    assert await webhook.post(edit, WEBHOOK_SECRET) == 200
    # Had the edit been a turn, the ID would be known and this would be the proof step.
    ask_proof = t("en", "status.ask_proof", id="******02")
    alternative = t("en", "status.code_alternative")
    assert await webhook.say(chat_id, ID_NUMBER) == f"{ask_proof}\n\n{alternative}"
    assert await webhook.user_turns(chat_id) == ["check my status", ID_NUMBER]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "TELEGRAM_MODE": "webhook",
                "WEBHOOK_URL": "https://bot.example/",
                "WEBHOOK_SECRET": "",
            },
            "The gateway does not start: TELEGRAM_MODE=webhook needs WEBHOOK_SECRET",
        ),
        (
            {"TELEGRAM_MODE": "polling", "GATEWAY_SIGNING_SECRET": ""},
            "The gateway does not start: GATEWAY_SIGNING_SECRET is not set",
        ),
    ],
)
async def test_the_gateway_refuses_to_start_without_its_secrets(env, message):
    async with TelegramEmulator(token=BOT_TOKEN) as telegram:
        base = {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_BASE_URL": telegram.base_url}
        service = gateway_service(env=base | env)
        output = await exit_output(service.argv, service.env)
    assert message in output
