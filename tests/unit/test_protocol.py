"""The signed contact claim (the gateway signs, the action server believes only a valid,
fresh claim for its own chat) and the action server's secret header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from ruamel.yaml import YAML

from ntsa_assistant import protocol
from ntsa_assistant.protocol import Meta

ROOT = Path(__file__).resolve().parents[2]
SECRET = SecretStr("gateway-and-actions-only")
CHAT = "700000123"
PHONE = "+254700000102"
NOW = 1_750_000_000.0


def signed(own: bool = True, phone: str | None = "254700000102", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"sender": CHAT, "secret": SECRET, "now": NOW} | kw
    return protocol.contact_metadata(own, phone, args["sender"], args["secret"], args["now"])


def test_a_fresh_claim_signed_for_this_chat_proves_its_phone() -> None:
    claim = signed()
    assert claim[Meta.CONTACT_IS_OWN] is True
    assert claim[Meta.VERIFIED_PHONE] == PHONE
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW + 5) == PHONE
    assert protocol.claim_problem(claim, CHAT, SECRET, now=NOW + 5) is None
    # The secret may be given as a plain string on either side.
    assert protocol.proven_phone(claim, CHAT, SECRET.get_secret_value(), now=NOW) == PHONE


def test_the_metadata_an_attacker_posted_to_rasa_proves_nothing() -> None:
    forged = {Meta.CONTACT_IS_OWN.value: True, Meta.VERIFIED_PHONE.value: PHONE}
    assert protocol.proven_phone(forged, CHAT, SECRET, now=NOW) is None
    assert protocol.claim_problem(forged, CHAT, SECRET, now=NOW) == "unsigned claim"


def test_a_claim_signed_with_another_secret_proves_nothing() -> None:
    claim = signed(secret="guessed")
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None


def test_a_claim_signed_for_another_chat_proves_nothing() -> None:
    claim = signed(sender="700000999")
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None
    assert "another chat" in str(protocol.claim_problem(claim, CHAT, SECRET, now=NOW))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (Meta.VERIFIED_PHONE.value, "+254700000101"),  # someone else's phone
        (Meta.CLAIM_ISSUED_AT.value, int(NOW) + 60),  # made younger
        (Meta.CLAIM_SIGNATURE.value, "0" * 64),
    ],
)
def test_an_altered_claim_proves_nothing(field: str, value: object) -> None:
    claim = signed() | {field: value}
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None


def test_a_replayed_claim_proves_nothing_once_the_window_has_passed() -> None:
    claim = signed()
    last_moment = NOW + protocol.CLAIM_MAX_AGE_SECONDS
    assert protocol.proven_phone(claim, CHAT, SECRET, now=last_moment) == PHONE
    assert protocol.proven_phone(claim, CHAT, SECRET, now=last_moment + 1) is None
    assert "stale" in str(protocol.claim_problem(claim, CHAT, SECRET, now=last_moment + 1))


def test_a_claim_dated_in_the_future_proves_nothing() -> None:
    claim = signed(now=NOW + protocol.CLAIM_MAX_SKEW_SECONDS + 1)
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None


def test_without_a_secret_nothing_is_signed_and_nothing_is_believed() -> None:
    unsigned = signed(secret=None)
    assert Meta.CLAIM_SIGNATURE.value not in unsigned
    assert protocol.proven_phone(unsigned, CHAT, SECRET, now=NOW) is None
    # An action server without the secret believes no claim, not even a signed one.
    assert protocol.proven_phone(signed(), CHAT, None, now=NOW) is None
    assert protocol.proven_phone(signed(), CHAT, SecretStr(""), now=NOW) is None


def test_someone_elses_contact_carries_no_phone_and_proves_nothing() -> None:
    claim = signed(own=False)
    assert claim[Meta.CONTACT_IS_OWN] is False
    assert Meta.VERIFIED_PHONE.value not in claim
    assert protocol.is_contact_turn(claim)
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None
    # Turning "not own" into "own" breaks the signature.
    flipped = claim | {Meta.CONTACT_IS_OWN.value: True, Meta.VERIFIED_PHONE.value: PHONE}
    assert protocol.proven_phone(flipped, CHAT, SECRET, now=NOW) is None


@pytest.mark.parametrize("own", [1, "true", "yes"])
def test_only_a_literal_true_counts_as_own(own: object) -> None:
    claim = signed() | {Meta.CONTACT_IS_OWN.value: own}
    assert protocol.proven_phone(claim, CHAT, SECRET, now=NOW) is None


def test_an_invalid_phone_is_never_proven() -> None:
    assert Meta.VERIFIED_PHONE.value not in signed(phone="not a phone")
    assert protocol.proven_phone(signed(phone="not a phone"), CHAT, SECRET, now=NOW) is None


def test_rasa_sends_the_action_secret_in_the_header_the_action_server_checks() -> None:
    endpoints = YAML(typ="safe").load((ROOT / "nlu" / "endpoints.yml").read_text())
    headers = endpoints["action_endpoint"]["headers"]
    assert headers == {protocol.ACTION_SECRET_HEADER: "${ACTION_SERVER_SECRET}"}
