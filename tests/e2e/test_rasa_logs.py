"""Rasa's own log never holds what people typed unless someone asks for it
(``RASA_LOG_LEVEL``): not even when the operator runs our processes at ``LOG_LEVEL=DEBUG``."""

from __future__ import annotations

import secrets

import pytest

from ntsa_assistant.core.i18n import t
from tests.support.processes import LOG_DIR

pytestmark = pytest.mark.e2e


async def test_rasa_logs_no_message_text_at_our_debug_level(
    telegram, gateway, rasa_server, chat_id, monkeypatch
):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # as in "LOG_LEVEL=DEBUG make run"
    await rasa_server.restart()
    name = f"Wanjiru{secrets.token_hex(4)}"

    telegram.push_text(chat_id, f"check my status please, I am {name}")
    [reply] = await telegram.wait_for_messages(chat_id, count=1, timeout=60)

    assert reply["text"] == t("en", "status.ask_id")
    assert name not in (LOG_DIR / "rasa.log").read_text(errors="replace")
