"""The gateway's own rules, without Telegram or Rasa: neutralising, parsing, dedupe."""

from __future__ import annotations

import pytest

from bot.conversation import MAX_TEXT_LENGTH, Button, Conversation, Reply, neutralise, parse_replies
from bot.handlers.dedupe import SeenUpdates
from bot.rasa_client import RasaUnavailable
from ntsa_assistant.core.i18n import t


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ('/faq_menu{"x": 1}', 'faq_menu{"x": 1}'),
        ("  /greet", "greet"),
        ("//greet", "greet"),
        ("/ /greet", "greet"),
        ("\u2003/greet", "greet"),  # unicode spaces that str.strip() removes
        ("When does TIMS close?", "When does TIMS close?"),
        ("a/b", "a/b"),
    ],
)
def test_typed_text_never_reaches_rasa_as_an_intent(typed: str, sent: str) -> None:
    assert neutralise(typed) == sent
    assert not neutralise(typed).strip().startswith("/")


def test_rasa_replies_become_buttons_and_custom_parts() -> None:
    raw = [
        {"recipient_id": "1", "text": "Pick one", "buttons": [{"title": "A", "payload": "/a"}]},
        {"recipient_id": "1", "custom": {"type": "remove_keyboard", "text": "ok"}},
        {"recipient_id": "1", "buttons": [{"title": "", "payload": "/x"}, "junk"]},
        {"recipient_id": "1", "image": "http://example.org/x.png"},
    ]
    assert parse_replies(raw) == [
        Reply(text="Pick one", buttons=(Button("A", "/a"),)),
        Reply(custom={"type": "remove_keyboard", "text": "ok"}),
    ]


def test_seen_updates_are_dropped_and_memory_is_bounded() -> None:
    seen = SeenUpdates(capacity=3)
    assert seen.first_time(1)
    assert not seen.first_time(1)
    for update_id in (2, 3, 4):
        assert seen.first_time(update_id)
    assert seen.first_time(1)  # forgotten after `capacity` newer ones


class _FakeRasa:
    """Stands in for the HTTP client only; the e2e tests use the real Rasa server."""

    def __init__(self, answer: list[dict] | Exception) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, dict]] = []

    async def send(self, sender: str, message: str, metadata: dict) -> list[dict]:
        self.sent.append((sender, message, metadata))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_a_huge_message_is_refused_politely_and_not_sent() -> None:
    rasa = _FakeRasa([])
    replies = await Conversation(rasa).user_text("1", "x" * (MAX_TEXT_LENGTH + 1), {})
    assert replies == [Reply(text=t("en", "common.too_long", limit=MAX_TEXT_LENGTH))]
    assert "shorter" in replies[0].text
    assert rasa.sent == []


async def test_rasa_down_becomes_an_apology_in_the_users_language() -> None:
    conversation = Conversation(_FakeRasa(RasaUnavailable("down")))
    [english] = await conversation.user_text("1", "When does TIMS close?", {})
    [swahili] = await conversation.user_text("1", "TIMS itafungwa lini?", {})
    assert english == Reply(text=t("en", "common.apology_unavailable"))
    assert swahili == Reply(text=t("sw", "common.apology_unavailable"))
    assert english.text.startswith("Sorry")
    assert swahili.text.startswith("Samahani")


async def test_forged_intent_text_is_sent_without_its_slash() -> None:
    rasa = _FakeRasa([{"text": "ok"}])
    await Conversation(rasa).user_text("1", '/set_language{"language": "sw"}', {"channel": "t"})
    assert rasa.sent == [("1", 'set_language{"language": "sw"}', {"channel": "t"})]


async def test_emoji_only_text_still_gets_an_answer() -> None:
    rasa = _FakeRasa([{"text": "I can help with…"}])
    [reply] = await Conversation(rasa).user_text("1", "🚗🚗🚗", {})
    assert reply == Reply(text="I can help with…")
    assert rasa.sent == [("1", "🚗🚗🚗", {})]
