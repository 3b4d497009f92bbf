"""An operator's broadcast (``ntsa-assistant broadcast``): its audience, its send list, and
the sender that works through the list within Telegram's limits.

**The list.** A broadcast is known by its language, audience and text (a hash of the three
is its key): its rows are made once, in one transaction, when it is first started; running
the same command again resumes it — whatever is still pending is sent, nothing already sent
is sent again. The audience is read then, once: ``subscribers`` (those subscribed in the
broadcast's language), ``session:CODE`` (the active registrations of one training session)
or ``registrants`` (the active registrations of every session that has not ended). Only
people whose language is the broadcast's are on its list; the others are counted, so the
operator can send them the text in their language.

**The sender.** A few workers take rows one by one; each first gets the right to send from
the :class:`~ntsa_assistant.announcements.pacing.Pacer` (25 a second, 1 a second per chat,
nothing during a 429's ``retry_after``), then leases the row, sends, and finishes the row.
429 → the row goes back untouched and everyone waits; 403 → ``blocked``, unsubscribed;
other 4xx → ``failed``; a transient failure → back to the list after a short backoff, up to
:data:`~ntsa_assistant.announcements.outbox.MAX_ATTEMPTS` tries. A crash leaves at most the
rows in flight leased: the next run sends them once their :data:`LEASE` is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, case, func, literal, select
from sqlalchemy.exc import IntegrityError

from ntsa_assistant.announcements import outbox
from ntsa_assistant.announcements.bot_api import BotApi, SendStatus
from ntsa_assistant.announcements.outbox import SUBSCRIBERS
from ntsa_assistant.announcements.pacing import Pacer
from ntsa_assistant.announcements.subscriptions import TELEGRAM_ID_LIMIT
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.core.telegram_text import utf16_len
from ntsa_assistant.storage.engine import SessionFactory, retry_if_locked
from ntsa_assistant.storage.models import (
    Announcement,
    AnnouncementDelivery,
    AnnouncementKind,
    DeliveryState,
    Language,
    Registration,
    RegistrationStatus,
    Subscription,
    TrainingSession,
)

logger = logging.getLogger(__name__)

REGISTRANTS = "registrants"
SESSION_PREFIX = "session:"
MAX_TEXT_LENGTH = 4096  # Telegram's, in UTF-16 units
# Longer than any one send takes (a 429 gives its row back before waiting), short enough that
# a run restarted right after a crash soon sends what the dead run had in hand.
LEASE = timedelta(seconds=60)
WORKERS = 8
PAGE = 200
# Backoff of a row after a transient failure (network, Telegram 5xx): 1, 2, 4 … seconds.
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 30.0
# This many transient failures in a row (no answer from Telegram at all) stop the run.
GIVE_UP_AFTER = 20


class BroadcastError(ValueError):
    """The broadcast cannot start; the message says why (shown to the operator)."""


@dataclass(frozen=True)
class Audience:
    kind: str  # subscribers, registrants, session
    session_code: str | None = None

    @property
    def value(self) -> str:
        return f"{SESSION_PREFIX}{self.session_code}" if self.session_code else self.kind


def parse_audience(value: str) -> Audience:
    """``subscribers``, ``registrants`` or ``session:CODE``."""
    text = value.strip()
    if text in (SUBSCRIBERS, REGISTRANTS):
        return Audience(text)
    if text.startswith(SESSION_PREFIX) and (code := text.removeprefix(SESSION_PREFIX).strip()):
        return Audience("session", code)
    raise BroadcastError(
        f"unknown audience {value!r}: use subscribers, registrants or session:CODE"
    )


def check_text(text: str) -> str:
    """The message as it will be sent: trimmed, not empty, within Telegram's length."""
    cleaned = text.strip()
    if not cleaned:
        raise BroadcastError("the text file is empty")
    if (length := utf16_len(cleaned)) > MAX_TEXT_LENGTH:
        raise BroadcastError(
            f"the text is {length} characters long; Telegram takes at most {MAX_TEXT_LENGTH}"
        )
    return cleaned


def broadcast_key(text: str, lang: Lang, audience: Audience) -> str:
    digest = hashlib.sha256(f"{lang}\n{audience.value}\n{text}".encode()).hexdigest()
    return f"broadcast:{digest}"


@dataclass(frozen=True)
class Plan:
    """A broadcast's list, as the run found it."""

    announcement_id: int
    resumed: bool  # made by an earlier run
    created_at: datetime
    left_out: int  # people of the audience who use the other language (when made now)


def _recipients(
    audience: Audience, lang: Lang, now: datetime, *, same_language: bool
) -> Select[int, str]:
    """(chat_id, language) of each person of the audience who uses ``lang`` (or, with
    ``same_language=False``, who does not), written to in ``lang``."""
    language = Language(lang)
    label = literal(language.value).label("language")
    if audience.kind == SUBSCRIBERS:
        spoken = Subscription.language == language
        return select(Subscription.chat_id, label).where(
            _telegram(Subscription.chat_id), spoken if same_language else ~spoken
        )
    in_lang = func.sum(case((Registration.language == language, 1), else_=0))
    which = (
        Registration.session_code == audience.session_code
        if audience.session_code is not None
        else TrainingSession.ends_at > now
    )
    return (
        select(Registration.chat_id, label)
        .join(TrainingSession, TrainingSession.code == Registration.session_code)
        .where(
            Registration.status != RegistrationStatus.CANCELLED,
            which,
            _telegram(Registration.chat_id),
        )
        .group_by(Registration.chat_id)
        # a person registered in both languages is one recipient, in the broadcast's
        .having(in_lang > 0 if same_language else in_lang == 0)
    )


def _telegram(chat: SQLColumnExpression[int]) -> ColumnElement[bool]:
    return and_(chat > 0, chat < TELEGRAM_ID_LIMIT)


async def prepare(
    sessions: SessionFactory, text: str, lang: Lang, audience: Audience, now: datetime
) -> Plan:
    """The broadcast's list: found (an earlier run made it) or made now, whole, at once."""
    key = broadcast_key(text, lang, audience)

    async def attempt() -> Plan:
        async with sessions() as db, db.begin():
            found = await db.scalar(select(Announcement).where(Announcement.key == key))
            if found is not None:
                return Plan(found.id, True, found.created_at, 0)
            if audience.session_code is not None and (
                await db.get(TrainingSession, audience.session_code) is None
            ):
                raise BroadcastError(f"there is no training session {audience.session_code!r}")
            announcement = Announcement(
                key=key,
                kind=AnnouncementKind.BROADCAST,
                language=Language(lang),
                audience=audience.value,
                text=text,
                created_at=now,
            )
            db.add(announcement)
            await db.flush()
            wanted = _recipients(audience, lang, now, same_language=True).subquery()
            await outbox.add_rows(db, announcement.id, wanted, now)
            others = _recipients(audience, lang, now, same_language=False).subquery()
            left_out = int(await db.scalar(select(func.count()).select_from(others)) or 0)
            return Plan(announcement.id, False, now, left_out)

    try:
        return await retry_if_locked(attempt)
    except IntegrityError:  # another run made the same broadcast just now: resume it
        return await retry_if_locked(attempt)


async def count_audience(
    sessions: SessionFactory, lang: Lang, audience: Audience, now: datetime
) -> tuple[int, int]:
    """How many people a broadcast would reach now, and how many use the other language."""
    async with sessions() as db:
        if audience.session_code is not None and (
            await db.get(TrainingSession, audience.session_code) is None
        ):
            raise BroadcastError(f"there is no training session {audience.session_code!r}")
        counts = []
        for same in (True, False):
            query = _recipients(audience, lang, now, same_language=same).subquery()
            counts.append(int(await db.scalar(select(func.count()).select_from(query)) or 0))
        return counts[0], counts[1]


async def unfinished_broadcasts(
    sessions: SessionFactory, but: int | None = None
) -> list[tuple[int, str, str, int]]:
    """Other broadcasts with rows still pending: (id, language, audience, pending)."""
    async with sessions() as db:
        rows = await db.execute(
            select(Announcement.id, Announcement.language, Announcement.audience, func.count())
            .join(AnnouncementDelivery)
            .where(
                and_(
                    Announcement.kind == AnnouncementKind.BROADCAST,
                    AnnouncementDelivery.state == DeliveryState.PENDING,
                    Announcement.id != (but or 0),
                )
            )
            .group_by(Announcement.id, Announcement.language, Announcement.audience)
            .order_by(Announcement.id)
        )
        return [(row[0], row[1].value if row[1] else "", row[2] or "", int(row[3])) for row in rows]


def real_now() -> datetime:
    return datetime.now(UTC)


class TelegramUnreachable(RuntimeError):
    """Telegram did not answer many times in a row: the run stops, the rest stays pending."""


class Broadcaster:
    """Sends one broadcast's pending rows; ``on_done(state)`` is told of each row it ends."""

    def __init__(
        self,
        sessions: SessionFactory,
        api: BotApi,
        pacer: Pacer,
        *,
        workers: int = WORKERS,
        lease: timedelta = LEASE,
        now: Callable[[], datetime] = real_now,
        on_done: Callable[[DeliveryState], None] | None = None,
        on_wait: Callable[[int, datetime], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._api = api
        self._pacer = pacer
        self._workers = workers
        self._lease = lease
        self._now = now
        self._on_done = on_done or (lambda _state: None)
        self._on_wait = on_wait or (lambda _count, _until: None)
        self._failures_in_a_row = 0

    async def run(self, announcement_id: int) -> None:
        """Until no row of the list is pending (or Telegram stays unreachable)."""
        queue: asyncio.Queue[outbox.Candidate | None] = asyncio.Queue(maxsize=self._workers * 2)
        tasks = [asyncio.create_task(self._worker(queue)) for _ in range(self._workers)]
        feeder = asyncio.create_task(self._feed(queue, announcement_id))
        try:
            done, _ = await asyncio.wait([feeder, *tasks], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises the first failure
        finally:
            for task in [feeder, *tasks]:
                task.cancel()
            for task in [feeder, *tasks]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _feed(
        self, queue: asyncio.Queue[outbox.Candidate | None], announcement_id: int
    ) -> None:
        after = 0
        while True:
            page = await outbox.candidates(
                self._sessions,
                self._now(),
                announcement_id=announcement_id,
                after_id=after,
                limit=PAGE,
            )
            for candidate in page:
                await queue.put(candidate)
            if page:
                after = page[-1].id
                continue
            await queue.join()  # this pass is done; what was given back waits for the next
            await outbox.fail_exhausted(
                self._sessions, self._now(), announcement_id=announcement_id
            )
            state = await outbox.list_state(self._sessions, announcement_id, self._now())
            if state.pending == 0:
                for _ in range(self._workers):
                    await queue.put(None)
                return
            after = 0
            if state.next_free is not None and state.pending == state.held:
                self._on_wait(state.held, state.next_free)
                wait = (state.next_free - self._now()).total_seconds()
                await asyncio.sleep(min(max(wait, 0.05), LEASE.total_seconds()))

    async def _worker(self, queue: asyncio.Queue[outbox.Candidate | None]) -> None:
        while (candidate := await queue.get()) is not None:
            try:
                await self._one(candidate)
            finally:
                queue.task_done()
        queue.task_done()

    async def _one(self, candidate: outbox.Candidate) -> None:
        await self._pacer.ready(candidate.chat_id)
        delivery = await outbox.take(self._sessions, candidate.id, self._now(), self._lease)
        if delivery is None:
            return  # another run has it, or it is done
        # The slot comes after the database's work, so that sends leave as evenly spaced as
        # the slots; a row waits for one only a moment (a slot per worker at most).
        if not await self._pacer.slot(delivery.chat_id):  # a 429 came: back to the list
            await outbox.give_back(
                self._sessions, delivery.id, self._now(), self._now(), count_try=False
            )
            return
        assert delivery.text is not None
        result = await self._api.send_message(delivery.chat_id, delivery.text)
        now = self._now()
        if result.status is SendStatus.TRANSIENT:
            self._failures_in_a_row += 1
            wait = min(FIRST_RETRY_SECONDS * 2 ** (delivery.attempts - 1), LONGEST_RETRY_SECONDS)
            if not await outbox.give_back(
                self._sessions,
                delivery.id,
                now + timedelta(seconds=wait),
                now,
                detail=result.detail,
            ):
                self._on_done(DeliveryState.FAILED)
            logger.warning("broadcast row %s not sent yet: %s", delivery.id, result.detail)
            if self._failures_in_a_row >= GIVE_UP_AFTER:
                raise TelegramUnreachable(
                    f"Telegram did not answer {self._failures_in_a_row} times in a row "
                    f"({result.detail})"
                )
            return
        self._failures_in_a_row = 0
        if result.status is SendStatus.RETRY_AFTER:
            await self._pacer.pause(result.retry_after)
            until = now + timedelta(seconds=result.retry_after)
            await outbox.give_back(self._sessions, delivery.id, until, now, count_try=False)
            logger.info("Telegram asked to wait %.2f s (429)", result.retry_after)
            return
        state = {
            SendStatus.SENT: DeliveryState.SENT,
            SendStatus.BLOCKED: DeliveryState.BLOCKED,
            SendStatus.REFUSED: DeliveryState.FAILED,
        }[result.status]
        await outbox.finish(self._sessions, delivery.id, state, now, result.detail)
        self._on_done(state)
