"""Proof that a chat speaks for an ID number, before any status is told (DESIGN.md, "Privacy").

Two proofs, each good for :data:`PROOF_TTL` for that chat and that ID:

* **own contact** — the phone Telegram vouches for (the gateway's ``verified_phone``, sent
  only for the sender's own contact) equals the phone on record;
* **one-time code** — six digits sent by SMS to the phone on record; valid
  :data:`CODE_TTL`, :data:`CODE_TRIES` tries, single use, stored only as a salted HMAC.

No enumeration: an unknown ID goes through the same motions as a known one — a look-up is
counted, a shared phone "does not match", a code is "sent" (to a made-up ending that stays
the same for that ID), and every code typed for it is wrong. Limits (per chat and per ID,
over :attr:`Limits.window`) are rows in the database, so they survive restarts and hold
across replicas; a limit reached gives a lockout with the instant it ends.
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
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.identifiers import find_id_number, normalise_phone
from ntsa_assistant.core.masking import mask_id_number
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.status.lookup import (
    Part,
    PersonStatus,
    RemoteStatusBackend,
    SqlStatusBackend,
    StatusBackend,
)
from ntsa_assistant.status.sms import SmsSender, sms_sender
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows
from ntsa_assistant.storage.models import (
    LimitEvent,
    LimitKind,
    OneTimeCode,
    OwnershipProof,
    ProofMethod,
    StatusDisclosure,
)

logger = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 3
CODE_LENGTH = 6
PROOF_TTL = timedelta(minutes=15)

_NON_DIGITS = re.compile(r"[\s\-.]")


@dataclass(frozen=True)
class Limits:
    """How many attempts a chat, and an ID, may make within ``window``."""

    lookups_per_chat: int = 5
    lookups_per_id: int = 5
    failed_proofs_per_chat: int = 3
    failed_proofs_per_id: int = 3
    codes_per_chat: int = 3
    codes_per_id: int = 3
    window: timedelta = timedelta(hours=1)

    def of(self, kind: LimitKind) -> tuple[int, int]:
        """(per chat, per ID) for ``kind``."""
        return {
            LimitKind.LOOKUP: (self.lookups_per_chat, self.lookups_per_id),
            LimitKind.FAILED_PROOF: (self.failed_proofs_per_chat, self.failed_proofs_per_id),
            LimitKind.CODE_SENT: (self.codes_per_chat, self.codes_per_id),
        }[kind]


class Outcome(StrEnum):
    PROVEN = "proven"
    NEEDS_PROOF = "needs_proof"
    NOT_OWN_CONTACT = "not_own_contact"
    CODE_SENT = "code_sent"
    WRONG_CODE = "wrong_code"
    NO_CODE = "no_code"  # no live code: none sent, expired, used, or out of tries
    LOCKED = "locked"


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


def _hash(code: str, salt_hex: str) -> str:
    return hmac.new(bytes.fromhex(salt_hex), code.encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


class Verifier:
    """Ownership proofs, one-time codes, limits and the disclosure audit trail."""

    def __init__(
        self,
        sessions: SessionFactory,
        backend: StatusBackend,
        sms: SmsSender,
        clock: Clock,
        limits: Limits | None = None,
    ) -> None:
        self._sessions = sessions
        self.backend = backend
        self._sms = sms
        self._clock = clock
        self.limits = limits or Limits()

    # ------------------------------------------------------------------ the steps

    async def begin(self, chat_id: str, id_number: str) -> Result:
        """A look-up starts: LOCKED, PROVEN (a proof still holds) or NEEDS_PROOF."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            until = await self._locked_until(
                session, chat_id, id_number, (LimitKind.LOOKUP, LimitKind.FAILED_PROOF)
            )
            if until is not None:
                return self._locked(chat_id, id_number, until)
            session.add(
                LimitEvent(kind=LimitKind.LOOKUP, chat_id=chat_id, id_number=id_number, at=now)
            )
            proof = await self._live_proof(session, chat_id, id_number, now)
        if proof is not None:
            return Result(Outcome.PROVEN, method=proof.method)
        return Result(Outcome.NEEDS_PROOF)

    async def prove_by_contact(
        self, chat_id: str, id_number: str, verified_phone: str | None, lang: str
    ) -> Result:
        """A shared contact: only the sender's own proves anything; a mismatch sends a code.

        Raises StatusUnavailable or SmsUnavailable when a service fails."""
        phone = normalise_phone(verified_phone)
        if phone is None:
            return Result(Outcome.NOT_OWN_CONTACT)
        async with self._sessions() as session:
            until = await self._locked_until(session, chat_id, id_number, (LimitKind.FAILED_PROOF,))
        if until is not None:
            return self._locked(chat_id, id_number, until)
        status = await self.backend.lookup(id_number)
        if status is not None and normalise_phone(status.phone) == phone:
            await self._record_proof(chat_id, id_number, ProofMethod.CONTACT)
            return Result(Outcome.PROVEN, method=ProofMethod.CONTACT)
        logger.info(
            "chat %s: shared phone does not prove ID %s", chat_id, mask_id_number(id_number)
        )
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
        """Sends a fresh code (the older ones stop working): CODE_SENT or LOCKED.

        Raises StatusUnavailable or SmsUnavailable when a service fails."""
        if not looked_up:
            status = await self.backend.lookup(id_number)
        now = self._clock.now()
        code = new_code()
        salt = secrets.token_hex(16)
        async with self._sessions() as session, session.begin():
            until = await self._locked_until(
                session, chat_id, id_number, (LimitKind.FAILED_PROOF, LimitKind.CODE_SENT)
            )
            if until is not None:
                return self._locked(chat_id, id_number, until)
            hint = (
                phone_ending(status.phone)
                if status is not None
                else await self._made_up_ending(session, id_number)
            )
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
                    # An unknown ID gets a code nobody is told, so every try is wrong.
                    code_hash=_hash(code if status is not None else new_code(), salt),
                    phone_hint=hint,
                    created_at=now,
                    expires_at=now + CODE_TTL,
                    attempts=0,
                )
            )
            session.add(
                LimitEvent(kind=LimitKind.CODE_SENT, chat_id=chat_id, id_number=id_number, at=now)
            )
        if status is not None:
            minutes = int(CODE_TTL.total_seconds() // 60)
            await self._sms.send(status.phone, t(lang, "status.sms", code=code, minutes=minutes))
        return Result(Outcome.CODE_SENT, phone_ending=hint)

    async def check_code(self, chat_id: str, id_number: str, typed: str) -> Result:
        """A typed code: PROVEN, WRONG_CODE (with tries left), NO_CODE or LOCKED."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            until = await self._locked_until(session, chat_id, id_number, (LimitKind.FAILED_PROOF,))
            if until is not None:
                return self._locked(chat_id, id_number, until)
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
            live = (
                OneTimeCode.id == row.id,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.attempts < CODE_TRIES,
            )
            if hmac.compare_digest(_hash(typed, row.salt), row.code_hash):
                used = await session.execute(update(OneTimeCode).where(*live).values(used_at=now))
                if claimed_rows(used) == 1:
                    session.add(self._proof(chat_id, id_number, ProofMethod.CODE, now))
                    return Result(Outcome.PROVEN, method=ProofMethod.CODE)
                return Result(Outcome.NO_CODE)
            await session.execute(
                update(OneTimeCode).where(*live).values(attempts=OneTimeCode.attempts + 1)
            )
            session.add(
                LimitEvent(
                    kind=LimitKind.FAILED_PROOF, chat_id=chat_id, id_number=id_number, at=now
                )
            )
            await session.flush()
            until = await self._locked_until(session, chat_id, id_number, (LimitKind.FAILED_PROOF,))
        logger.info("chat %s: wrong code for ID %s", chat_id, mask_id_number(id_number))
        if until is not None:
            return self._locked(chat_id, id_number, until)
        tries_left = CODE_TRIES - tries_before - 1
        if tries_left <= 0:
            return Result(Outcome.NO_CODE)
        return Result(Outcome.WRONG_CODE, tries_left=tries_left)

    async def disclose(
        self, chat_id: str, id_number: str, part: Part
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
                    parts=part.value,
                )
            )
        logger.info(
            "chat %s: status of ID %s disclosed (%s, proven by %s)",
            chat_id,
            mask_id_number(id_number),
            part.value,
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
        async with self._sessions() as session, session.begin():
            session.add(self._proof(chat_id, id_number, method, self._clock.now()))

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

    async def _locked_until(
        self,
        session: AsyncSession,
        chat_id: str,
        id_number: str,
        kinds: tuple[LimitKind, ...],
    ) -> datetime | None:
        """When the latest-ending limit reached among ``kinds`` frees up; None if none is."""
        now = self._clock.now()
        since = now - self.limits.window
        until: datetime | None = None
        for kind in kinds:
            per_chat, per_id = self.limits.of(kind)
            for column, value, limit in (
                (LimitEvent.chat_id, chat_id, per_chat),
                (LimitEvent.id_number, id_number, per_id),
            ):
                count = await session.scalar(
                    select(func.count())
                    .select_from(LimitEvent)
                    .where(LimitEvent.kind == kind, column == value, LimitEvent.at > since)
                )
                if not count or count < limit:
                    continue
                times = (
                    await session.scalars(
                        select(LimitEvent.at)
                        .where(LimitEvent.kind == kind, column == value, LimitEvent.at > since)
                        .order_by(LimitEvent.at)
                    )
                ).all()
                frees_at = times[len(times) - limit] + self.limits.window
                until = frees_at if until is None else max(until, frees_at)
        return until

    def _locked(self, chat_id: str, id_number: str, until: datetime) -> Result:
        logger.warning(
            "chat %s: status look-ups for ID %s locked until %s",
            chat_id,
            mask_id_number(id_number),
            until.isoformat(),
        )
        return Result(Outcome.LOCKED, retry_at=until)


def build_verifier(
    settings: Settings, sessions: SessionFactory, http: aiohttp.ClientSession, clock: Clock
) -> Verifier:
    """The verifier a process uses: its status backend and SMS gateway from the settings."""
    backend: StatusBackend
    if settings.status_api_url:
        api_key = settings.status_api_key.get_secret_value() if settings.status_api_key else None
        backend = RemoteStatusBackend(
            http,
            settings.status_api_url,
            api_key=api_key,
            timeout_seconds=settings.status_api_timeout_seconds,
            attempts=settings.status_api_attempts,
        )
        logger.info("status look-ups use the remote status API")
    else:
        backend = SqlStatusBackend(sessions)
    sms_key = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
    sms = sms_sender(
        http, settings.sms_gateway_url, settings.sms_username, sms_key, settings.sms_sender
    )
    return Verifier(sessions, backend, sms, clock)


_TYPED_PHONE = re.compile(r"(?:\+|\b0|\b254)\d[\d\s\-]{7,}")


def looks_like_phone(text: str | None) -> bool:
    """A typed phone number (which never proves anything)."""
    return bool(_TYPED_PHONE.search(text or ""))
