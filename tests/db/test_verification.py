"""Ownership proof on SQLite and PostgreSQL (through the migrations): contact match,
one-time codes, limits that live in the database and outlive the process, audit.

The pure rules (parsing an ID, a code, a phone) are in tests/unit/test_verification.py.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.status.answers import explain
from ntsa_assistant.status.limits import Limits
from ntsa_assistant.status.lookup import Part, PersonStatus, StatusUnavailable
from ntsa_assistant.status.sms import Delivery, deliver_outbox
from ntsa_assistant.status.verification import Outcome, Verifier
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    LimitEvent,
    OneTimeCode,
    ProofMethod,
    SmsOutbox,
    StatusDisclosure,
)
from tests.support.fakes import FakeSms

KNOWN = "21000102"
UNKNOWN = "29999999"
PHONE = "+254700000102"
START = datetime(2023, 12, 10, 9, 0, tzinfo=NAIROBI)
CODE = re.compile(r"\b(\d{6})\b")
PEPPER = b"test-pepper"


class MovableClock(Clock):
    def __init__(self, start: datetime) -> None:
        super().__init__(start)

    def advance(self, delta: timedelta) -> None:
        self._fixed = self._fixed + delta  # type: ignore[operator]


class FakeBackend:
    def __init__(self) -> None:
        self.people = {KNOWN: PersonStatus(KNOWN, PHONE, date(2023, 12, 4))}
        self.down = False

    async def lookup(self, id_number: str) -> PersonStatus | None:
        if self.down:
            raise StatusUnavailable("down")
        return self.people.get(id_number)


class Gateway:
    """The gateway's outbox job, run by hand: what it texts lands in ``sms``."""

    def __init__(self, sessions: SessionFactory, sms: FakeSms, clock: Clock) -> None:
        self._sessions, self._sms, self._clock = sessions, sms, clock

    async def run(self) -> list[Delivery]:
        return await deliver_outbox(self._sessions, self._sms, self._clock.now())


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def sms() -> FakeSms:
    return FakeSms()


@pytest.fixture
def gateway(session_factory: SessionFactory, sms: FakeSms, clock: MovableClock) -> Gateway:
    return Gateway(session_factory, sms, clock)


@pytest.fixture
def verifier(
    session_factory: SessionFactory, backend: FakeBackend, clock: MovableClock
) -> Verifier:
    return Verifier(session_factory, backend, clock, pepper=PEPPER)


async def send_code(verifier: Verifier, gateway: Gateway, chat: str, id_number: str = KNOWN):
    """A code asked for, then the gateway's next outbox run."""
    result = await verifier.send_code(chat, id_number, "en")
    await gateway.run()
    return result


# --------------------------------------------------------------------------- contact


async def test_own_contact_matching_the_record_proves_and_is_audited(
    verifier, backend, session_factory
):
    assert (await verifier.begin("c1", KNOWN)).outcome is Outcome.NEEDS_PROOF
    result = await verifier.prove_by_contact("c1", KNOWN, "254700000102", "en")
    assert result.outcome is Outcome.PROVEN
    assert result.method is ProofMethod.CONTACT
    disclosed = await verifier.disclose("c1", KNOWN, Part.ALL)
    assert disclosed == (backend.people[KNOWN], ProofMethod.CONTACT)
    async with session_factory() as session:
        row = await session.scalar(select(StatusDisclosure))
    assert (row.chat_id, row.id_number, row.method, row.parts) == ("c1", KNOWN, "contact", "all")


async def test_proof_is_for_that_chat_and_that_id_only(verifier):
    await verifier.prove_by_contact("c1", KNOWN, PHONE, "en")
    assert await verifier.disclose("c2", KNOWN, Part.ALL) is None
    assert await verifier.disclose("c1", UNKNOWN, Part.ALL) is None


async def test_proof_lasts_fifteen_minutes(verifier, clock):
    await verifier.prove_by_contact("c1", KNOWN, PHONE, "en")
    clock.advance(timedelta(minutes=14))
    assert (await verifier.begin("c1", KNOWN)).outcome is Outcome.PROVEN
    clock.advance(timedelta(minutes=2))
    assert (await verifier.begin("c1", KNOWN)).outcome is Outcome.NEEDS_PROOF
    assert await verifier.disclose("c1", KNOWN, Part.ALL) is None


async def test_someone_elses_contact_proves_nothing(verifier, gateway, sms):
    result = await verifier.prove_by_contact("c1", KNOWN, None, "en")
    assert result.outcome is Outcome.NOT_OWN_CONTACT
    assert await gateway.run() == []
    assert sms.sent == []
    assert await verifier.disclose("c1", KNOWN, Part.ALL) is None


async def test_a_different_own_phone_sends_a_code_to_the_phone_on_record(verifier, gateway, sms):
    result = await verifier.prove_by_contact("c1", KNOWN, "+254711111111", "en")
    assert result.outcome is Outcome.CODE_SENT
    assert result.mismatch
    assert result.phone_ending == "02"
    assert sms.sent == []  # queued: the reply never waits for the SMS gateway
    assert await gateway.run() == [Delivery.SENT]
    assert sms.sent == [(PHONE, t("en", "status.sms", code=sms.last_code(), minutes=10))]
    assert await verifier.disclose("c1", KNOWN, Part.ALL) is None


# --------------------------------------------------------------------------- codes


async def test_right_code_proves_once(verifier, gateway, sms):
    await send_code(verifier, gateway, "c1")
    code = sms.last_code()
    assert (await verifier.check_code("c1", KNOWN, code)).outcome is Outcome.PROVEN
    assert (await verifier.check_code("c1", KNOWN, code)).outcome is Outcome.NO_CODE
    assert (await verifier.disclose("c1", KNOWN, Part.PENDING))[1] is ProofMethod.CODE


async def test_code_is_stored_hashed_salted_and_peppered(
    verifier, gateway, sms, session_factory, backend, clock
):
    await send_code(verifier, gateway, "c1")
    await send_code(verifier, gateway, "c2")
    async with session_factory() as session:
        rows = (await session.scalars(select(OneTimeCode))).all()
        outbox = (await session.scalars(select(SmsOutbox))).all()
    codes = [CODE.search(message).group(1) for _, message in sms.sent]  # type: ignore[union-attr]
    assert len(rows) == len(codes) == 2
    for row in rows:
        assert len(row.code_hash) == 64
        assert not any(code in row.code_hash for code in codes)
    assert rows[0].salt != rows[1].salt
    # Once sent, the outbox keeps neither the message nor the phone.
    assert [(o.body, o.phone, o.outcome) for o in outbox] == [(None, None, "sent")] * 2
    # The same salt and code under another server's pepper prove nothing.
    other = Verifier(session_factory, backend, clock, pepper=b"another pepper")
    assert (await other.check_code("c2", KNOWN, codes[1])).outcome is Outcome.WRONG_CODE


async def test_code_expires_after_ten_minutes(verifier, gateway, sms, clock):
    await send_code(verifier, gateway, "c1")
    clock.advance(timedelta(minutes=10, seconds=1))
    assert (await verifier.check_code("c1", KNOWN, sms.last_code())).outcome is Outcome.NO_CODE


async def test_a_code_not_sent_before_it_expires_is_never_sent(verifier, gateway, sms, clock):
    await verifier.send_code("c1", KNOWN, "en")
    clock.advance(timedelta(minutes=10))
    assert await gateway.run() == [Delivery.EXPIRED]
    assert sms.sent == []


async def test_a_refused_sms_is_tried_again_then_given_up(verifier, gateway, sms):
    sms.down = True
    await verifier.send_code("c1", KNOWN, "en")
    assert await gateway.run() == []  # given back for the next run
    sms.down = False
    assert await gateway.run() == [Delivery.SENT]
    sms.down = True
    await verifier.send_code("c2", KNOWN, "en")
    assert [await gateway.run() for _ in range(3)] == [[], [], [Delivery.FAILED]]
    assert len(sms.sent) == 1


async def test_code_works_only_in_the_chat_it_was_sent_for(verifier, gateway, sms):
    await send_code(verifier, gateway, "c1")
    assert (await verifier.check_code("c2", KNOWN, sms.last_code())).outcome is Outcome.NO_CODE


async def test_a_new_code_replaces_the_old_one(verifier, gateway, sms):
    await send_code(verifier, gateway, "c1")
    old = sms.last_code()
    await send_code(verifier, gateway, "c1")
    if old != sms.last_code():
        assert (await verifier.check_code("c1", KNOWN, old)).outcome is Outcome.WRONG_CODE
    assert (await verifier.check_code("c1", KNOWN, sms.last_code())).outcome is Outcome.PROVEN


async def test_three_wrong_codes_lock_out_with_a_time_to_retry(verifier, gateway, sms, clock):
    await send_code(verifier, gateway, "c1")
    wrong = "000000" if sms.last_code() != "000000" else "111111"
    first = await verifier.check_code("c1", KNOWN, wrong)
    assert (first.outcome, first.tries_left) == (Outcome.WRONG_CODE, 2)
    assert (await verifier.check_code("c1", KNOWN, wrong)).tries_left == 1
    third = await verifier.check_code("c1", KNOWN, wrong)
    assert third.outcome is Outcome.LOCKED
    assert third.retry_at == START + timedelta(hours=1)
    # Locked even with the right code, and a new look-up from this chat is refused too.
    assert (await verifier.check_code("c1", KNOWN, sms.last_code())).outcome is Outcome.LOCKED
    assert (await verifier.begin("c1", KNOWN)).outcome is Outcome.LOCKED
    assert explain(third, "en") == t(
        "en", "status.locked", when=spell_datetime("en", START + timedelta(hours=1))
    )
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await verifier.begin("c1", KNOWN)).outcome is Outcome.NEEDS_PROOF


async def test_limits_live_in_the_database_and_survive_a_restart(session_factory, backend, clock):
    first = Verifier(session_factory, backend, clock, pepper=PEPPER)
    for _ in range(5):
        assert (await first.begin("c1", KNOWN)).outcome is Outcome.NEEDS_PROOF
    restarted = Verifier(session_factory, backend, clock, pepper=PEPPER)
    assert (await restarted.begin("c1", KNOWN)).outcome is Outcome.LOCKED


async def test_codes_sent_are_limited_per_id(verifier, gateway, sms):
    for chat in ("a", "b", "c"):
        assert (await send_code(verifier, gateway, chat)).outcome is Outcome.CODE_SENT
    assert (await send_code(verifier, gateway, "d")).outcome is Outcome.LOCKED
    assert len(sms.sent) == 3


async def test_failed_proofs_are_limited_per_id_across_chats(verifier, gateway, sms):
    for chat in ("a", "b", "c"):
        await send_code(verifier, gateway, chat)
        await verifier.check_code(chat, KNOWN, "999999" if sms.last_code() != "999999" else "1")
    # No more codes for the ID, nor tries of one already sent; a new chat may still start.
    assert (await verifier.begin("d", KNOWN)).outcome is Outcome.NEEDS_PROOF
    assert (await send_code(verifier, gateway, "d")).outcome is Outcome.LOCKED
    assert (await verifier.check_code("a", KNOWN, sms.last_code())).outcome is Outcome.LOCKED
    assert len(sms.sent) == 3


async def test_codes_per_phone_per_day_are_capped(session_factory, backend, gateway, sms, clock):
    verifier = Verifier(
        session_factory, backend, clock, Limits(codes_per_phone_per_day=4), pepper=PEPPER
    )
    outcomes = []
    for hour in range(3):  # two chats an hour, within the hourly limits
        for chat in ("a", "b"):
            outcomes.append((await send_code(verifier, gateway, f"{chat}{hour}")).outcome)
        clock.advance(timedelta(hours=1))
    assert outcomes == [Outcome.CODE_SENT] * 4 + [Outcome.LOCKED] * 2
    assert len(sms.sent) == 4
    async with session_factory() as session:
        keys = set(await session.scalars(select(LimitEvent.phone_key)))
    assert PHONE not in keys  # an HMAC, never the number
    assert not any("700000102" in key for key in keys if key)
    clock.advance(timedelta(hours=22))
    assert (await send_code(verifier, gateway, "next day")).outcome is Outcome.CODE_SENT


async def test_the_hourly_sms_budget_stops_codes_for_everyone_alike(
    session_factory, backend, gateway, sms, clock
):
    backend.people["21000103"] = PersonStatus("21000103", "+254700000103", None)
    verifier = Verifier(session_factory, backend, clock, Limits(sms_per_hour=2), pepper=PEPPER)
    assert (await send_code(verifier, gateway, "a")).outcome is Outcome.CODE_SENT
    assert (await send_code(verifier, gateway, "b", UNKNOWN)).outcome is Outcome.CODE_SENT
    assert (await send_code(verifier, gateway, "c", "21000103")).outcome is Outcome.CODE_SENT
    for chat, id_number in (("d", KNOWN), ("e", UNKNOWN)):
        result = await send_code(verifier, gateway, chat, id_number)
        assert result.outcome is Outcome.CODES_UNAVAILABLE
        assert explain(result, "sw") == t("sw", "status.codes_unavailable")
    assert len(sms.sent) == 2  # an unknown ID's code costs nothing
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await send_code(verifier, gateway, "f")).outcome is Outcome.CODE_SENT


async def test_without_a_way_to_send_codes_none_are_made(session_factory, backend, clock, gateway):
    verifier = Verifier(session_factory, backend, clock, pepper=PEPPER, codes=False)
    for id_number in (KNOWN, UNKNOWN):
        result = await verifier.send_code("c1", id_number, "en")
        assert result.outcome is Outcome.CODES_UNAVAILABLE
        assert explain(result, "en") == (
            'Sorry, we can\'t send codes by SMS right now. Please tap "Share my phone number" '
            "instead, or try again later."
        )
    assert await gateway.run() == []
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OneTimeCode)) == 0


async def test_backend_failure_is_never_a_disclosure(verifier, backend):
    await verifier.prove_by_contact("c1", KNOWN, PHONE, "en")
    backend.down = True
    with pytest.raises(StatusUnavailable):
        await verifier.disclose("c1", KNOWN, Part.ALL)


# --------------------------------------------------------------------------- concurrency


async def test_twenty_code_requests_at_once_send_at_most_the_limit(verifier, gateway, sms):
    results = await asyncio.gather(
        *(verifier.send_code(f"chat{n}", KNOWN, "en") for n in range(20))
    )
    await gateway.run()
    sent = [r for r in results if r.outcome is Outcome.CODE_SENT]
    assert len(sent) == len(sms.sent) == 3
    assert {r.outcome for r in results} == {Outcome.CODE_SENT, Outcome.LOCKED}


async def test_twenty_code_requests_from_one_chat_at_once(verifier, gateway, sms):
    results = await asyncio.gather(*(verifier.send_code("c1", UNKNOWN, "en") for _ in range(20)))
    assert sum(r.outcome is Outcome.CODE_SENT for r in results) == 3


async def test_twenty_wrong_codes_at_once_count_at_most_the_limit(
    verifier, gateway, sms, session_factory
):
    await send_code(verifier, gateway, "c1")
    wrong = "000000" if sms.last_code() != "000000" else "111111"
    results = await asyncio.gather(*(verifier.check_code("c1", KNOWN, wrong) for _ in range(20)))
    async with session_factory() as session:
        failures = await session.scalar(
            select(func.count()).select_from(LimitEvent).where(LimitEvent.kind == "failed_proof")
        )
        tries = await session.scalar(select(OneTimeCode.attempts))
    assert failures == tries == 3  # never more guesses than the code allows
    assert sorted(r.outcome for r in results).count(Outcome.WRONG_CODE) == 2


async def test_twenty_look_ups_from_one_chat_at_once(verifier):
    results = await asyncio.gather(*(verifier.begin("c1", KNOWN) for _ in range(20)))
    assert sum(r.outcome is Outcome.NEEDS_PROOF for r in results) == 5


async def test_twenty_codes_across_ids_at_once_keep_to_the_sms_budget(
    session_factory, backend, gateway, sms, clock
):
    for n in range(20):
        backend.people[f"2100{n:04d}"] = PersonStatus(f"2100{n:04d}", f"+25470000{n:04d}", None)
    verifier = Verifier(session_factory, backend, clock, Limits(sms_per_hour=4), pepper=PEPPER)
    await asyncio.gather(*(verifier.send_code(f"c{n}", f"2100{n:04d}", "en") for n in range(20)))
    await gateway.run()
    assert len(sms.sent) == 4


# --------------------------------------------------------------------------- the owner


async def test_strangers_look_ups_never_lock_the_owner_out(verifier, gateway, sms):
    for n in range(12):
        result = await verifier.begin(f"stranger{n}", KNOWN)
        assert result.outcome is Outcome.NEEDS_PROOF  # each stranger's chat counts its own
    # The victim's phone is protected: no more codes for the ID this hour ...
    assert (await send_code(verifier, gateway, "stranger0")).outcome is Outcome.LOCKED
    assert sms.sent == []
    # ... but the owner, sharing their own contact, proves at once.
    assert (await verifier.begin("owner", KNOWN)).outcome is Outcome.NEEDS_PROOF
    result = await verifier.prove_by_contact("owner", KNOWN, PHONE, "en")
    assert result.outcome is Outcome.PROVEN
    assert (await verifier.disclose("owner", KNOWN, Part.ALL)) is not None


async def test_strangers_failed_codes_never_lock_the_owner_out(verifier, gateway, sms):
    for chat in ("a", "b", "c"):
        await send_code(verifier, gateway, chat)
        await verifier.check_code(chat, KNOWN, "999999" if sms.last_code() != "999999" else "1")
    result = await verifier.prove_by_contact("owner", KNOWN, PHONE, "en")
    assert result.outcome is Outcome.PROVEN


async def test_a_chat_over_its_own_limits_stays_locked(verifier):
    for _ in range(5):
        await verifier.begin("attacker", KNOWN)
    assert (await verifier.begin("attacker", KNOWN)).outcome is Outcome.LOCKED
    assert (await verifier.begin("attacker", "21000103")).outcome is Outcome.LOCKED


# --------------------------------------------------------------------------- enumeration


async def test_an_unknown_id_goes_through_the_same_motions(verifier, gateway, sms):
    assert (await verifier.begin("c1", UNKNOWN)).outcome is Outcome.NEEDS_PROOF
    mismatch = await verifier.prove_by_contact("c1", UNKNOWN, "+254711111111", "en")
    assert mismatch.outcome is Outcome.CODE_SENT
    assert mismatch.mismatch
    assert re.fullmatch(r"\d\d", mismatch.phone_ending)
    again = await verifier.send_code("c1", UNKNOWN, "en")
    assert again.phone_ending == mismatch.phone_ending  # a made-up ending that stays put
    assert await gateway.run() == [Delivery.DECOY, Delivery.DECOY]  # a row each, like a real one
    assert sms.sent == []  # nobody gets a text
    for expected in (Outcome.WRONG_CODE, Outcome.WRONG_CODE, Outcome.LOCKED):
        assert (await verifier.check_code("c1", UNKNOWN, "000000")).outcome is expected
    assert await verifier.disclose("c1", UNKNOWN, Part.ALL) is None


async def test_unknown_and_known_ids_read_the_same(verifier, gateway, sms):
    known = await verifier.prove_by_contact("c1", KNOWN, "+254711111111", "en")
    unknown = await verifier.prove_by_contact("c2", UNKNOWN, "+254711111111", "en")
    blank = re.compile(r"ending \d\d")
    assert blank.sub("", explain(known, "en")) == blank.sub("", explain(unknown, "en"))
    await gateway.run()
    wrong = "000000" if sms.last_code() != "000000" else "111111"
    assert explain(await verifier.check_code("c1", KNOWN, wrong), "sw") == explain(
        await verifier.check_code("c2", UNKNOWN, wrong), "sw"
    )


async def test_a_failing_sms_gateway_reads_the_same_as_an_unknown_id(verifier, gateway, sms):
    sms.down = True
    known = await verifier.send_code("c1", KNOWN, "en")
    unknown = await verifier.send_code("c2", UNKNOWN, "en")
    await gateway.run()
    assert (known.outcome, unknown.outcome) == (Outcome.CODE_SENT, Outcome.CODE_SENT)


async def test_counts_are_rows_not_memory(verifier, session_factory):
    await verifier.begin("c1", KNOWN)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(LimitEvent)) == 1
