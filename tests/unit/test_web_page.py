"""The FAQ page over real HTTP (pytest-aiohttp's client): routing, languages, the answers
for three dates, JSON-LD, caching, compression, weight, health and search (a fake Rasa
on 127.0.0.1, and Rasa down)."""

from __future__ import annotations

import gzip
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq.answers import ANCHORS, MENU_TOPICS, Channel, Topic, answer, menu
from tests.support.fake_rasa import FakeRasaParse
from tests.support.processes import LOG_DIR, RunningService, free_port
from tests.support.web_page import sections
from tools.stack import web_service
from web.app import RASA_PARSE_TIMEOUT_SECONDS, TopicView, create_app, json_ld

BEFORE = datetime(2023, 12, 10, 10, 0, tzinfo=NAIROBI)
DURING = datetime(2023, 12, 31, 12, 0, tzinfo=NAIROBI)
AFTER = datetime(2024, 1, 5, 9, 0, tzinfo=NAIROBI)
TOKEN = "rasa-test-token"
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.DOTALL)


class SettableClock(Clock):
    """A clock a test moves on."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.instant = now

    def now(self) -> datetime:
        return self.instant


def settings(tmp_path: Path, now: datetime | None = BEFORE, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "assistant_now": now,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        "web_secret": "test-web-secret-0123456789abcdef",
        "rasa_auth_token": TOKEN,
        "rasa_url": "http://127.0.0.1:9",  # nothing listens: Rasa is down
        "bot_username": "ntsa_assistant_bot",
        **extra,
    }
    return Settings(_env_file=None, **values)


def expected_paragraphs(topic: Topic, lang: str, now: datetime) -> list[str]:
    reply = answer(topic, lang, now, channel=Channel.WEB)  # type: ignore[arg-type]
    text = reply.text if reply.more is None else f"{reply.text}\n{reply.more}"
    return [line for line in text.split("\n") if line.strip()]


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await aiohttp_client(create_app(settings(tmp_path)))


# --- routing and languages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        ("sw-KE,sw;q=0.9,en;q=0.8", "sw"),
        ("en-GB,en;q=0.9", "en"),
        ("sw, en", "sw"),
        ("en, sw", "en"),
        ("fr-FR, en;q=0.3, sw;q=0.8", "sw"),
        ("sw;q=0, en;q=0.1", "en"),
        ("fr, de", "en"),
        ("sw;q=bad, *;q=0.5", "en"),
        ("", "en"),
    ],
)
async def test_the_root_redirects_by_accept_language(client, accept_language, lang):
    response = await client.get(
        "/", headers={"Accept-Language": accept_language}, allow_redirects=False
    )
    assert response.status == 302
    assert response.headers["Location"] == f"/{lang}/"
    assert response.headers["Vary"] == "Accept-Language"


async def test_a_language_without_its_slash_moves_to_it(client):
    response = await client.get("/sw", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (301, "/sw/")


async def test_an_unknown_address_is_a_polite_page_in_both_languages(client):
    response = await client.get("/fr/")
    body = await response.text()
    assert response.status == 404
    assert "There is no such page here." in body
    assert "Hakuna ukurasa kama huu hapa." in body
    assert '<div lang="sw">' in body


@pytest.mark.parametrize(("lang", "other"), [("en", "sw"), ("sw", "en")])
async def test_each_language_lists_every_topic_with_its_anchor_and_links(client, lang, other):
    response = await client.get(f"/{lang}/")
    body = await response.text()
    assert response.status == 200
    assert f'<html lang="{lang}">' in body
    assert '<a class="skip" href="#main">' in body
    assert '<main id="main"' in body
    titles = {button.intent: button.title for button in menu(lang).buttons}  # type: ignore[arg-type]
    found = sections(body)
    assert list(found) == [ANCHORS[topic] for topic in MENU_TOPICS]
    for topic in MENU_TOPICS:
        name = ANCHORS[topic]
        assert f'<h2 id="{name}-title">{escape(titles[f"faq_{topic.value}"])}</h2>' in body
        assert f'<a href="/{other}/#{name}" lang="{other}" hreflang="{other}">' in body
        assert f'href="https://t.me/ntsa_assistant_bot?start={name}"' in body
        assert found[name]["paragraphs"] == expected_paragraphs(topic, lang, BEFORE)
    # The headings go in order: one h1, then an h2 per topic, nothing deeper.
    assert re.findall(r"<h(\d)", body) == ["1"] + ["2"] * len(MENU_TOPICS)


async def test_the_other_languages_link_is_in_that_language(client):
    english = await (await client.get("/en/")).text()
    swahili = await (await client.get("/sw/")).text()
    assert '<a href="/sw/" lang="sw" hreflang="sw">Soma kwa Kiswahili</a>' in english
    assert '<a href="/en/" lang="en" hreflang="en">Read in English</a>' in swahili
    assert 'lang="sw" hreflang="sw">Jibu hili kwa Kiswahili</a>' in english
    assert 'lang="en" hreflang="en">This answer in English</a>' in swahili


async def test_without_a_bot_username_there_are_no_telegram_links(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(settings(tmp_path, bot_username=None)))
    body = await (await client.get("/en/")).text()
    assert "t.me/" not in body
    assert "Ask the NTSA assistant on Telegram" not in body


# --- the same answers as the bot, for the day ------------------------------------------------


@pytest.mark.parametrize("now", [BEFORE, DURING, AFTER])
async def test_the_page_never_speaks_of_the_chats_buttons(aiohttp_client, tmp_path, now):
    """The same facts as the bot, but no "tap the button below" where there is none."""
    client = await aiohttp_client(create_app(settings(tmp_path, now)))
    chat_words = re.compile(r"\b(tap|button|bonyeza|kitufe|gusa)\b|\bTopics\b|\bMada\b", re.I)
    for lang in ("en", "sw"):
        found = sections(await (await client.get(f"/{lang}/")).text())
        for name, section in found.items():
            spoken = [p for p in section["paragraphs"] if chat_words.search(p)]
            assert spoken == [], f"{lang} #{name}"


@pytest.mark.parametrize(
    ("now", "english", "as_of"),
    [
        (
            BEFORE,
            "TIMS goes offline at midnight at the end of Friday, 29 December 2023 (in 19 days) "
            "and stays off until the end of Monday, 1 January 2024. In that window no NTSA "
            "service can be done online.",
            "These answers are correct for Sunday, 10 December 2023.",
        ),
        (
            DURING,
            "TIMS is offline right now and stays off until the end of Monday, 1 January 2024. "
            "Until then no NTSA service can be done online.",
            "These answers are correct for Sunday, 31 December 2023.",
        ),
        (
            AFTER,
            "TIMS went offline at midnight at the end of Friday, 29 December 2023. Since "
            "Tuesday, 2 January 2024 every NTSA online service runs on e-Citizen: sign in "
            "there with your e-Citizen username and password.",
            "These answers are correct for Friday, 5 January 2024.",
        ),
    ],
)
async def test_the_page_knows_the_day(aiohttp_client, tmp_path, now, english, as_of):
    client = await aiohttp_client(create_app(settings(tmp_path, now)))
    for lang in ("en", "sw"):
        body = await (await client.get(f"/{lang}/")).text()
        found = sections(body)
        for topic in MENU_TOPICS:
            assert found[ANCHORS[topic]]["paragraphs"] == expected_paragraphs(topic, lang, now)
        if lang == "en":
            assert found["closure"]["paragraphs"][0] == english
            assert as_of in body


async def test_the_page_shows_when_its_content_was_last_reviewed(client):
    assert (
        "Content last reviewed: Thursday, 14 December 2023."
        in await (await client.get("/en/")).text()
    )
    assert (
        "Maudhui yalikaguliwa mara ya mwisho: Alhamisi, 14 Desemba 2023."
        in await (await client.get("/sw/")).text()
    )


async def test_a_thanked_topic_is_open_and_says_thank_you(client):
    body = await (await client.get("/en/?thanks=pending-transactions")).text()
    found = sections(body)
    assert found["pending-transactions"]["open"] is True
    assert found["closure"]["open"] is False
    assert f'<p class="thanks" role="status">{t("en", "feedback.thanks")}</p>' in body


async def test_every_topic_carries_the_feedback_form(client):
    response = await client.get("/sw/")
    body = await response.text()
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
    assert token is not None
    assert body.count('<form method="post" action="/sw/feedback">') == len(MENU_TOPICS)
    assert body.count('<button type="submit" name="helpful" value="yes">Ndiyo</button>') == 8


# --- JSON-LD ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "sw"])
async def test_json_ld_is_an_faq_page_with_one_answer_per_topic(client, lang):
    body = await (await client.get(f"/{lang}/")).text()
    [raw] = JSON_LD.findall(body)
    data = json.loads(raw)
    titles = [button.title for button in menu(lang).buttons]  # type: ignore[arg-type]
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "FAQPage"
    assert [q["name"] for q in data["mainEntity"]] == titles
    for question, topic in zip(data["mainEntity"], MENU_TOPICS, strict=True):
        assert question["@type"] == "Question"
        assert question["acceptedAnswer"]["@type"] == "Answer"
        assert question["acceptedAnswer"]["text"] == "\n".join(
            expected_paragraphs(topic, lang, BEFORE)
        )


def test_json_ld_cannot_end_its_script_element():
    hostile = "</script><script>alert(1)</script> & <!--"
    view = TopicView(Topic.WHY, "why-the-move", hostile, hostile, None, None)
    text = str(json_ld("en", [view]))
    assert re.findall(r"[<>&]", text) == []
    assert json.loads(text)["mainEntity"][0]["name"] == hostile


# --- caching, compression, weight, health -------------------------------------------------


async def test_an_unchanged_page_is_not_sent_again(client):
    first = await client.get("/en/")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', etag)
    assert "no-cache" in first.headers["Cache-Control"]
    again = await client.get("/en/", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    other = await client.get("/en/", headers={"If-None-Match": 'W/"0000"'})
    assert other.status == 200


async def test_the_etag_changes_with_the_day(aiohttp_client, tmp_path):
    clock = SettableClock(BEFORE)
    client = await aiohttp_client(create_app(settings(tmp_path), clock=clock))
    etag = (await client.get("/en/")).headers["ETag"]
    clock.instant = BEFORE.replace(day=11)
    later = await client.get("/en/", headers={"If-None-Match": etag})
    assert later.status == 200
    assert "(in 18 days)" in await later.text()


async def test_the_page_is_gzipped_and_under_100_kb(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(settings(tmp_path)), auto_decompress=False)
    for lang in ("en", "sw"):
        response = await client.get(f"/{lang}/", headers={"Accept-Encoding": "gzip"})
        raw = await response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["Vary"]
        page = gzip.decompress(raw)
        assert page.startswith(b"<!doctype html>")
        # Everything the page needs is in it (inline style and script, no fonts, no images).
        assert len(page) < 100_000
        assert len(raw) < 100_000 / 10
        assert b'<link rel="stylesheet"' not in page
        assert re.findall(rb"<img|src=", page) == []
    plain = await client.get("/en/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


async def test_only_our_own_inline_style_and_script_may_run(client):
    response = await client.get("/en/")
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "form-action 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_health(client):
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


# --- search ---------------------------------------------------------------------------------

SEARCHES = {
    "When does TIMS close?": ("faq_closure", 0.93),
    "nitathibitisha akaunti yangu vipi": ("faq_validate", 0.88),
    "pending transactions zangu zitakuwaje": ("faq_pending", 0.81),
    "faq_why": ("faq_why", 1.0),
    "hello there": ("greet", 0.99),
    "sign me up for a class": ("training_register", 0.9),
    "I want to talk to a person": ("human_handoff", 0.95),
}


@pytest.fixture
async def with_rasa(aiohttp_client, aiohttp_server, tmp_path):
    rasa = FakeRasaParse(TOKEN, SEARCHES)
    server = await aiohttp_server(rasa.app())
    app = create_app(settings(tmp_path, rasa_url=str(server.make_url("/"))))
    return rasa, await aiohttp_client(app)


@pytest.mark.parametrize(
    ("lang", "query", "location"),
    [
        ("en", "When does TIMS close?", "/en/#closure"),
        ("sw", "nitathibitisha akaunti yangu vipi", "/sw/#validating-your-account"),
        ("sw", "pending transactions zangu zitakuwaje", "/sw/#pending-transactions"),
        ("en", "sign me up for a class", "/en/#training"),
        ("en", "I want to talk to a person", "/en/#more-help"),
    ],
)
async def test_search_jumps_to_the_topic_rasa_understands(with_rasa, lang, query, location):
    rasa, client = with_rasa
    response = await client.get(f"/{lang}/search", params={"q": query}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == location
    assert rasa.texts == [query]


async def test_a_query_is_never_sent_to_rasa_as_an_intent(with_rasa):
    rasa, client = with_rasa
    response = await client.get("/en/search", params={"q": "  /faq_why"}, allow_redirects=False)
    assert rasa.texts == ["faq_why"]  # the leading slash is gone before Rasa reads it
    assert response.headers["Location"] == "/en/#why-the-move"


@pytest.mark.parametrize("query", ["hello there", "training sessions"])
async def test_an_unsure_rasa_or_a_non_topic_intent_falls_back_to_keywords(with_rasa, query):
    rasa, client = with_rasa
    response = await client.get("/en/search", params={"q": query})
    body = await response.text()
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert rasa.texts == [query]
    assert "<h1>Search results</h1>" in body


async def test_a_stuck_rasa_is_given_up_for_the_keywords(with_rasa):
    rasa, client = with_rasa
    rasa.hang = True
    started = time.monotonic()
    response = await client.get("/en/search", params={"q": "When does TIMS close?"})
    assert response.status == 200
    assert result_titles(await response.text())[0] == "When TIMS closes"
    assert time.monotonic() - started < RASA_PARSE_TIMEOUT_SECONDS + 1


@pytest.fixture
async def rasa_down(aiohttp_client, tmp_path):
    return await aiohttp_client(
        create_app(settings(tmp_path, rasa_url=f"http://127.0.0.1:{free_port()}"))
    )


def result_titles(body: str) -> list[str]:
    return re.findall(r'<li><a href="/\w\w/#[\w-]+">([^<]+)</a>', body)


@pytest.mark.parametrize(
    ("lang", "query", "first", "intro"),
    [
        (
            "en",
            "pending applications",
            "Pending applications",
            "Questions that match “pending applications”:",
        ),
        ("en", "free TRAINING", "Free training", "Questions that match “free TRAINING”:"),
        ("sw", "mafunzo", "Mafunzo ya bure", "Maswali yanayolingana na “mafunzo”:"),
        (
            "sw",
            "shirika KRA PIN",
            "Kuunganisha shirika",
            "Maswali yanayolingana na “shirika KRA PIN”:",
        ),
        # Code-mixed: English words on the Kiswahili page, answered in Kiswahili.
        (
            "sw",
            "organisation yangu link",
            "Kuunganisha shirika",
            "Maswali yanayolingana na “organisation yangu link”:",
        ),
        # Accents and case are folded.
        ("en", "VALIDÁTING", "Validating your account", "Questions that match “VALIDÁTING”:"),
    ],
)
async def test_with_rasa_down_the_keywords_answer(rasa_down, lang, query, first, intro):
    response = await rasa_down.get(f"/{lang}/search", params={"q": query})
    body = await response.text()
    assert response.status == 200
    assert f"<p>{intro}</p>" in body
    assert result_titles(body)[0] == first
    assert f'value="{query}"' in body  # the form keeps the query


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "Nothing found for “xyzzy plugh”. Try other words, or read all the questions."),
        (
            "sw",
            "Hakuna kilichopatikana kwa “xyzzy plugh”. Jaribu maneno mengine, au soma maswali "
            "yote.",
        ),
    ],
)
async def test_nothing_found_says_so(rasa_down, lang, text):
    body = await (await rasa_down.get(f"/{lang}/search", params={"q": "xyzzy plugh"})).text()
    assert f'<p role="status">{text}</p>' in body
    assert result_titles(body) == []


async def test_an_empty_search_goes_back_to_the_page(rasa_down):
    response = await rasa_down.get("/sw/search", params={"q": "   "}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/sw/")


async def test_a_hostile_query_is_shown_escaped(rasa_down):
    query = '<script>alert("x")</script>'
    body = await (await rasa_down.get("/en/search", params={"q": query})).text()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


# --- the process ----------------------------------------------------------------------------


async def test_the_web_process_answers_health_and_logs_json(tmp_path):
    port = free_port()
    log = LOG_DIR / "web-unit.log"
    log.unlink(missing_ok=True)
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "LOG_LEVEL": "INFO",
    }
    running = RunningService(web_service(port, env=env, log_path=log), f"http://127.0.0.1:{port}")
    await running.start()
    await running.stop()
    first = json.loads(log.read_text("utf-8").splitlines()[0])
    assert first["logger"] == "web"
    assert first["msg"] == f"FAQ page on http://127.0.0.1:{port}/"
