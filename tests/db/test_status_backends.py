"""Status look-ups on both backends: our SQL records (SQLite and PostgreSQL) and the remote
status API (a fake aiohttp server on 127.0.0.1) with its retries, timeout and breaker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import aiohttp
import pytest
from purgatory import AsyncCircuitBreakerFactory
from pydantic import ValidationError
from sqlalchemy import func, select

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.status.lookup import (
    Part,
    RemoteStatusBackend,
    SqlStatusBackend,
    StatusUnavailable,
    parse_person,
)
from ntsa_assistant.status.sms import deliver_outbox
from ntsa_assistant.status.verification import Outcome, Verifier
from ntsa_assistant.storage.models import (
    Account,
    LimitEvent,
    LinkStatus,
    Organisation,
    OrganisationCategory,
    ProofMethod,
    StatusDisclosure,
    Transaction,
    TransactionStatus,
)
from tests.support.fakes import FakeSms, FakeStatusApi

NOW = datetime(2023, 12, 10, 9, 0, tzinfo=NAIROBI)

PERSON_JSON = {
    "id_number": "21000101",
    "phone": "+254700000101",
    "validated_on": "2023-12-04",
    "organisations": [
        {
            "kra_pin": "P000000101A",
            "name": "Savannah Auto Traders Ltd",
            "category": "motor_dealer",
            "link_status": "linked",
        }
    ],
    "transactions": [
        {
            "reference": "TIMS-DL-1",
            "service": "Driving licence renewal",
            "status": "awaiting_payment",
            "submitted_on": "2023-12-05",
            "updated_on": "2023-12-06",
        }
    ],
}


async def _seed(session_factory) -> None:
    async with session_factory() as session, session.begin():
        session.add_all(
            [
                Account(
                    id_number="21000101",
                    full_name="Achieng Odhiambo",
                    phone="+254700000101",
                    email=None,
                    validated_on=date(2023, 12, 4),
                ),
                Account(
                    id_number="2100105",
                    full_name="Zawadi Njeri",
                    phone="+254100000105",
                    email=None,
                    validated_on=None,
                ),
                Organisation(
                    kra_pin="P000000101A",
                    name="Savannah Auto Traders Ltd",
                    category=OrganisationCategory.MOTOR_DEALER,
                    representative_id_number="21000101",
                    link_status=LinkStatus.LINKED,
                ),
                Transaction(
                    reference="TIMS-DL-1",
                    id_number="21000101",
                    service="Driving licence renewal",
                    status=TransactionStatus.AWAITING_PAYMENT,
                    submitted_on=date(2023, 12, 5),
                    updated_on=date(2023, 12, 6),
                ),
                Transaction(
                    reference="TIMS-DL-2",
                    id_number="21000101",
                    service="Driving licence renewal",
                    status=TransactionStatus.COMPLETED,
                    submitted_on=date(2023, 11, 5),
                    updated_on=date(2023, 11, 6),
                ),
            ]
        )


# --------------------------------------------------------------------------- SQL backend


async def test_sql_backend_reads_a_person_with_organisations_and_transactions(session_factory):
    await _seed(session_factory)
    status = await SqlStatusBackend(session_factory).lookup("21000101")
    assert status is not None
    assert status.validated_on == date(2023, 12, 4)
    assert [o.kra_pin for o in status.organisations] == ["P000000101A"]
    assert [t.reference for t in status.pending] == ["TIMS-DL-1"]
    assert len(status.transactions) == 2


async def test_sql_backend_seven_digit_id_and_unknown_id(session_factory):
    await _seed(session_factory)
    backend = SqlStatusBackend(session_factory)
    zawadi = await backend.lookup("2100105")
    assert zawadi is not None
    assert zawadi.pending == ()
    assert zawadi.validated_on is None
    assert await backend.lookup("29999999") is None


async def test_sql_backend_refuses_a_malformed_id(session_factory):
    with pytest.raises(ValueError, match="7 or 8 digits"):
        await SqlStatusBackend(session_factory).lookup("1' OR '1'='1")


async def test_verifier_proves_limits_and_audits_on_this_backend(session_factory):
    await _seed(session_factory)
    sms = FakeSms()
    verifier = Verifier(session_factory, SqlStatusBackend(session_factory), Clock(NOW))
    assert (await verifier.begin("c1", "21000101")).outcome is Outcome.NEEDS_PROOF
    await verifier.send_code("c1", "21000101", "sw")
    await deliver_outbox(session_factory, sms, NOW)
    code = re.search(r"\b(\d{6})\b", sms.sent[-1][1]).group(1)
    assert sms.sent == [("+254700000101", t("sw", "status.sms", code=code, minutes=10))]
    wrong = "000000" if code != "000000" else "111111"
    assert (await verifier.check_code("c1", "21000101", wrong)).tries_left == 2
    assert (await verifier.check_code("c1", "21000101", code)).outcome is Outcome.PROVEN
    disclosed = await verifier.disclose("c1", "21000101", Part.ALL)
    on_record = await SqlStatusBackend(session_factory).lookup("21000101")
    assert on_record is not None
    assert disclosed == (on_record, ProofMethod.CODE)
    async with session_factory() as session:
        audits = (await session.scalars(select(StatusDisclosure))).all()
        events = await session.scalar(select(func.count()).select_from(LimitEvent))
    assert [(a.chat_id, a.id_number, a.method) for a in audits] == [("c1", "21000101", "code")]
    assert events == 3  # a look-up, a code sent, a failed proof


async def test_a_code_proves_once_even_when_typed_twice_at_the_same_time(session_factory):
    await _seed(session_factory)
    sms = FakeSms()
    verifier = Verifier(session_factory, SqlStatusBackend(session_factory), Clock(NOW))
    await verifier.send_code("c1", "21000101", "en")
    await deliver_outbox(session_factory, sms, NOW)
    code = re.search(r"\b(\d{6})\b", sms.sent[-1][1]).group(1)
    results = await asyncio.gather(
        *(verifier.check_code("c1", "21000101", code) for _ in range(2)),
        return_exceptions=True,
    )
    proven = [r for r in results if not isinstance(r, Exception) and r.outcome is Outcome.PROVEN]
    assert len(proven) == 1


async def test_lockout_ends_an_hour_after_the_oldest_counted_failure(session_factory):
    await _seed(session_factory)
    sms = FakeSms()
    clock = Clock(NOW)
    verifier = Verifier(session_factory, SqlStatusBackend(session_factory), clock)
    await verifier.send_code("c1", "21000101", "en")
    await deliver_outbox(session_factory, sms, NOW)
    code = re.search(r"\b(\d{6})\b", sms.sent[-1][1]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    results = [await verifier.check_code("c1", "21000101", wrong) for _ in range(3)]
    assert results[-1].outcome is Outcome.LOCKED
    assert results[-1].retry_at == NOW + timedelta(hours=1)


# --------------------------------------------------------------------------- remote API


@pytest.fixture
async def fake_api(aiohttp_server) -> tuple[FakeStatusApi, str]:
    api = FakeStatusApi({"21000101": PERSON_JSON})
    server = await aiohttp_server(api.app())
    return api, str(server.make_url("/"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _remote(http, url, **kwargs) -> RemoteStatusBackend:
    kwargs.setdefault("backoff_seconds", 0.01)
    kwargs.setdefault("timeout_seconds", 0.5)
    return RemoteStatusBackend(http, url, **kwargs)


async def test_remote_backend_reads_the_documented_shape(fake_api, http):
    api, url = fake_api
    status = await _remote(http, url).lookup("21000101")
    assert status is not None
    assert status.validated_on == date(2023, 12, 4)
    assert status.organisations[0].link_status is LinkStatus.LINKED
    assert status.pending[0].status is TransactionStatus.AWAITING_PAYMENT
    assert await _remote(http, url).lookup("29999999") is None


async def test_remote_backend_retries_5xx_then_succeeds(fake_api, http):
    api, url = fake_api
    api.failures_before_success = 2
    assert await _remote(http, url, attempts=3).lookup("21000101") == parse_person(
        PERSON_JSON, "21000101"
    )
    assert len(api.calls) == 3


async def test_remote_backend_gives_up_after_its_attempts(fake_api, http):
    api, url = fake_api
    api.failures_before_success = 10
    with pytest.raises(StatusUnavailable):
        await _remote(http, url, attempts=3).lookup("21000101")
    assert len(api.calls) == 3


async def test_tries_and_backoff_together_stay_within_the_look_ups_budget(fake_api, http):
    """A slow, failing API: five tries of 0.3 s would take 1.5 s and more; the budget of
    0.5 s ends the look-up after the second try has started, with "unavailable"."""
    api, url = fake_api
    api.failures_before_success, api.delay = 10, 0.3
    backend = _remote(http, url, attempts=5, timeout_seconds=1.0, budget_seconds=0.5)
    with pytest.raises(StatusUnavailable, match="no answer within the budget"):
        await backend.lookup("21000101")
    assert 1 <= len(api.calls) <= 2


def test_two_look_ups_must_fit_in_the_gateways_wait():
    """A proof and the answer may each look up once in one turn."""
    remote = {"status_api_url": "http://status.example", "_env_file": None}
    assert Settings(**remote, rasa_timeout_seconds=8, status_api_budget_seconds=3.0)
    with pytest.raises(ValidationError, match="STATUS_API_BUDGET_SECONDS is too long"):
        Settings(**remote, rasa_timeout_seconds=8, status_api_budget_seconds=4.0)
    assert Settings(rasa_timeout_seconds=8, status_api_budget_seconds=4.0, _env_file=None)


async def test_remote_backend_does_not_retry_a_4xx(fake_api, http):
    api, url = fake_api
    api.failures_before_success, api.failure_status = 1, 401
    with pytest.raises(StatusUnavailable):
        await _remote(http, url).lookup("21000101")
    assert len(api.calls) == 1


async def test_remote_backend_times_out(fake_api, http):
    api, url = fake_api
    api.delay = 1.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StatusUnavailable):
        await _remote(http, url, timeout_seconds=0.2, attempts=2).lookup("21000101")
    assert loop.time() - started < 0.9


@pytest.mark.parametrize(
    "body",
    [
        {"id_number": "21000101"},
        {**PERSON_JSON, "id_number": "21000102"},
        {**PERSON_JSON, "transactions": [{"reference": "x", "status": "weird"}]},
        ["not", "an", "object"],
    ],
)
async def test_a_malformed_answer_is_a_failure_never_nothing_pending(fake_api, http, body):
    api, url = fake_api
    api.people["21000101"] = body
    with pytest.raises(StatusUnavailable):
        await _remote(http, url).lookup("21000101")


async def test_the_breaker_opens_and_fails_fast(fake_api, http):
    api, url = fake_api
    api.failures_before_success = 100
    breaker = AsyncCircuitBreakerFactory(default_threshold=2, default_ttl=60)
    backend = _remote(http, url, attempts=1, breaker=breaker)
    for _ in range(2):
        with pytest.raises(StatusUnavailable):
            await backend.lookup("21000101")
    calls = len(api.calls)
    with pytest.raises(StatusUnavailable, match="circuit open"):
        await backend.lookup("21000101")
    assert len(api.calls) == calls  # no request while the breaker is open


async def test_an_unreachable_api_is_a_failure(http):
    backend = _remote(http, "http://127.0.0.1:9", attempts=2)
    with pytest.raises(StatusUnavailable):
        await backend.lookup("21000101")


def test_parse_person_checks_the_id():
    assert parse_person(PERSON_JSON, "21000101").phone == "+254700000101"
    with pytest.raises(StatusUnavailable):
        parse_person(PERSON_JSON, "21000102")
