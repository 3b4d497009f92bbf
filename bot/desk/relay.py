"""Everything bound for the agents' desk goes out through here, paced per desk group.

Telegram lets a bot send about 20 messages a minute into one group. One task per desk
group takes the group's oldest item from the database outbox (``handoff.desk``) only when
a send is allowed by :class:`SlidingWindow`, so while a person's messages wait for the
window they pile up and go out merged into one message; nothing is dropped, and what a
restart interrupts is sent after it. A topic that an agent deleted is made anew (with the
context card again); a closed one is reopened when a new handoff starts in it.

aiolimiter (which python-telegram-bot's AIORateLimiter uses) is a leaky bucket: after a
burst it lets one through every 3 s, up to 40 in a minute, which Telegram may refuse.
Telegram counts messages per minute, so the pacer counts them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.handoff import desk, texts
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import DeskItemKind, HandoffState

logger = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0  # another gateway may have queued something: look now and then
FAILURE_PAUSE_SECONDS = 5.0
# What Telegram answers when a topic is gone (deleted by an agent, or never there).
_LOST_TOPIC = ("message thread not found", "topic_id_invalid", "topic_deleted")
_NOT_MODIFIED = "topic_not_modified"


def topic_is_lost(error: TelegramError) -> bool:
    return isinstance(error, BadRequest) and any(
        marker in error.message.lower() for marker in _LOST_TOPIC
    )


class SlidingWindow:
    """At most ``count`` events in any ``seconds``: :meth:`wait` sleeps until one fits."""

    def __init__(
        self, count: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.count, self.seconds, self._clock = count, seconds, clock
        self._sent: deque[float] = deque()

    def delay(self) -> float:
        """Seconds until the next event fits (0: now)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.seconds:
            self._sent.popleft()
        if len(self._sent) < self.count:
            return 0.0
        return self._sent[0] + self.seconds - now

    async def wait(self) -> None:
        pause = self.delay()
        while pause > 0:
            await asyncio.sleep(pause)
            pause = self.delay()
        self._sent.append(self._clock())

    def push_back(self, seconds: float) -> None:
        """Telegram said wait: count the window as full for ``seconds`` more."""
        until = self._clock() + seconds - self.seconds
        self._sent.extend([until] * max(0, self.count - len(self._sent)))
        self._sent = deque(sorted(self._sent)[-self.count :])


class DeskRelay:
    """One pacing task per desk group, woken when something is queued."""

    def __init__(
        self,
        bot: Bot,
        sessions: SessionFactory,
        clock: Clock,
        desks: tuple[int, ...],
        per_window: int,
        window_seconds: float,
    ) -> None:
        self._bot, self._sessions, self._clock = bot, sessions, clock
        self._windows = {chat: SlidingWindow(per_window, window_seconds) for chat in desks}
        self._wake = {chat: asyncio.Event() for chat in desks}
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0  # items sent since start (the benchmark and logs read it)

    def start(self) -> None:
        for chat in self._windows:
            self._tasks.append(asyncio.create_task(self._run(chat), name=f"desk-relay-{chat}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def wake(self, desk_chat_id: int | None = None) -> None:
        """Something was queued (for one desk group, or for any)."""
        for chat, event in self._wake.items():
            if desk_chat_id is None or chat == desk_chat_id:
                event.set()

    async def _run(self, chat: int) -> None:
        while True:
            try:
                busy = await self._send_next(chat)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("desk relay for %s failed; trying again shortly", chat)
                busy = False
                await asyncio.sleep(FAILURE_PAUSE_SECONDS)
            if not busy:
                event = self._wake[chat]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), IDLE_POLL_SECONDS)
                event.clear()

    async def _send_next(self, chat: int) -> bool:
        """Sends the group's next item when the window allows; False when none waits."""
        if chat not in await desk.desks_with_pending(self._sessions, self._clock.now()):
            return False
        window = self._windows[chat]
        await window.wait()  # texts queued meanwhile are merged into the item taken next
        item = await desk.next_item(self._sessions, chat, self._clock.now())
        if item is None:
            return False
        try:
            await self._deliver(item, window)
        except RetryAfter as exc:
            retry = exc.retry_after
            seconds = retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)
            logger.warning("desk %s: Telegram asks to wait %.1f s", chat, seconds)
            window.push_back(seconds)
            await desk.release_items(self._sessions, item.ids, self._clock.now())
            return True
        except TelegramError as exc:
            if topic_is_lost(exc):
                logger.warning(
                    "desk %s: topic of handoff %s is gone; making it anew", chat, item.handoff_id
                )
                await desk.set_thread(self._sessions, item.chat_id, chat, None)
                await desk.recard(self._sessions, item.handoff_id, self._clock.now())
                await desk.release_items(self._sessions, item.ids, self._clock.now())
                return True
            if isinstance(exc, Forbidden) or item.kind is DeskItemKind.RENAME:
                logger.error("desk %s: %s (item %s)", chat, exc.message, item.ids)
            else:
                logger.warning("desk %s: %s; trying again", chat, exc.message)
                await desk.release_items(self._sessions, item.ids, self._clock.now())
                await asyncio.sleep(FAILURE_PAUSE_SECONDS)
                return True
        await desk.finish_items(self._sessions, item.ids, self._clock.now())
        self.sent += 1
        return True

    async def _deliver(self, item: desk.DeskItem, window: SlidingWindow) -> None:
        thread = item.thread_id
        if thread is None:
            thread = await self._new_topic(item)
            await window.wait()  # the topic's creation was a message too
        if item.kind is DeskItemKind.CARD:
            await self._reopen(item.desk_chat_id, thread)
            await self._bot.send_message(
                item.desk_chat_id, item.text or "…", message_thread_id=thread
            )
        elif item.kind is DeskItemKind.PERSON_TEXT and item.merged > 1:
            await self._bot.send_message(
                item.desk_chat_id, item.text or "…", message_thread_id=thread
            )
        elif item.kind in (DeskItemKind.PERSON_TEXT, DeskItemKind.PERSON_COPY):
            assert item.from_chat_id is not None
            assert item.message_id is not None
            await self._bot.copy_message(
                item.desk_chat_id, item.from_chat_id, item.message_id, message_thread_id=thread
            )
        elif item.kind is DeskItemKind.NOTICE:
            await self._bot.send_message(
                item.desk_chat_id, item.text or "…", message_thread_id=thread
            )
        elif item.kind is DeskItemKind.RENAME:
            if item.text:
                await self._quietly(
                    self._bot.edit_forum_topic(item.desk_chat_id, thread, name=item.text)
                )
            if item.handoff_state is HandoffState.CLOSED:
                await self._quietly(self._bot.close_forum_topic(item.desk_chat_id, thread))

    async def _new_topic(self, item: desk.DeskItem) -> int:
        found = await desk.thread_of(self._sessions, item.chat_id)
        label = found[2] if found else str(item.chat_id)
        view = await desk.current(self._sessions, item.chat_id)
        lang = view.language if view else "en"
        state = view.state.value if view else HandoffState.WAITING.value
        name = texts.desk_topic_name(label, lang, state, item.handoff_id)
        topic = await self._bot.create_forum_topic(item.desk_chat_id, name)
        await desk.set_thread(
            self._sessions, item.chat_id, item.desk_chat_id, topic.message_thread_id
        )
        logger.info(
            "desk %s: topic %s made for handoff %s",
            item.desk_chat_id,
            topic.message_thread_id,
            item.handoff_id,
        )
        return topic.message_thread_id

    async def _reopen(self, chat: int, thread: int) -> None:
        await self._quietly(self._bot.reopen_forum_topic(chat, thread))

    @staticmethod
    async def _quietly(call: Awaitable[object]) -> None:
        """A topic call whose "not modified" answer is fine (already open, same name)."""
        try:
            await call
        except BadRequest as exc:
            if _NOT_MODIFIED not in exc.message.lower():
                raise
