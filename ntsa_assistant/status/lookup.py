"""Looking up a person's own status: account validation, organisations, pending TIMS
applications (what is said about it: :mod:`ntsa_assistant.status.answers`).

:class:`StatusBackend` has two implementations: :class:`SqlStatusBackend` over our imported
records, and :class:`RemoteStatusBackend`, an aiohttp client for a remote status API. Either
one answers ``None`` for an unknown ID and raises :class:`StatusUnavailable` when it cannot
answer — never an empty, wrong "nothing pending".

The remote status API (base URL ``STATUS_API_URL``; optional ``STATUS_API_KEY`` sent as
``Authorization: Bearer ...``)::

    GET {base}/v1/people/{id_number}/status
    200 {"id_number": "21000102", "phone": "+254700000102",
         "validated_on": "2023-12-04" | null,
         "organisations": [{"kra_pin": "P000000101A", "name": "...",
                            "category": "motor_dealer", "link_status": "linked"}],
         "transactions": [{"reference": "TIMS-DL-2023-000102", "service": "...",
                           "status": "awaiting_payment", "submitted_on": "2023-12-05",
                           "updated_on": "2023-12-05"}]}
    404 the ID is unknown
    5xx retried with exponential backoff; any other answer, a malformed body or a body
        about another ID is a failure

``category``, ``link_status`` and ``status`` take the values of DESIGN.md's record files;
``transactions`` lists all of the person's TIMS applications (finished ones are ignored).
Every request has a timeout; repeated failures open a circuit breaker for a while, during
which look-ups fail at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

import aiohttp
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ntsa_assistant.core.identifiers import InvalidIdentifier, parse_id_number
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Account,
    LinkStatus,
    Organisation,
    OrganisationCategory,
    Transaction,
    TransactionStatus,
)

logger = logging.getLogger(__name__)


class StatusUnavailable(Exception):
    """The status source could not answer; the user gets an apology, never a guess."""


class Part(StrEnum):
    """What the person asked about."""

    ALL = "all"
    VALIDATION = "validation"
    PENDING = "pending"
    ORGANISATIONS = "organisations"

    @classmethod
    def parse(cls, value: object) -> Part:
        try:
            return cls(str(value))
        except ValueError:
            return cls.ALL


# What one message asked about: one part, or several at once ("is my account validated and
# my company linked?" → validation and organisations), written "validation+organisations".
Parts = frozenset[Part]
PARTS_SEPARATOR = "+"


def parse_parts(value: object) -> Parts:
    """``validation+organisations`` → both; anything unknown, or nothing, → everything."""
    values = {part.value for part in Part}
    pieces = [piece for piece in str(value or "").split(PARTS_SEPARATOR) if piece]
    if not pieces or any(piece not in values for piece in pieces):
        return frozenset({Part.ALL})
    parts = frozenset(Part(piece) for piece in pieces)
    return frozenset({Part.ALL}) if Part.ALL in parts else parts


def parts_label(parts: Part | Parts) -> str:
    """The parts as stored (the audit) and logged: ``organisations+validation``."""
    if isinstance(parts, Part):
        return parts.value
    return PARTS_SEPARATOR.join(sorted(part.value for part in parts))


@dataclass(frozen=True)
class OrganisationLink:
    kra_pin: str
    name: str
    category: OrganisationCategory
    link_status: LinkStatus


@dataclass(frozen=True)
class TransactionRecord:
    reference: str
    service: str
    status: TransactionStatus
    submitted_on: date
    updated_on: date


@dataclass(frozen=True)
class PersonStatus:
    id_number: str
    phone: str
    validated_on: date | None
    organisations: tuple[OrganisationLink, ...] = ()
    transactions: tuple[TransactionRecord, ...] = ()

    @property
    def pending(self) -> tuple[TransactionRecord, ...]:
        """Applications still open, the most recently updated first."""
        open_ = [tx for tx in self.transactions if tx.status.is_pending]
        return tuple(sorted(open_, key=lambda tx: (tx.updated_on, tx.reference), reverse=True))


class _PersonLike(Protocol):
    @property
    def id_number(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def validated_on(self) -> date | None: ...


class _OrganisationLike(Protocol):
    @property
    def kra_pin(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def category(self) -> OrganisationCategory: ...
    @property
    def link_status(self) -> LinkStatus: ...


class _TransactionLike(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def status(self) -> TransactionStatus: ...
    @property
    def submitted_on(self) -> date: ...
    @property
    def updated_on(self) -> date: ...


def person_status(
    person: _PersonLike,
    organisations: Iterable[_OrganisationLike],
    transactions: Iterable[_TransactionLike],
) -> PersonStatus:
    """One person's status from rows of any source (our records or the remote API)."""
    return PersonStatus(
        id_number=person.id_number,
        phone=person.phone,
        validated_on=person.validated_on,
        organisations=tuple(
            OrganisationLink(o.kra_pin, o.name, o.category, o.link_status) for o in organisations
        ),
        transactions=tuple(
            TransactionRecord(t.reference, t.service, t.status, t.submitted_on, t.updated_on)
            for t in transactions
        ),
    )


class StatusBackend(Protocol):
    async def lookup(self, id_number: str) -> PersonStatus | None:
        """The status of ``id_number``; None if unknown; :class:`StatusUnavailable` if it
        cannot tell."""
        ...


def _checked(id_number: str) -> str:
    try:
        return parse_id_number(id_number)
    except InvalidIdentifier as exc:
        raise ValueError(f"an ID number {exc}") from None


# --------------------------------------------------------------------------- SQL records


class SqlStatusBackend:
    """Our imported records (``ntsa-assistant import``)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def lookup(self, id_number: str) -> PersonStatus | None:
        _checked(id_number)
        try:
            async with self._sessions() as session:
                account = await session.get(Account, id_number)
                if account is None:
                    return None
                organisations = await session.scalars(
                    select(Organisation)
                    .where(Organisation.representative_id_number == id_number)
                    .order_by(Organisation.name)
                )
                transactions = await session.scalars(
                    select(Transaction)
                    .where(Transaction.id_number == id_number)
                    .order_by(Transaction.reference)
                )
                return person_status(account, organisations, transactions)
        except SQLAlchemyError as exc:
            raise StatusUnavailable(f"records database: {type(exc).__name__}") from exc


# --------------------------------------------------------------------------- remote API


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _ApiOrganisation(_Model):
    kra_pin: str
    name: str
    category: OrganisationCategory
    link_status: LinkStatus


class _ApiTransaction(_Model):
    reference: str
    service: str
    status: TransactionStatus
    submitted_on: date
    updated_on: date


class _ApiPerson(_Model):
    id_number: str
    phone: str
    validated_on: date | None = None
    organisations: list[_ApiOrganisation] = []
    transactions: list[_ApiTransaction] = []


class _Transient(StatusUnavailable):
    """A failure worth another try: a 5xx, a timeout, a dropped connection."""


def parse_person(body: object, id_number: str) -> PersonStatus:
    """The remote API's JSON → :class:`PersonStatus`; anything off is a failure."""
    try:
        person = _ApiPerson.model_validate(body)
    except ValidationError as exc:
        raise StatusUnavailable(
            f"status API: malformed answer ({exc.error_count()} errors)"
        ) from None
    if person.id_number != id_number:
        raise StatusUnavailable("status API: the answer is about another ID")
    return person_status(person, person.organisations, person.transactions)


class RemoteStatusBackend:
    """The remote status API (see the module's docstring for its shape)."""

    CIRCUIT = "status_api"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_seconds: float = 1.5,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        budget_seconds: float = 3.0,
        breaker: AsyncCircuitBreakerFactory | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._budget = budget_seconds
        self._breaker = breaker or AsyncCircuitBreakerFactory(default_threshold=3, default_ttl=30)

    async def lookup(self, id_number: str) -> PersonStatus | None:
        _checked(id_number)
        try:
            async with asyncio.timeout(self._budget):
                async with await self._breaker.get_breaker(self.CIRCUIT):
                    return await self._with_retries(id_number)
        except OpenedState as exc:
            raise StatusUnavailable("status API: circuit open") from exc
        except TimeoutError as exc:  # tries and backoff together took the whole budget
            logger.warning("status API gave no answer within %.1f s", self._budget)
            raise StatusUnavailable("status API: no answer within the budget") from exc

    async def _with_retries(self, id_number: str) -> PersonStatus | None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=2),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._get(id_number)
        raise StatusUnavailable("status API: no attempt made")  # pragma: no cover

    async def _get(self, id_number: str) -> PersonStatus | None:
        url = f"{self._base}/v1/people/{id_number}/status"
        try:
            async with self._http.get(
                url, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status == 404:
                    return None
                if response.status >= 500:
                    logger.warning("status API answered HTTP %s", response.status)
                    raise _Transient(f"status API: HTTP {response.status}")
                if response.status != 200:
                    raise StatusUnavailable(f"status API: HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("status API unreachable: %s", type(exc).__name__)
            raise _Transient(f"status API: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise StatusUnavailable("status API: the answer is not JSON") from exc
        return parse_person(body, id_number)
