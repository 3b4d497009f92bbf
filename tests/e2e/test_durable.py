"""Conversations that outlive Rasa, stored without anything personal in clear.

Rasa servers of this module's own (``tools.stack.rasa_service`` on free ports), so that
killing one never touches the session's: one on SQLite (the ``make run`` shape), one on
PostgreSQL with two Sanic workers (the production shape); both lock conversations in
Redis. The session's gateway is pointed at each in turn and back at the session's Rasa at
the end; the action server and the fake SMS gateway are the session's (``status_stack``).
Each server reaches its tracker database and Redis through a TCP proxy or a folder the
tests can cut off, to see Rasa's readiness say why it is not ready.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ntsa_assistant.core.i18n import spell_datetime, spell_short_datetime, t
from ntsa_assistant.core.masking import mask_id_number, mask_kra_pin, mask_phone
from ntsa_assistant.storage.engine import create_engine, create_session_factory
from ntsa_assistant.storage.models import Audience
from tests.support.databases import (
    fresh_postgres_database,
    postgres_server_url,
    redis_server_url,
)
from tests.support.durable import (
    DurableRasa,
    FolderAway,
    forget_status_attempts,
    readiness,
    readiness_becomes,
    run_tracker_probe,
    started_rasa,
    through,
    tracker_rows,
)
from tests.support.fakes import FakeSmsGateway
from tests.support.processes import LOG_DIR, free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.training import add_session
from tools.stack import ROOT, rasa_service, tracker_store_url

pytestmark = pytest.mark.e2e

WAIT = 40
# Demo records: 21000102 has pending applications, 21000103 nothing pending.
PENDING_ID, PENDING_PHONE = "21000102", "+254700000102"
QUIET_ID, QUIET_PHONE = "21000103", "+254700000103"
KRA_PIN = "P051234567K"
NAME = "Wanjiru Kamau"
# A session of this module's own, the earliest upcoming one under the status clock
# (2023-12-10): first in the menu, and ten days off, so no reminder falls due meanwhile.
SESSION_CODE = "TRN-DUR-01"
SESSION_STARTS = datetime(2023, 12, 20, 7, 0, tzinfo=UTC)
READY = (200, {"ready": True})

Point = Callable[[str], Awaitable[None]]


def spellings(phone: str) -> list[str]:
    """How a Kenyan phone may be written: +2547…, 2547…, 07…, and the bare 7…."""
    national = phone.removeprefix("+254")
    return [phone, phone.removeprefix("+"), "0" + national, national]


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


async def say(telegram, chat_id: int, text: str, count: int = 1) -> str:
    telegram.push_text(chat_id, text)
    return texts(await telegram.wait_for_messages(chat_id, count=count, timeout=WAIT))


async def share(telegram, chat_id: int, phone: str) -> str:
    telegram.share_contact(chat_id, phone)
    return texts(await telegram.wait_for_messages(chat_id, count=1, timeout=WAIT))


async def press(telegram, chat_id: int, title: str) -> str:
    telegram.press_button(chat_id, title)
    return texts(await telegram.wait_for_messages(chat_id, count=1, timeout=WAIT))


async def give_id(telegram, chat_id: int, id_number: str) -> None:
    """Starts a status check and gives the ID: the bot asks for proof."""
    assert await say(telegram, chat_id, "check my status") == t("en", "status.ask_id")
    prompt = await say(telegram, chat_id, id_number)
    assert prompt == "\n\n".join(
        [
            t("en", "status.ask_proof", id=mask_id_number(id_number)),
            t("en", "status.code_alternative"),
        ]
    )


def session_button(menu: dict) -> str:
    """The menu button of this module's session (labelled with its short date)."""
    when = spell_short_datetime("en", SESSION_STARTS)
    rows = (menu.get("reply_markup") or {}).get("inline_keyboard", [])
    [title] = [b["text"] for row in rows for b in row if when in b["text"]]
    return title


def in_clear(rows: list[dict], chats: set[int], secrets: list[str]) -> list[tuple[str, str]]:
    """(column, secret) for each secret found in the rows of ``chats``; checks the types of
    the columns that cannot hold text."""
    ours = [row for row in rows if row["sender_id"] in {str(c) for c in chats}]
    assert {row["sender_id"] for row in ours} == {str(c) for c in chats}
    found = []
    for row in ours:
        assert isinstance(row["id"], int)
        assert isinstance(row["timestamp"], float)
        for column in ("type_name", "intent_name", "action_name", "data"):
            found += [(column, s) for s in secrets if s in (row[column] or "")]
    return found


@pytest.fixture
def fresh_status_checks(e2e_database: str, sms_gateway: FakeSmsGateway) -> None:
    forget_status_attempts(e2e_database)
    sms_gateway.messages.clear()
    sms_gateway.failing = False


@pytest.fixture(scope="module")
async def training_session(e2e_database: str) -> str:
    engine = create_engine(e2e_database)
    try:
        factory = create_session_factory(engine)
        await add_session(
            factory, SESSION_CODE, 20, SESSION_STARTS, audience=Audience.MOTOR_DEALERS
        )
    finally:
        await engine.dispose()
    return SESSION_CODE


@pytest.fixture(scope="module")
async def point_gateway(status_stack, gateway, rasa_server, telegram) -> AsyncIterator[Point]:
    """Points the session's gateway at a Rasa server; at the session's again at the end."""
    current = rasa_server.url

    async def point(url: str) -> None:
        nonlocal current
        if url != current:
            await gateway.restart(RASA_URL=url)
            await telegram.wait_until_polling(timeout=60)
            current = url

    yield point
    await point(rasa_server.url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def durable(
    request: pytest.FixtureRequest,
    action_server,
    point_gateway: Point,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DurableRasa]:
    """This module's Rasa on one backend, the gateway pointed at it."""
    backend = request.param
    redis = make_url(redis_server_url())
    async with AsyncExitStack() as stack:
        redis_proxy = await stack.enter_async_context(TcpProxy(redis.host, redis.port or 6379))
        env = {"REDIS_URL": through(str(redis), redis_proxy)}
        if backend == "sqlite":
            database = tmp_path_factory.mktemp("durable") / "trackers" / "rasa-trackers.db"
            url = f"sqlite:///{database}"
            rasa_url, outage = url, FolderAway(database)
        else:
            app_url = await stack.enter_async_context(
                fresh_postgres_database(postgres_server_url())
            )
            url = tracker_store_url(app_url)
            parsed = make_url(url)
            outage = await stack.enter_async_context(TcpProxy(parsed.host, parsed.port or 5432))
            rasa_url = through(url, outage)
            env["SANIC_WORKERS"] = "2"  # Rasa's own workers, sharing Redis locks
        running = await stack.enter_async_context(
            started_rasa(backend, action_server.url, rasa_url, env)
        )
        await point_gateway(running.url)
        yield DurableRasa(backend, running, url, outage, redis_proxy)


@pytest.mark.usefixtures("fresh_status_checks")
async def test_status_checks_leave_no_id_phone_or_code_in_the_tracker_store(
    durable: DurableRasa, telegram, sms_gateway: FakeSmsGateway, chat_id: int
) -> None:
    by_contact, by_code = chat_id, chat_id + 300_000
    await give_id(telegram, by_contact, PENDING_ID)
    answer = await share(telegram, by_contact, PENDING_PHONE)
    assert "TIMS-DL-2023-000102" in answer

    await give_id(telegram, by_code, QUIET_ID)
    sent = await say(telegram, by_code, "send me a code")
    assert sent == t("en", "status.code_sent", ending="03")
    [code] = await sms_gateway.wait_for_codes(QUIET_PHONE, 1)
    assert t("en", "status.nothing_pending") in await say(telegram, by_code, code)

    rows = await tracker_rows(durable.tracker_url)
    # Both conversations are there (Rasa did not quietly keep them in memory) …
    kinds = {row["type_name"] for row in rows if row["sender_id"] == str(by_code)}
    assert {"user", "bot", "slot", "action", "session_started"} <= kinds
    # … and nothing personal is readable in them.
    secrets = [PENDING_ID, QUIET_ID, code, *spellings(PENDING_PHONE), *spellings(QUIET_PHONE)]
    assert in_clear(rows, {by_contact, by_code}, secrets) == []


@pytest.mark.usefixtures("fresh_status_checks")
async def test_rasa_killed_mid_registration_and_mid_status_check_continues_both(
    durable: DurableRasa, telegram, training_session: str, chat_id: int
) -> None:
    registering, checking = chat_id, chat_id + 300_000
    phone = "+254711000" + str(chat_id)[-3:]

    assert await say(telegram, registering, "I want to attend a training") == t(
        "en", "training.ask_audience"
    )
    telegram.press_button(registering, t("en", "training.audience.motor_dealers"))
    [menu] = await telegram.wait_for_messages(registering, count=1, timeout=WAIT)
    assert menu["text"].splitlines()[0] == t("en", "training.ask_session")
    chosen = await press(telegram, registering, session_button(menu))
    assert chosen == t("en", "training.ask_name")
    assert await say(telegram, registering, NAME) == t("en", "training.ask_phone")
    await give_id(telegram, checking, PENDING_ID)

    await durable.crash_and_restart()

    # The registration goes on from the phone question, with the name given before.
    assert await share(telegram, registering, phone) == t("en", "training.ask_email")
    assert await press(telegram, registering, t("en", "training.button_skip")) == t(
        "en", "training.ask_kra_pin"
    )
    summary = await say(telegram, registering, KRA_PIN)
    assert summary == t(
        "en",
        "training.confirm",
        title=f"Session {training_session}",
        when=spell_datetime("en", SESSION_STARTS),
        name=NAME,
        phone=mask_phone(phone),
        email=t("en", "training.no_email"),
        pin_line=t("en", "training.confirm_pin_line", pin=mask_kra_pin(KRA_PIN)),
    )
    # The status check goes on from the proof: the ID given before the crash is answered.
    answer = await share(telegram, checking, PENDING_PHONE)
    assert "TIMS-DL-2023-000102" in answer
    assert "waiting for your payment" in answer

    rows = await tracker_rows(durable.tracker_url)
    secrets = [NAME, KRA_PIN, PENDING_ID, *spellings(phone), *spellings(PENDING_PHONE)]
    assert in_clear(rows, {registering, checking}, secrets) == []


async def test_rasa_says_when_and_why_it_is_not_ready(durable: DurableRasa) -> None:
    assert await readiness(durable.url) == READY

    await durable.tracker_outage.cut()
    try:
        down = (503, {"ready": False, "reason": "tracker store unreachable"})
        assert await readiness_becomes(durable.url, down) == down
    finally:
        await durable.tracker_outage.restore()
    assert await readiness_becomes(durable.url, READY) == READY

    await durable.redis_outage.cut()
    try:
        down = (503, {"ready": False, "reason": "lock store unreachable"})
        assert await readiness_becomes(durable.url, down) == down
    finally:
        await durable.redis_outage.restore()
    assert await readiness_becomes(durable.url, READY) == READY


async def test_rasa_without_a_model_says_so(tmp_path: Path) -> None:
    port = free_port()
    no_actions = f"http://127.0.0.1:{free_port()}"  # no message is sent: no action is run
    env = {"TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'trackers.db'}"}
    log = LOG_DIR / "rasa-durable-no-model.log"
    service = rasa_service(port, no_actions, tmp_path / "no-model.tar.gz", env, log_path=log)
    await service.start()
    try:
        down = (503, {"ready": False, "reason": "no model loaded"})
        assert await readiness_becomes(f"http://127.0.0.1:{port}", down, within=240) == down
    finally:
        await service.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_store_seals_each_event_and_reads_only_under_its_own_key(
    backend: str, tmp_path: Path
) -> None:
    """nlu/ntsa_rasa's tracker store driven directly (tests/support/rasa_tracker_probe.py):
    one key writes, another finds nothing, writes its own, and the first still reads its."""
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'trackers.db'}"
        else:
            server = postgres_server_url()
            url = tracker_store_url(
                await stack.enter_async_context(fresh_postgres_database(server))
            )
        seen = json.loads(await run_tracker_probe(url))

    said = ["my id is 21000102", "call me on +254700000102"]
    assert seen["first_key_reads"] == said
    for row in seen["rows"]:
        assert not [s for s in ["21000102", *spellings("+254700000102")] if s in json.dumps(row)]
    # Only names the domain knows stay in clear: a made-up intent name is not kept.
    user_rows = [row for row in seen["rows"] if row["type_name"] == "user"]
    assert [row["intent_name"] for row in user_rows] == ["status_check", None]

    assert seen["second_key_reads"] == []
    assert seen["warnings"] == [
        "WARNING: The tracker store holds conversations sealed with another "
        "TRACKER_STORE_SECRET; they are ignored and those chats start afresh (logged once)."
    ]
    assert seen["second_key_reads_after_save"] == ["hello again", "and once more"]
    assert seen["second_key_event_count"] == seen["second_key_tracker_event_count"]
    assert seen["first_key_still_reads"] == said
    # A row altered in the database is skipped, never believed.
    assert seen["after_tamper_reads"] == ["hello again"]
    assert seen["log"][-1] == "ERROR: A tracker event failed authentication and was skipped."
    assert seen["postgres_schema"] == (["events"] if backend == "postgresql" else None)


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        # make run's default: a file of Rasa's own beside the app's (relative to the repo).
        ("sqlite+aiosqlite:///var/assistant.db", f"sqlite:///{ROOT / 'var' / 'rasa-trackers.db'}"),
        ("sqlite+aiosqlite:////srv/data/a.db", "sqlite:////srv/data/rasa-trackers.db"),
        # The same PostgreSQL database, through psycopg2 (libpq spells asyncpg's ssl sslmode).
        (
            "postgresql+asyncpg://assistant:p%40ss@db:5432/assistant?ssl=require",
            "postgresql+psycopg2://assistant:p%40ss@db:5432/assistant?sslmode=require",
        ),
    ],
)
def test_the_tracker_store_follows_the_apps_database(database_url: str, expected: str) -> None:
    assert tracker_store_url(database_url) == expected
