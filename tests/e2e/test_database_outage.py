"""The database unreachable for a while, end to end: people get one polite apology per
message, in their language; once it is back every process works again without a restart,
conversations go on where they were, and a registration cut at its commit is there whole
or not at all — and its person is told which.

The processes are this module's own, on a PostgreSQL database of their own (migrated, the
demo records loaded): the action server, Rasa (its SQL tracker store) and the gateway (with
an agents' desk, so its handoff gate reads the database on every message) all reach it
through a TCP proxy (tests/support/tcp_proxy.py) that the tests cut — new connections
refused, open ones reset — and restore. The action server and the gateway run at the
status checks' clock (``STATUS_NOW``), so the FAQ's dates and the demo records agree.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from ntsa_assistant.core.i18n import spell_datetime, spell_short_datetime, t
from ntsa_assistant.core.masking import mask_id_number, mask_phone
from ntsa_assistant.faq import answers as faq
from ntsa_assistant.faq.answers import Topic
from ntsa_assistant.storage.engine import (
    TURN_STATEMENT_TIMEOUT_SECONDS,
    SessionFactory,
    create_engine,
    create_session_factory,
    unreachable,
)
from ntsa_assistant.storage.models import (
    ActivityEvent,
    EventKind,
    Registration,
)
from tests.support.databases import fresh_postgres_database, postgres_server_url
from tests.support.desk import DESK_CHAT_ID, desk_env
from tests.support.fakes import STATUS_NOW
from tests.support.processes import BOT_TOKEN, LOG_DIR, RunningService, free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.telegram_emulator import TelegramEmulator
from tools.stack import (
    MODEL,
    ROOT,
    actions_service,
    gateway_service,
    rasa_service,
    tracker_store_url,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
logger = logging.getLogger(__name__)

WAIT = 40
OUTAGE_SECONDS = 10.0
NOW = datetime.fromisoformat(STATUS_NOW)
# The demo's first motorists' session (200 seats), and a person with pending applications.
SESSION = "TRN-MOT-01"
SESSION_TITLE = "Motorists: logbooks and licences on e-Citizen"
SESSION_STARTS = datetime(2027, 1, 19, 7, 0, tzinfo=UTC)
SESSION_JOIN = "https://meet.example.org/trn-mot-01"
PENDING_ID, PENDING_PHONE = "21000102", "+254700000102"


@dataclass
class Stack:
    telegram: TelegramEmulator
    database: TcpProxy  # between every process and PostgreSQL
    db: SessionFactory  # the test's own way in, not through the proxy


async def _cli(database_url: str, *command: str) -> None:
    cli = Path(sys.executable).parent / "ntsa-assistant"
    process = await asyncio.create_subprocess_exec(
        str(cli),
        *command,
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"ntsa-assistant {' '.join(command)} failed:\n{out.decode()}")


async def _started(exits: AsyncExitStack, service: RunningService) -> RunningService:
    exits.push_async_callback(service.stop)
    await service.start()
    return service


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run the tests with 'make test'")
    server = postgres_server_url()
    async with AsyncExitStack() as exits:
        database_url = await exits.enter_async_context(fresh_postgres_database(server))
        await _cli(database_url, "migrate")
        await _cli(database_url, "demo")
        proxy = await exits.enter_async_context(TcpProxy.to_url(database_url))
        proxied = proxy.url(database_url)
        telegram = await exits.enter_async_context(TelegramEmulator(token=BOT_TOKEN))
        telegram.add_group(DESK_CHAT_ID, "NTSA support desk", is_forum=True)
        env = {"DATABASE_URL": proxied, "LOG_LEVEL": "INFO", "ASSISTANT_NOW": STATUS_NOW}

        port = free_port()
        log = LOG_DIR / "actions-db-outage.log"
        service = actions_service(port, env=env, log_path=log)
        actions = await _started(exits, RunningService(service, f"http://127.0.0.1:{port}"))
        port = free_port()
        rasa_env = {"DATABASE_URL": proxied, "TRACKER_STORE_URL": tracker_store_url(proxied)}
        log = LOG_DIR / "rasa-db-outage.log"
        service = rasa_service(port, actions.url, env=rasa_env, log_path=log)
        rasa = await _started(exits, RunningService(service, f"http://127.0.0.1:{port}"))
        gateway_env = {
            **env,
            **desk_env(),
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "RASA_URL": rasa.url,
            "REMINDER_INTERVAL_SECONDS": "1",  # its database jobs run all through the outage
            "GATEWAY_STATE_PATH": str(tmp_path_factory.mktemp("db-outage") / "bot.pickle"),
            "CHAT_BURST_MESSAGES": "1000",
        }
        service = gateway_service(env=gateway_env, log_path=LOG_DIR / "bot-db-outage.log")
        exits.push_async_callback(service.stop)
        await service.start()
        await telegram.wait_until_polling(timeout=60)

        engine = create_engine(database_url)
        exits.push_async_callback(engine.dispose)
        yield Stack(telegram, proxy, create_session_factory(engine))


class Person:
    """One chat's side of the conversation; each reply is read once, in order, so a
    second answer to an earlier message would show up as the answer to the next one."""

    def __init__(self, stack: Stack, chat_id: int, lang: str = "en") -> None:
        self.tg, self.chat, self.lang = stack.telegram, chat_id, lang

    async def read(self, count: int = 1) -> list[dict]:
        return await self.tg.wait_for_messages(self.chat, count=count, timeout=WAIT)

    async def say(self, text: str, count: int = 1) -> list[str]:
        self.tg.push_text(self.chat, text)
        return [m["text"] for m in await self.read(count)]

    async def press(self, title: str, count: int = 1) -> list[dict]:
        self.tg.press_button(self.chat, title)
        return await self.read(count)

    async def share(self, phone: str, count: int = 1) -> list[str]:
        self.tg.share_contact(self.chat, phone)
        return [m["text"] for m in await self.read(count)]

    def tx(self, key: str, **params: object) -> str:
        return t(self.lang, f"training.{key}", **params)

    async def register_up_to_summary(self, name: str, phone: str) -> None:
        """Motorist, the session, name, phone (shared), no e-mail: the summary is shown."""
        assert await self.say("I want to attend a training") == [self.tx("ask_audience")]
        [menu] = await self.press(self.tx("audience.motorists"))
        assert menu["text"].splitlines()[0] == self.tx("ask_session")
        [ask_name] = await self.press(session_button(menu))
        assert ask_name["text"] == self.tx("ask_name")
        assert await self.say(name) == [self.tx("ask_phone")]
        assert await self.share(phone) == [self.tx("ask_email")]
        [summary] = await self.press(self.tx("button_skip"))
        assert summary["text"] == self.summary(name, phone)

    def summary(self, name: str, phone: str) -> str:
        return self.tx(
            "confirm",
            title=SESSION_TITLE,
            when=spell_datetime(self.lang, SESSION_STARTS),
            name=name,
            phone=mask_phone(phone),
            email=self.tx("no_email"),
            pin_line="",
        )

    def confirmed(self, reference: str) -> str:
        """The calendar file's caption: the confirmation, then the file's own line."""
        confirmation = self.tx(
            "confirmed",
            reference=reference,
            title=SESSION_TITLE,
            when=spell_datetime(self.lang, SESSION_STARTS),
            join_url=SESSION_JOIN,
        )
        return f"{confirmation}\n\n{self.tx('ics_caption', title=SESSION_TITLE)}"


def session_button(menu: dict) -> str:
    when = spell_short_datetime("en", SESSION_STARTS)
    rows = (menu.get("reply_markup") or {}).get("inline_keyboard", [])
    [title] = [b["text"] for row in rows for b in row if when in b["text"]]
    return title


def faq_answer(topic: Topic, lang: str) -> str:
    return faq.answer(topic, lang, NOW).text  # type: ignore[arg-type]


def unavailable(lang: str) -> str:
    return t(lang, "common.apology_unavailable")


def phone_of(chat_id: int) -> str:
    return f"+2547110{chat_id % 100_000:05d}"


async def registrations(db: SessionFactory, chat_id: int) -> list[tuple[str, str]]:
    """(reference, status) of the chat's registrations, as PostgreSQL has them."""
    async with db() as session:
        rows = await session.execute(
            select(Registration.reference, Registration.status)
            .where(Registration.chat_id == chat_id)
            .order_by(Registration.id)
        )
        return [(reference, str(status)) for reference, status in rows.all()]


async def registration_events(db: SessionFactory) -> int:
    """How many registration events the activity record holds (all chats)."""
    async with db() as session:
        counted = await session.scalar(
            select(func.count())
            .select_from(ActivityEvent)
            .where(ActivityEvent.kind == EventKind.REGISTRATION)
        )
        return int(counted or 0)


async def wait_until(moment: float) -> None:
    """Until ``moment`` (monotonic): the outage lasts as long as the fault says."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def test_an_outage_gets_one_apology_per_message_then_everything_works(
    stack: Stack, chat_id: int
) -> None:
    asking = Person(stack, chat_id)
    swahili = Person(stack, chat_id + 1, "sw")
    registering = Person(stack, chat_id + 2)
    checking = Person(stack, chat_id + 3)
    name, phone = "Wanjiru Kamau", phone_of(chat_id + 2)

    assert await asking.say("When does TIMS close?") == [faq_answer(Topic.CLOSURE, "en")]
    assert await registering.say("I want to attend a training") == [registering.tx("ask_audience")]
    [menu] = await registering.press(registering.tx("audience.motorists"))
    [ask_name] = await registering.press(session_button(menu))
    assert ask_name["text"] == registering.tx("ask_name")
    assert await checking.say("check my status") == [t("en", "status.ask_id")]

    await stack.database.cut()
    back_at = time.monotonic() + OUTAGE_SECONDS
    try:
        # One apology per message, in its language: a known question, an answer inside a
        # form, an ID in a status check, a button (nothing made up from a blank
        # conversation, no "did not get that").
        assert await asking.say("When does TIMS close?") == [unavailable("en")]
        assert await swahili.say("Je, mafunzo ya e-Citizen ni bure?") == [unavailable("sw")]
        assert await registering.say(name) == [unavailable("en")]
        assert await checking.say(PENDING_ID) == [unavailable("en")]
        more = faq.answer(Topic.CLOSURE, "en", NOW).buttons[0].title
        assert [m["text"] for m in await asking.press(more)] == [unavailable("en")]
        await wait_until(back_at)
    finally:
        await stack.database.restore()

    restored = time.monotonic()
    # Everything works again, and each chat's next reply is the answer to its next
    # message: none of the messages above was answered a second time.
    assert await asking.say("When does TIMS close?") == [faq_answer(Topic.CLOSURE, "en")]
    logger.info("first answer %.2f s after the database came back", time.monotonic() - restored)
    assert await swahili.say("Je, mafunzo ya e-Citizen ni bure?") == [
        faq_answer(Topic.TRAINING, "sw")
    ]
    # The registration goes on from the name question, where it was before the outage.
    assert await registering.say(name) == [registering.tx("ask_phone")]
    assert await registering.share(phone) == [registering.tx("ask_email")]
    [summary] = await registering.press(registering.tx("button_skip"))
    assert summary["text"] == registering.summary(name, phone)
    [calendar] = await registering.press(registering.tx("button_confirm"))
    [(reference, status)] = await registrations(stack.db, registering.chat)
    assert (calendar["caption"], status) == (registering.confirmed(reference), "confirmed")
    assert calendar["document"]["file_name"] == f"{SESSION}-{reference}.ics"
    # So does the status check, from the ID question.
    assert await checking.say(PENDING_ID) == [
        t("en", "status.ask_proof", id=mask_id_number(PENDING_ID))
        + "\n\n"
        + t("en", "status.code_alternative")
    ]
    [answer] = await checking.share(PENDING_PHONE)
    assert "TIMS-DL-2023-000102" in answer
    assert "waiting for your payment" in answer


@pytest.mark.parametrize("cut", ["before the commit", "after the commit"])
async def test_a_registration_cut_at_its_commit_is_whole_or_absent_and_its_person_knows(
    stack: Stack, chat_id: int, cut: str
) -> None:
    """The cut falls on the registration's own transaction: before its COMMIT reaches
    PostgreSQL (nothing is saved) or after PostgreSQL committed, before the action server
    hears so (all of it is saved). The person hears the apology either way; the same
    button, pressed again once the database is back, tells them which."""
    person = Person(stack, chat_id + (10 if cut == "before the commit" else 20))
    name = "Akinyi Kamau" if cut == "before the commit" else "Nafula Wekesa"
    phone = phone_of(person.chat)
    await person.register_up_to_summary(name, phone)
    events_before = await registration_events(stack.db)

    at_commit = stack.database.cut_on(
        [name.encode(), b"COMMIT"], before_reply=cut == "after the commit"
    )
    try:
        assert [m["text"] for m in await person.press(person.tx("button_confirm"))] == [
            unavailable("en")
        ]
        assert at_commit.done()
        saved = await registrations(stack.db, person.chat)
        events = await registration_events(stack.db) - events_before
    finally:
        stack.database.disarm()
        await stack.database.restore()

    if cut == "before the commit":
        assert (saved, events) == ([], 0)
        [calendar] = await person.press(person.tx("button_confirm"))
        [(reference, status)] = await registrations(stack.db, person.chat)
        assert calendar["caption"] == person.confirmed(reference)
    else:
        [(reference, status)] = saved
        assert (status, events) == ("confirmed", 1)  # its seat, and its activity event
        [calendar] = await person.press(person.tx("button_confirm"))
        assert calendar["caption"] == f"{person.tx('already')}\n\n{person.confirmed(reference)}"
        assert await registrations(stack.db, person.chat) == [(reference, "confirmed")]
    assert status == "confirmed"
    assert calendar["document"]["file_name"] == f"{SESSION}-{reference}.ics"
    assert await registration_events(stack.db) - events_before == 1


async def test_rasa_losing_its_tracker_store_mid_turn_apologises_and_goes_on(
    stack: Stack, chat_id: int
) -> None:
    """The cut falls on Rasa reading one conversation, then on Rasa saving one turn after
    the action server answered it: each time the person hears the apology (neither an
    answer from a blank conversation nor one that Rasa then forgets), and after it the
    conversation goes on from where it was stored."""
    person = Person(stack, chat_id + 30)
    assert await person.say("I want to attend a training") == [person.tx("ask_audience")]
    [menu] = await person.press(person.tx("audience.motorists"))
    [ask_name] = await person.press(session_button(menu))
    assert ask_name["text"] == person.tx("ask_name")

    # Rasa's tracker store (psycopg2) writes the chat id into its SQL; nothing else does.
    chat = f"'{person.chat}'".encode()
    for marks in ([b"FROM rasa.events", chat], [b"INSERT INTO rasa.events", chat]):
        cut = stack.database.cut_on(marks)
        try:
            assert await person.say("Achieng Otieno") == [unavailable("en")]
            assert cut.done()
        finally:
            stack.database.disarm()
            await stack.database.restore()
    assert await person.say("Achieng Otieno") == [person.tx("ask_phone")]


async def test_a_database_that_hangs_gets_an_apology_not_silence(
    stack: Stack, chat_id: int
) -> None:
    """The database (or the network to it) stops answering without refusing anything:
    each message is still answered with the apology while it hangs, not when it is back."""
    asking = Person(stack, chat_id)
    swahili = Person(stack, chat_id + 1, "sw")
    assert await asking.say("When does TIMS close?") == [faq_answer(Topic.CLOSURE, "en")]

    await stack.database.cut("silent")
    try:
        assert await asking.say("When does TIMS close?") == [unavailable("en")]
        assert await swahili.say("TIMS itafungwa lini?") == [unavailable("sw")]
        assert stack.database.is_cut  # answered while it hangs: the proxy restores only now
    finally:
        await stack.database.restore()
    assert await asking.say("When does TIMS close?") == [faq_answer(Topic.CLOSURE, "en")]
    assert await swahili.say("TIMS itafungwa lini?") == [faq_answer(Topic.CLOSURE, "sw")]


async def _outcome(db: SessionFactory, statement: str) -> BaseException | None:
    try:
        async with db() as session, session.begin():
            await session.execute(text(statement))
    except Exception as error:  # whichever it is: the test looks at it
        return error
    return None


async def test_the_engine_tells_an_outage_from_a_bug_and_its_pool_recovers() -> None:
    """The app's engine on PostgreSQL through the proxy, no processes: refused, reset and
    hanging connections are each an outage (a hanging one within the statement limit),
    a bad statement is not, and the same engine works again once the database is back."""
    server = postgres_server_url()
    async with (
        fresh_postgres_database(server) as database_url,
        TcpProxy.to_url(database_url) as proxy,
    ):
        engine = create_engine(
            proxy.url(database_url), statement_timeout=TURN_STATEMENT_TIMEOUT_SECONDS
        )
        db = create_session_factory(engine)
        try:
            assert await _outcome(db, "CREATE TABLE t (id integer PRIMARY KEY)") is None
            assert await _outcome(db, "INSERT INTO t VALUES (1)") is None
            for mode in ("reset", "silent"):
                await proxy.cut(mode)  # type: ignore[arg-type]
                try:
                    failed = await _outcome(db, "INSERT INTO t VALUES (2)")
                finally:
                    await proxy.restore()
                assert failed is not None
                assert unreachable(failed), f"{mode}: {failed!r}"
                assert await _outcome(db, "SELECT count(*) FROM t") is None
            duplicate = await _outcome(db, "INSERT INTO t VALUES (1)")
            misspelt = await _outcome(db, "SELEC 1")
            assert duplicate is not None
            assert not unreachable(duplicate)
            assert misspelt is not None
            assert not unreachable(misspelt)
        finally:
            await engine.dispose()
