"""Ownership proof on SQLite and PostgreSQL (through the migrations): contact match,
one-time codes, limits that live in the database and outlive the process, audit.

The pure rules (parsing an ID, a code, a phone) are in tests/unit/test_verification.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.status.answers import explain
from ntsa_assistant.status.lookup import Part, PersonStatus, StatusUnavailable
from ntsa_assistant.status.sms import SmsUnavailable
from ntsa_assistant.status.verification import Outcome, Verifier
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import LimitEvent, OneTimeCode, ProofMethod, StatusDisclosure

KNOWN = "21000102"
UNKNOWN = "29999999"
PHONE = "+254700000102"
START = datetime(2023, 12, 10, 9, 0, tzinfo=NAIROBI)
CODE = re.compile(r"\b(\d{6})\b")


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


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    async def send(self, phone: str, message: str) -> None:
        if self.down:
            raise SmsUnavailable("down")
        self.sent.append((phone, message))

    def last_code(self) -> str:
        return CODE.search(self.sent[-1][1]).group(1)  # type: ignore[union-attr]


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
def verifier(
    session_factory: SessionFactory, backend: FakeBackend, sms: FakeSms, clock: MovableClock
) -> Verifier:
    return Verifier(session_factory, backend, sms, clock)


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


async def test_someone_elses_contact_proves_nothing(verifier, sms):
    result = await verifier.prove_by_contact("c1", KNOWN, None, "en")
    assert result.outcome is Outcome.NOT_OWN_CONTACT
    assert sms.sent == []
    assert await verifier.disclose("c1", KNOWN, Part.ALL) is None


async def test_a_different_own_phone_sends_a_code_to_the_phone_on_record(verifier, sms):
    result = await verifier.prove_by_contact("c1", KNOWN, "+254711111111", "en")
    assert result.outcome is Outcome.CODE_SENT
    assert result.mismatch
    assert result.phone_ending == "02"
    assert sms.sent == [(PHONE, t("en", "status.sms", code=sms.last_code(), minutes=10))]
    assert await verifier.disclose("c1", KNOWN, Part.ALL) is None


# --------------------------------------------------------------------------- codes


async def test_right_code_proves_once(verifier, sms):
    await verifier.send_code("c1", KNOWN, "en")
    code = sms.last_code()
    assert (await verifier.check_code("c1", KNOWN, code)).outcome is Outcome.PROVEN
    assert (await verifier.check_code("c1", KNOWN, code)).outcome is Outcome.NO_CODE
    assert (await verifier.disclose("c1", KNOWN, Part.PENDING))[1] is ProofMethod.CODE


async def test_code_is_stored_hashed_and_salted(verifier, sms, session_factory):
    await verifier.send_code("c1", KNOWN, "en")
    await verifier.send_code("c2", KNOWN, "en")
    async with session_factory() as session:
        rows = (await session.scalars(select(OneTimeCode))).all()
    codes = [CODE.search(message).group(1) for _, message in sms.sent]  # type: ignore[union-attr]
    assert len(rows) == len(codes) == 2
    for row in rows:
        assert len(row.code_hash) == 64
        assert not any(code in row.code_hash for code in codes)
    assert rows[0].salt != rows[1].salt


async def test_code_expires_after_ten_minutes(verifier, sms, clock):
    await verifier.send_code("c1", KNOWN, "en")
    clock.advance(timedelta(minutes=10, seconds=1))
    assert (await verifier.check_code("c1", KNOWN, sms.last_code())).outcome is Outcome.NO_CODE


async def test_code_works_only_in_the_chat_it_was_sent_for(verifier, sms):
    await verifier.send_code("c1", KNOWN, "en")
    assert (await verifier.check_code("c2", KNOWN, sms.last_code())).outcome is Outcome.NO_CODE


async def test_a_new_code_replaces_the_old_one(verifier, sms):
    await verifier.send_code("c1", KNOWN, "en")
    old = sms.last_code()
    await verifier.send_code("c1", KNOWN, "en")
    if old != sms.last_code():
        assert (await verifier.check_code("c1", KNOWN, old)).outcome is Outcome.WRONG_CODE
    assert (await verifier.check_code("c1", KNOWN, sms.last_code())).outcome is Outcome.PROVEN


async def test_three_wrong_codes_lock_out_with_a_time_to_retry(verifier, sms, clock):
    await verifier.send_code("c1", KNOWN, "en")
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


async def test_limits_live_in_the_database_and_survive_a_restart(
    session_factory, backend, sms, clock
):
    first = Verifier(session_factory, backend, sms, clock)
    for _ in range(5):
        assert (await first.begin("c1", KNOWN)).outcome is Outcome.NEEDS_PROOF
    restarted = Verifier(session_factory, backend, FakeSms(), clock)
    assert (await restarted.begin("c1", KNOWN)).outcome is Outcome.LOCKED


async def test_look_ups_are_limited_per_id_across_chats(verifier):
    for chat in range(5):
        await verifier.begin(f"chat{chat}", KNOWN)
    assert (await verifier.begin("another", KNOWN)).outcome is Outcome.LOCKED
    assert (await verifier.begin("another", "21000103")).outcome is Outcome.NEEDS_PROOF


async def test_codes_sent_are_limited_per_id(verifier, sms):
    for chat in ("a", "b", "c"):
        assert (await verifier.send_code(chat, KNOWN, "en")).outcome is Outcome.CODE_SENT
    assert (await verifier.send_code("d", KNOWN, "en")).outcome is Outcome.LOCKED
    assert len(sms.sent) == 3


async def test_failed_proofs_are_limited_per_id_across_chats(verifier, sms):
    for chat in ("a", "b", "c"):
        await verifier.send_code(chat, KNOWN, "en")
        await verifier.check_code(chat, KNOWN, "999999" if sms.last_code() != "999999" else "1")
    assert (await verifier.begin("d", KNOWN)).outcome is Outcome.LOCKED


async def test_sms_failure_is_our_own_exception(verifier, sms):
    sms.down = True
    with pytest.raises(SmsUnavailable):
        await verifier.send_code("c1", KNOWN, "en")


async def test_backend_failure_is_never_a_disclosure(verifier, backend):
    await verifier.prove_by_contact("c1", KNOWN, PHONE, "en")
    backend.down = True
    with pytest.raises(StatusUnavailable):
        await verifier.disclose("c1", KNOWN, Part.ALL)


# --------------------------------------------------------------------------- enumeration


async def test_an_unknown_id_goes_through_the_same_motions(verifier, sms):
    assert (await verifier.begin("c1", UNKNOWN)).outcome is Outcome.NEEDS_PROOF
    mismatch = await verifier.prove_by_contact("c1", UNKNOWN, "+254711111111", "en")
    assert mismatch.outcome is Outcome.CODE_SENT
    assert mismatch.mismatch
    assert re.fullmatch(r"\d\d", mismatch.phone_ending)
    again = await verifier.send_code("c1", UNKNOWN, "en")
    assert again.phone_ending == mismatch.phone_ending  # a made-up ending that stays put
    assert sms.sent == []  # nobody gets a text
    for expected in (Outcome.WRONG_CODE, Outcome.WRONG_CODE, Outcome.LOCKED):
        for guess in ("000000",):
            assert (await verifier.check_code("c1", UNKNOWN, guess)).outcome is expected
    assert await verifier.disclose("c1", UNKNOWN, Part.ALL) is None


async def test_unknown_and_known_ids_read_the_same(verifier, sms):
    known = await verifier.prove_by_contact("c1", KNOWN, "+254711111111", "en")
    unknown = await verifier.prove_by_contact("c2", UNKNOWN, "+254711111111", "en")
    blank = re.compile(r"ending \d\d")
    assert blank.sub("", explain(known, "en")) == blank.sub("", explain(unknown, "en"))
    wrong = "000000" if sms.last_code() != "000000" else "111111"
    assert explain(await verifier.check_code("c1", KNOWN, wrong), "sw") == explain(
        await verifier.check_code("c2", UNKNOWN, wrong), "sw"
    )


async def test_counts_are_rows_not_memory(verifier, session_factory):
    await verifier.begin("c1", KNOWN)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(LimitEvent)) == 1
