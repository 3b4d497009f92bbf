"""The supervisor's command lines (tools/stack.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ntsa_assistant.core.settings import get_settings
from tools import stack


@pytest.fixture
def fresh_secrets() -> Iterator[None]:
    """run_secrets and the settings it reads are made once per process: forget both."""
    get_settings.cache_clear()
    stack.run_secrets.cache_clear()
    yield
    get_settings.cache_clear()
    stack.run_secrets.cache_clear()


@pytest.mark.usefixtures("fresh_secrets")
def test_a_rasa_token_starting_with_a_dash_is_one_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """argparse read "--auth-token -x…" as a missing value and Rasa did not start."""
    monkeypatch.setenv("RASA_AUTH_TOKEN", "-starts-with-a-dash")
    argv = stack.rasa_service(5005, "http://127.0.0.1:5055").argv
    assert "--auth-token=-starts-with-a-dash" in argv
    assert "--auth-token" not in argv


@pytest.mark.usefixtures("fresh_secrets")
def test_made_secrets_are_hex_so_no_command_line_reads_them_as_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in stack.SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    made = stack.run_secrets()
    assert set(made) == {
        "RASA_AUTH_TOKEN",
        "ACTION_SERVER_SECRET",
        "GATEWAY_SIGNING_SECRET",
        "TRACKER_STORE_SECRET",
        "WEB_SECRET",
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in made.values())
