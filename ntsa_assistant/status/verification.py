"""Proof that a chat speaks for an ID number, before any status is told (DESIGN.md, "Privacy").

Two proofs, each good for :data:`PROOF_TTL` for that chat and that ID:

* **own contact** — the phone Telegram vouches for (the gateway's ``verified_phone``, sent
  only for the sender's own contact) equals the phone on record;
* **one-time code** — six digits sent by SMS to the phone on record; valid
  :data:`CODE_TTL`, :data:`CODE_TRIES` tries, single use, stored only as an HMAC keyed
  with a salt and the server's pepper (``CODE_PEPPER``).

No enumeration: an unknown ID goes through the same motions as a known one — a look-up is
counted, a shared phone "does not match", a code is "sent" (to a made-up ending that stays
the same for that ID; its outbox row has nothing to send), and every code typed for it is
wrong. Codes are queued, never sent while the user waits (:mod:`ntsa_assistant.status.sms`),
so both take the same time and neither can fail differently.

Limits (:mod:`ntsa_assistant.status.limits`, atomic under concurrency) throttle chats and
protect phones, never the owner: look-ups and failed proofs per chat lock that chat out;
the per-ID limits (look-ups, codes, failed proofs), the daily cap per phone and the hourly
SMS budget stop codes being texted or checked, but a contact share that matches the phone
on record always proves — strangers looking up an ID cannot lock its owner out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.identifiers import find_id_number, normalise_phone
from ntsa_assistant.core.masking import mask_id_number
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.reporting import activity
from ntsa_assistant.status import limits
from ntsa_assistant.status.limits import DAY, Limits, Rule, Scope
from ntsa_assistant.status.lookup import (
    Part,
    Parts,
    PersonStatus,
    RemoteStatusBackend,
    SqlStatusBackend,
    StatusBackend,
    parts_label,
)
from ntsa_assistant.status.sms import codes_can_be_sent
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import (
    LimitKind,
    OneTimeCode,
    OwnershipProof,
    ProofMethod,
    SmsOutbox,
    StatusDisclosure,
    StatusOutcome,
)

logger = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 3
CODE_LENGTH = 6
PROOF_TTL = timedelta(minutes=15)

_NON_DIGITS = re.compile(r"[\s\-.]")
_PROVEN = {
    ProofMethod.CONTACT: StatusOutcome.PROVEN_CONTACT,
    ProofMethod.CODE: StatusOutcome.PROVEN_CODE,
}

__all__ = ["Limits", "Outcome", "Result", "Verifier", "build_verifier"]


class Outcome(StrEnum):
    PROVEN = "proven"
    NEEDS_PROOF = "needs_proof"
    NOT_OWN_CONTACT = "not_own_contact"
    CODE_SENT = "code_sent"
    WRONG_CODE = "wrong_code"
    NO_CODE = "no_code"  # no live code: none sent, expired, used, or out of tries
    LOCKED = "locked"
    CODES_UNAVAILABLE = "codes_unavailable"  # no SMS gateway, or the SMS budget is spent


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    method: ProofMethod | None = None
    phone_ending: str | None = None
    mismatch: bool = False  # the code was sent because a shared phone did not match
    tries_left: int | None = None
    retry_at: datetime | None = None


def parse_id_number(text: str | None) -> str | None:
    """``"my ID is 2100 0102"`` → ``"21000102"``; None unless it holds one 7–8 digit number."""
    return find_id_number(text)


def parse_code(text: str | None) -> str | None:
    """``"123 456"`` → ``"123456"``; None unless the message is just six digits."""
    compact = _NON_DIGITS.sub("", (text or "").strip())
    return compact if len(compact) == CODE_LENGTH and compact.isdigit() else None


def phone_ending(phone: str) -> str:
    return phone[-2:]


def _hash(code: str, salt_hex: str, pepper: bytes) -> str:
    return hmac.new(bytes.fromhex(salt_hex) + pepper, code.encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


class Verifier:
    """Ownership proofs, one-time codes, limits and the disclosure audit trail."""

    def __init__(
        self,
        sessions: SessionFactory,
        backend: StatusBackend,
        clock: Clock,
        limits: Limits | None = None,
        *,
        pepper: bytes | None = None,
        codes: bool = True,
    ) -> None:
        """``pepper``: the server's secret in code hashes (random per process when None);
        ``codes``: whether codes can be sent at all (an SMS gateway, or development mode)."""
        self._sessions = sessions
        self.backend = backend
        self._clock = clock
        self.limits = limits or Limits()
        self._pepper = pepper or secrets.token_bytes(32)
        self._codes = codes

    # ------------------------------------------------------------------ the rules

    def _rule(self, kind: LimitKind, scope: Scope, value: str) -> Rule:
        lim = self.limits
        per: dict[tuple[LimitKind, Scope], int] = {
            (LimitKind.LOOKUP, Scope.CHAT): lim.lookups_per_chat,
            (LimitKind.LOOKUP, Scope.ID): lim.lookups_per_id,
            (LimitKind.FAILED_PROOF, Scope.CHAT): lim.failed_proofs_per_chat,
            (LimitKind.FAILED_PROOF, Scope.ID): lim.failed_proofs_per_id,
            (LimitKind.CODE_SENT, Scope.CHAT): lim.codes_per_chat,
            (LimitKind.CODE_SENT, Scope.ID): lim.codes_per_id,
        }
        return Rule(kind, scope, value, per[(kind, scope)], lim.window)

    def _chat_rules(self, chat_id: str) -> list[Rule]:
        """What locks a chat out of status checks altogether."""
        return [
            self._rule(LimitKind.LOOKUP, Scope.CHAT, chat_id),
            self._rule(LimitKind.FAILED_PROOF, Scope.CHAT, chat_id),
        ]

    def _failed_proof_rules(self, chat_id: str, id_number: str) -> list[Rule]:
        return [
            self._rule(LimitKind.FAILED_PROOF, Scope.CHAT, chat_id),
            self._rule(LimitKind.FAILED_PROOF, Scope.ID, id_number),
        ]

    def _code_rules(self, chat_id: str, id_number: str, phone: str | None) -> list[Rule]:
        """Codes per chat and per ID, and per phone per day (an unknown ID: per ID per
        day, which reads the same)."""
        daily = (
            Rule(LimitKind.CODE_SENT, Scope.PHONE, phone, self.limits.codes_per_phone_per_day, DAY)
            if phone is not None
            else Rule(
                LimitKind.CODE_SENT, Scope.ID, id_number, self.limits.codes_per_phone_per_day, DAY
            )
        )
        return [
            self._rule(LimitKind.CODE_SENT, Scope.CHAT, chat_id),
            self._rule(LimitKind.CODE_SENT, Scope.ID, id_number),
            daily,
        ]

    def _budget(self) -> Rule:
        return Rule(LimitKind.CODE_SENT, Scope.ALL, "sms", self.limits.sms_per_hour, limits.HOUR)

    # ------------------------------------------------------------------ the steps

    async def begin(self, chat_id: str, id_number: str) -> Result:
        """A look-up starts: LOCKED (this chat's limits), PROVEN (a proof still holds) or
        NEEDS_PROOF. Strangers' look-ups of the same ID never lock this chat."""
        now = self._clock.now()
        rules = self._chat_rules(chat_id)

        async def attempt() -> Result:
            async with self._sessions() as session, session.begin():
                await limits.lock(session, rules[:1], now)
                until = await limits.frees_at(session, rules, now)
                if until is not None:
                    return await self._locked(session, chat_id, id_number, until)
                limits.count(session, LimitKind.LOOKUP, chat_id, id_number, now)
                proof = await self._live_proof(session, chat_id, id_number, now)
            if proof is not None:
                return Result(Outcome.PROVEN, method=proof.method)
            return Result(Outcome.NEEDS_PROOF)

        return await retry_if_locked(attempt)

    async def prove_by_contact(
        self, chat_id: str, id_number: str, verified_phone: str | None, lang: str
    ) -> Result:
        """A shared contact: only the sender's own proves anything; a mismatch sends a code.

        A match proves even when the ID's own limits are reached (strangers may have
        used them up); only this chat's failed proofs refuse it. Raises StatusUnavailable
        when the status backend fails."""
        phone = normalise_phone(verified_phone)
        if phone is None:
            return Result(Outcome.NOT_OWN_CONTACT)
        now = self._clock.now()

        async def locked() -> Result | None:
            async with self._sessions() as session, session.begin():
                until = await limits.frees_at(session, self._chat_rules(chat_id)[1:], now)
                if until is None:
                    return None
                return await self._locked(session, chat_id, id_number, until)

        refused = await retry_if_locked(locked)
        if refused is not None:
            return refused
        status = await self.backend.lookup(id_number)
        if status is not None and normalise_phone(status.phone) == phone:
            await self._record_proof(chat_id, id_number, ProofMethod.CONTACT)
            return Result(Outcome.PROVEN, method=ProofMethod.CONTACT)
        logger.info(
            "chat %s: shared phone does not prove ID %s", chat_id, mask_id_number(id_number)
        )
        await self._failed(chat_id, "contact_mismatch")
        result = await self.send_code(chat_id, id_number, lang, status=status, looked_up=True)
        return Result(
            result.outcome,
            phone_ending=result.phone_ending,
            mismatch=result.outcome is Outcome.CODE_SENT,
            retry_at=result.retry_at,
        )

    async def send_code(
        self,
        chat_id: str,
        id_number: str,
        lang: str,
        *,
        status: PersonStatus | None = None,
        looked_up: bool = False,
    ) -> Result:
        """Queues a fresh code for the phone on record (the older ones stop working):
        CODE_SENT, LOCKED or CODES_UNAVAILABLE — the same for a known and an unknown ID.

        Raises StatusUnavailable when the status backend fails."""
        if not self._codes:
            return Result(Outcome.CODES_UNAVAILABLE)
        if not looked_up:
            status = await self.backend.lookup(id_number)
        now = self._clock.now()
        code = new_code() if status is not None else None
        salt = secrets.token_hex(16)
        phone = limits.phone_key(self._pepper, status.phone) if status is not None else None
        budget = self._budget()
        rules = self._code_rules(chat_id, id_number, phone)
        gates = [
            *rules,
            *self._failed_proof_rules(chat_id, id_number),
            self._rule(LimitKind.LOOKUP, Scope.ID, id_number),  # the victim's phone
        ]

        async def attempt() -> Result:
            async with self._sessions() as session, session.begin():
                await limits.lock(session, [*rules, budget], now)
                if await limits.frees_at(session, [budget], now) is not None:
                    logger.warning("the hourly SMS budget is spent: no codes for now")
                    return Result(Outcome.CODES_UNAVAILABLE)
                until = await limits.frees_at(session, gates, now)
                if until is not None:
                    return await self._locked(session, chat_id, id_number, until)
                made_up = await self._made_up_ending(session, id_number)  # both branches
                hint = phone_ending(status.phone) if status is not None else made_up
                await self._queue(session, chat_id, id_number, code, salt, hint, status, lang, now)
                limits.count(session, LimitKind.CODE_SENT, chat_id, id_number, now, phone)
            return Result(Outcome.CODE_SENT, phone_ending=hint)

        return await retry_if_locked(attempt)

    async def _queue(
        self,
        session: AsyncSession,
        chat_id: str,
        id_number: str,
        code: str | None,
        salt: str,
        hint: str,
        status: PersonStatus | None,
        lang: str,
        now: datetime,
    ) -> None:
        """The code's hash and its outbox row (an unknown ID: a code nobody is told, and a
        row with nothing to send)."""
        await session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.chat_id == chat_id,
                OneTimeCode.id_number == id_number,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .values(expires_at=now)
        )
        session.add(
            OneTimeCode(
                chat_id=chat_id,
                id_number=id_number,
                salt=salt,
                code_hash=_hash(code or new_code(), salt, self._pepper),
                phone_hint=hint,
                created_at=now,
                expires_at=now + CODE_TTL,
                attempts=0,
            )
        )
        minutes = int(CODE_TTL.total_seconds() // 60)
        text = t(lang, "status.sms", code=code, minutes=minutes) if code is not None else None
        session.add(
            SmsOutbox(
                phone=status.phone if status is not None else None,
                body=text,
                created_at=now,
                expires_at=now + CODE_TTL,
                attempts=0,
            )
        )

    async def check_code(self, chat_id: str, id_number: str, typed: str) -> Result:
        """A typed code: PROVEN, WRONG_CODE (with tries left), NO_CODE or LOCKED."""
        now = self._clock.now()
        rules = self._failed_proof_rules(chat_id, id_number)

        async def attempt() -> Result:
            async with self._sessions() as session, session.begin():
                await limits.lock(session, rules, now)
                until = await limits.frees_at(session, rules, now)
                if until is not None:
                    return await self._locked(session, chat_id, id_number, until)
                row = await session.scalar(
                    select(OneTimeCode)
                    .where(
                        OneTimeCode.chat_id == chat_id,
                        OneTimeCode.id_number == id_number,
                        OneTimeCode.used_at.is_(None),
                        OneTimeCode.expires_at > now,
                        OneTimeCode.attempts < CODE_TRIES,
                    )
                    .order_by(OneTimeCode.created_at.desc(), OneTimeCode.id.desc())
                    .limit(1)
                )
                if row is None:
                    return Result(Outcome.NO_CODE)
                tries_before = row.attempts
                # Each try is claimed before the code is compared: never more than CODE_TRIES.
                claimed = await session.execute(
                    update(OneTimeCode)
                    .where(
                        OneTimeCode.id == row.id,
                        OneTimeCode.used_at.is_(None),
                        OneTimeCode.attempts == tries_before,
                    )
                    .values(attempts=OneTimeCode.attempts + 1)
                )
                if claimed_rows(claimed) != 1:
                    return Result(Outcome.NO_CODE)
                if hmac.compare_digest(_hash(typed, row.salt, self._pepper), row.code_hash):
                    await session.execute(
                        update(OneTimeCode).where(OneTimeCode.id == row.id).values(used_at=now)
                    )
                    session.add(self._proof(chat_id, id_number, ProofMethod.CODE, now))
                    await activity.status_lookup(session, chat_id, StatusOutcome.PROVEN_CODE, now)
                    return Result(Outcome.PROVEN, method=ProofMethod.CODE)
                limits.count(session, LimitKind.FAILED_PROOF, chat_id, id_number, now)
                await activity.status_lookup(
                    session, chat_id, StatusOutcome.FAILED, now, reason="wrong_code"
                )
                await session.flush()
                logger.info("chat %s: wrong code for ID %s", chat_id, mask_id_number(id_number))
                until = await limits.frees_at(session, rules, now)
                if until is not None:  # this try reached the limit
                    return await self._locked(session, chat_id, id_number, until)
            tries_left = CODE_TRIES - tries_before - 1
            if tries_left <= 0:
                return Result(Outcome.NO_CODE)
            return Result(Outcome.WRONG_CODE, tries_left=tries_left)

        return await retry_if_locked(attempt)

    async def disclose(
        self, chat_id: str, id_number: str, part: Part | Parts
    ) -> tuple[PersonStatus, ProofMethod] | None:
        """The status, if this chat holds a live proof for the ID; each answer is audited.

        Raises StatusUnavailable when the backend cannot answer."""
        now = self._clock.now()
        async with self._sessions() as session:
            proof = await self._live_proof(session, chat_id, id_number, now)
        if proof is None:
            return None
        status = await self.backend.lookup(id_number)
        if status is None:
            return None
        async with self._sessions() as session, session.begin():
            session.add(
                StatusDisclosure(
                    disclosed_at=now,
                    chat_id=chat_id,
                    id_number=id_number,
                    method=proof.method,
                    parts=parts_label(part),
                )
            )
        logger.info(
            "chat %s: status of ID %s disclosed (%s, proven by %s)",
            chat_id,
            mask_id_number(id_number),
            parts_label(part),
            proof.method.value,
        )
        return status, proof.method

    # ------------------------------------------------------------------ storage helpers

    def _proof(
        self, chat_id: str, id_number: str, method: ProofMethod, now: datetime
    ) -> OwnershipProof:
        return OwnershipProof(
            chat_id=chat_id,
            id_number=id_number,
            method=method,
            proven_at=now,
            expires_at=now + PROOF_TTL,
        )

    async def _record_proof(self, chat_id: str, id_number: str, method: ProofMethod) -> None:
        now = self._clock.now()

        async def attempt() -> None:
            async with self._sessions() as session, session.begin():
                session.add(self._proof(chat_id, id_number, method, now))
                await activity.status_lookup(session, chat_id, _PROVEN[method], now)

        await retry_if_locked(attempt)

    async def _failed(self, chat_id: str, reason: str) -> None:
        """A proof that failed outside a transaction of its own (a shared phone that does
        not match: a code is offered next)."""
        now = self._clock.now()

        async def attempt() -> None:
            async with self._sessions() as session, session.begin():
                await activity.status_lookup(
                    session, chat_id, StatusOutcome.FAILED, now, reason=reason
                )

        await retry_if_locked(attempt)

    async def _live_proof(
        self, session: AsyncSession, chat_id: str, id_number: str, now: datetime
    ) -> OwnershipProof | None:
        return await session.scalar(
            select(OwnershipProof)
            .where(
                OwnershipProof.chat_id == chat_id,
                OwnershipProof.id_number == id_number,
                OwnershipProof.expires_at > now,
            )
            .order_by(OwnershipProof.proven_at.desc())
            .limit(1)
        )

    async def _made_up_ending(self, session: AsyncSession, id_number: str) -> str:
        """For an unknown ID: the ending shown before, so repeats look like a real phone."""
        earlier = await session.scalar(
            select(OneTimeCode.phone_hint)
            .where(OneTimeCode.id_number == id_number)
            .order_by(OneTimeCode.id.desc())
            .limit(1)
        )
        return earlier or f"{secrets.randbelow(100):02d}"

    async def _locked(
        self, session: AsyncSession, chat_id: str, id_number: str, until: datetime
    ) -> Result:
        """Refused by the limits (recorded in the caller's transaction)."""
        logger.warning(
            "chat %s: status look-ups for ID %s locked until %s",
            chat_id,
            mask_id_number(id_number),
            until.isoformat(),
        )
        await activity.status_lookup(session, chat_id, StatusOutcome.LOCKED, self._clock.now())
        return Result(Outcome.LOCKED, retry_at=until)


def pepper_of(settings: Settings) -> bytes | None:
    """``CODE_PEPPER``; None (with a warning) when unset: a random one per process."""
    secret = settings.code_pepper.get_secret_value() if settings.code_pepper else ""
    if not secret:
        logger.warning(
            "CODE_PEPPER is unset: a random pepper for this process, so codes stop working "
            "when it restarts; set it where it matters (production, several action servers)"
        )
        return None
    return secret.encode()


def build_verifier(
    settings: Settings, sessions: SessionFactory, http: aiohttp.ClientSession, clock: Clock
) -> Verifier:
    """The verifier a process uses: its status backend, pepper and limits from the settings.
    It sends no SMS itself: codes are queued for the gateway."""
    backend: StatusBackend
    if settings.status_api_url:
        api_key = settings.status_api_key.get_secret_value() if settings.status_api_key else None
        backend = RemoteStatusBackend(
            http,
            settings.status_api_url,
            api_key=api_key,
            timeout_seconds=settings.status_api_timeout_seconds,
            attempts=settings.status_api_attempts,
            budget_seconds=settings.status_api_budget_seconds,
        )
        logger.info("status look-ups use the remote status API")
    else:
        backend = SqlStatusBackend(sessions)
    configured = Limits(
        codes_per_phone_per_day=settings.sms_codes_per_phone_per_day,
        sms_per_hour=settings.sms_budget_per_hour,
    )
    return Verifier(
        sessions,
        backend,
        clock,
        configured,
        pepper=pepper_of(settings),
        codes=codes_can_be_sent(settings),
    )


_TYPED_PHONE = re.compile(r"(?:\+|\b0|\b254)\d[\d\s\-]{7,}")


def looks_like_phone(text: str | None) -> bool:
    """A typed phone number (which never proves anything)."""
    return bool(_TYPED_PHONE.search(text or ""))
