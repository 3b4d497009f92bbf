"""``POST /{lang}/feedback`` through real HTTP: CSRF, origin, limits, and what is stored.

The app under test holds only the feedback feature and a stub page that prints the token
its forms would carry, so these tests do not depend on the page's templates.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq.feedback import FeedbackLimits
from ntsa_assistant.storage.engine import (
    SessionFactory,
    create_engine,
    create_session_factory,
)
from ntsa_assistant.storage.models import FaqFeedback
from ntsa_assistant.storage.schema import upgrade_schema
from web import feedback

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


async def stub_page(request: web.Request) -> web.Response:
    return web.Response(text=f"token={request[feedback.CSRF_TOKEN]}", content_type="text/html")


def settings(**extra: object) -> Settings:
    values: dict[str, object] = {"web_secret": SecretStr("s3cret-for-tests"), **extra}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
    await upgrade_schema(url)
    engine = create_engine(url)
    yield create_session_factory(engine)
    await engine.dispose()


def make_client_factory(aiohttp_client, sessions: SessionFactory):
    async def make(per_hour: int = 10, **extra: object) -> TestClient:
        app = web.Application()
        app.router.add_get("/{lang}/", stub_page)
        feedback.setup(
            app,
            settings(**extra),
            sessions=sessions,
            limits=FeedbackLimits(per_hour=per_hour),
            clock=Clock(NOW),
        )
        return await aiohttp_client(app)

    return make


@pytest.fixture
def make_client(aiohttp_client, sessions):
    return make_client_factory(aiohttp_client, sessions)


async def page_token(client: TestClient, lang: str = "en") -> str:
    response = await client.get(f"/{lang}/")
    assert response.status == 200
    match = re.fullmatch(r"token=([0-9a-f]{64})", await response.text())
    assert match is not None
    return match.group(1)


async def stored(sessions: SessionFactory) -> list[tuple[str, str, bool]]:
    async with sessions() as session:
        rows = (await session.scalars(select(FaqFeedback).order_by(FaqFeedback.id))).all()
    return [(row.anchor, row.language.value, row.helpful) for row in rows]


def short_page(lang: str, key: str) -> str:
    return f"<p>{t(lang, f'feedback.{key}')}</p>"


async def test_a_page_sets_a_private_cookie_and_hands_its_forms_a_token(make_client):
    client = await make_client()
    response = await client.get("/en/")
    cookie = response.cookies[feedback.COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain http here; see the https test
    assert response.headers["Vary"] == "Cookie"
    # The same browser keeps its cookie and its token.
    again = await client.get("/en/")
    assert feedback.COOKIE not in again.cookies
    assert await again.text() == await response.text()


async def test_over_https_behind_a_trusted_proxy_the_cookie_is_secure(make_client):
    client = await make_client(web_trust_forwarded=True)
    response = await client.get("/sw/", headers={"X-Forwarded-Proto": "https"})
    assert response.cookies[feedback.COOKIE]["secure"] is True


async def test_a_good_vote_is_stored_and_sent_back_to_its_topic(make_client, sessions):
    client = await make_client()
    token = await page_token(client, "sw")
    response = await client.post(
        "/sw/feedback",
        data={"topic": "pending-transactions", "helpful": "no", "csrf": token},
        headers={"Origin": str(client.make_url("")).rstrip("/")},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == ("/sw/?thanks=pending-transactions#pending-transactions")
    assert await stored(sessions) == [("pending-transactions", "sw", False)]


async def test_a_vote_without_origin_or_referer_rests_on_the_token(make_client, sessions):
    client = await make_client()
    token = await page_token(client)
    response = await client.post(
        "/en/feedback",
        data={"topic": "closure", "helpful": "yes", "csrf": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert await stored(sessions) == [("closure", "en", True)]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token: {}, id="missing"),
        pytest.param(lambda token: {"csrf": ""}, id="empty"),
        pytest.param(lambda token: {"csrf": "0" * 64}, id="forged"),
        pytest.param(lambda token: {"csrf": token[:-1] + "x"}, id="altered"),
    ],
)
async def test_a_missing_or_forged_token_is_refused_politely_and_nothing_stored(
    make_client, sessions, forge
):
    client = await make_client()
    token = await page_token(client, "sw")
    response = await client.post(
        "/sw/feedback",
        data={"topic": "closure", "helpful": "yes", **forge(token)},
        allow_redirects=False,
    )
    assert response.status == 403
    body = await response.text()
    assert short_page("sw", "refused") in body
    assert '<html lang="sw">' in body
    assert await stored(sessions) == []


async def test_a_token_from_another_browser_is_refused(make_client, sessions):
    victim = await make_client()
    attacker = await make_client()
    stolen = await page_token(attacker)  # the attacker's own, valid for the attacker's cookie
    await page_token(victim)
    response = await victim.post(
        "/en/feedback", data={"topic": "closure", "helpful": "yes", "csrf": stolen}
    )
    assert response.status == 403
    assert await stored(sessions) == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.example"}, id="origin"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Referer": "https://evil.example/en/"}, id="referer"),
    ],
)
async def test_a_cross_origin_form_is_refused_even_with_a_good_token(
    make_client, sessions, headers
):
    client = await make_client()
    token = await page_token(client)
    response = await client.post(
        "/en/feedback",
        data={"topic": "closure", "helpful": "yes", "csrf": token},
        headers=headers,
        allow_redirects=False,
    )
    assert response.status == 403
    assert short_page("en", "refused") in await response.text()
    assert await stored(sessions) == []


async def test_the_public_page_address_counts_as_our_origin(make_client, sessions):
    client = await make_client(faq_page_url="https://faq.example.go.ke/")
    token = await page_token(client)
    response = await client.post(
        "/en/feedback",
        data={"topic": "training", "helpful": "yes", "csrf": token},
        headers={"Referer": "https://faq.example.go.ke/en/#training"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert await stored(sessions) == [("training", "en", True)]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"topic": "no-such-topic", "helpful": "yes"}, id="topic"),
        pytest.param({"topic": "greet", "helpful": "yes"}, id="not-a-page-topic"),
        pytest.param({"topic": "closure", "helpful": "maybe"}, id="vote"),
        pytest.param({"topic": "closure"}, id="no-vote"),
    ],
)
async def test_a_bad_topic_or_vote_is_answered_politely_and_nothing_stored(
    make_client, sessions, data
):
    client = await make_client()
    token = await page_token(client)
    response = await client.post("/en/feedback", data={**data, "csrf": token})
    assert response.status == 400
    assert short_page("en", "refused") in await response.text()
    assert await stored(sessions) == []


async def test_past_the_limit_the_vote_gets_429_with_retry_after(make_client, sessions):
    client = await make_client(per_hour=2)
    token = await page_token(client)
    for topic in ("closure", "training"):
        response = await client.post(
            "/en/feedback",
            data={"topic": topic, "helpful": "yes", "csrf": token},
            allow_redirects=False,
        )
        assert response.status == 303
    response = await client.post(
        "/en/feedback",
        data={"topic": "more-help", "helpful": "yes", "csrf": token},
        allow_redirects=False,
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "3600"
    assert short_page("en", "too_many") in await response.text()
    assert await stored(sessions) == [("closure", "en", True), ("training", "en", True)]


async def test_the_limit_counts_the_proxys_client_only_when_trusted(make_client, sessions):
    trusting = await make_client(per_hour=1, web_trust_forwarded=True)
    token = await page_token(trusting)
    for n, topic in enumerate(("closure", "training")):
        response = await trusting.post(
            "/en/feedback",
            data={"topic": topic, "helpful": "yes", "csrf": token},
            # What the client sent first, then the address our proxy appended.
            headers={"X-Forwarded-For": f"203.0.113.50, 198.51.100.{n}"},
            allow_redirects=False,
        )
        assert response.status == 303  # two addresses, one vote each
    naive = await make_client(per_hour=1)
    token = await page_token(naive)
    for n, (topic, status) in enumerate((("why-the-move", 303), ("more-help", 429))):
        response = await naive.post(
            "/en/feedback",
            data={"topic": topic, "helpful": "yes", "csrf": token},
            headers={"X-Forwarded-For": f"198.51.100.{n + 10}"},  # ignored: not trusted
            allow_redirects=False,
        )
        assert response.status == status


async def test_the_page_does_not_start_without_its_secret():
    with pytest.raises(feedback.MissingSecret, match="WEB_SECRET is not set"):
        feedback.setup(web.Application(), settings(web_secret=None))


async def test_with_the_database_down_the_vote_gets_a_polite_503(aiohttp_client, tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'not-migrated.db'}")
    client = await make_client_factory(aiohttp_client, create_session_factory(engine))()
    token = await page_token(client)
    response = await client.post(
        "/en/feedback", data={"topic": "closure", "helpful": "yes", "csrf": token}
    )
    await engine.dispose()
    assert response.status == 503
    assert response.headers["Retry-After"] == "60"
    assert short_page("en", "unavailable") in await response.text()
