"""The same facts in both channels: for each topic, language and date (before, during and
after the closure), every date and every number the bot says is on the FAQ page's section
for that topic, and the page says no date or number the bot does not. The wording may
differ (the page has no buttons to tap); the facts may not."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq.answers import ANCHORS, MENU_TOPICS, Channel, Topic, answer
from tests.support.web_page import sections
from web.app import create_app

BEFORE = datetime(2023, 12, 10, 10, 0, tzinfo=NAIROBI)
DURING = datetime(2023, 12, 31, 12, 0, tzinfo=NAIROBI)
AFTER = datetime(2024, 1, 5, 9, 0, tzinfo=NAIROBI)
# Facts are numbers: days left, days of the month, years, times (a date's words around
# its numbers are the same in both channels, since both spell dates with Babel).
NUMBER = re.compile(r"\d+(?::\d+)?")


def facts(text: str) -> list[str]:
    return sorted(NUMBER.findall(text))


def chat_text(topic: Topic, lang: str, now: datetime) -> str:
    reply = answer(topic, lang, now, channel=Channel.CHAT)  # type: ignore[arg-type]
    return reply.text if reply.more is None else f"{reply.text}\n{reply.more}"


def test_the_fact_finder_sees_dates_days_and_times() -> None:
    said = "Friday, 29 December 2023 (in 19 days), 10:00"
    assert facts(said) == sorted(["29", "2023", "19", "10:00"])


@pytest.mark.parametrize("now", [BEFORE, DURING, AFTER], ids=["before", "during", "after"])
async def test_the_page_and_the_bot_state_the_same_facts(aiohttp_client, tmp_path: Path, now):
    settings = Settings(
        _env_file=None,
        assistant_now=now,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        web_secret="test-web-secret-0123456789abcdef",
        rasa_url="http://127.0.0.1:9",
    )
    client = await aiohttp_client(create_app(settings))
    for lang in ("en", "sw"):
        page = sections(await (await client.get(f"/{lang}/")).text())
        for topic in MENU_TOPICS:
            on_page = "\n".join(page[ANCHORS[topic]]["paragraphs"])
            assert facts(on_page) == facts(chat_text(topic, lang, now)), (lang, topic)
