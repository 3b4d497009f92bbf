"""How the load run reaches the assistant: through the emulated Telegram and the real
gateway (the whole path), or straight to Rasa's REST channel, as the gateway would; and a
TCP relay in front of PostgreSQL that the run can cut.

Both channels read the bot's answers into the same :class:`~tools.bench_mix.Msg` list, so
one script drives either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.conversation import Button, parse_replies
from bot.render import Carries, contact_choices, plan_messages
from ntsa_assistant import protocol
from ntsa_assistant.core.typed import pick
from tests.support.telegram_emulator import ApiError, TelegramEmulator
from tools.bench_mix import Action, Chat, Expect, Msg, Press, Say, Share, Unexpected
from tools.bench_stats import BotEvent, Turn

logger = logging.getLogger(__name__)

SEND_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "sendvoice",
        "sendaudio",
        "sendvideo",
        "sendanimation",
        "sendsticker",
        "copymessage",
    }
)
CONTACT_PAYLOAD = protocol.payload(protocol.Intent.CONTACT_SHARED)


# --- Telegram -------------------------------------------------------------------------------


class BenchTelegram(TelegramEmulator):
    """The test emulator, telling the run what the bot does the moment it does it.

    ``observer(at, method, params, result)`` is called for every call the emulator
    answered successfully (``method`` lower-case). :meth:`flood` makes every send answer
    429 with ``retry_after`` until a given time, as Telegram's flood control does.
    """

    def __init__(
        self, observer: Callable[[float, str, dict[str, Any], Any], None], **kw: Any
    ) -> None:
        super().__init__(**kw)
        self._observer = observer
        self._flood_until = 0.0
        self.flood_refusals = 0

    def flood(self, seconds: float) -> None:
        self._flood_until = time.monotonic() + seconds

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        key = method.lower()
        remaining = self._flood_until - time.monotonic()
        if remaining > 0 and key in SEND_METHODS | {"sendchataction"}:
            self.flood_refusals += 1
            retry_after = max(1, math.ceil(remaining))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        if key == "getupdates":  # a long poll is answered later: say when it was asked
            self._observer(time.monotonic(), "getupdates:asked", params, None)
        result = await super()._dispatch(method, params)
        self._observer(time.monotonic(), key, params, result)
        return result


def _message(params: dict[str, Any], result: dict[str, Any], method: str) -> Msg:
    markup = result.get("reply_markup") or {}
    titles = tuple(b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row)
    keyboard = params.get("reply_markup") if isinstance(params.get("reply_markup"), dict) else {}
    asks = any(
        isinstance(b, dict) and b.get("request_contact")
        for row in (keyboard or {}).get("keyboard", [])
        for b in row
    )
    if method == "sendmessage":
        return Msg(str(result.get("text") or ""), titles, asks)
    return Msg(str(result.get("caption") or ""), titles, asks, document=method == "senddocument")


@dataclass
class _Live:
    """One chat's answer in the making: what the bot sent since our latest turn."""

    messages: list[Msg] = field(default_factory=list)
    expect: Expect | None = None
    future: asyncio.Future[list[Msg]] | None = None
    stall: asyncio.TimerHandle | None = None


class TelegramChannel:
    """Pushes updates into :class:`BenchTelegram` and reads what the gateway sent back.

    A step is over when its expected message came with the whole answer (as many
    messages as its size says), or an apology came, or ``stall`` seconds after the first
    message without either, or when :meth:`release` ends the run. Which turn each message
    answered is decided afterwards from every event (:func:`tools.bench_stats.attribute`).
    """

    phase = "telegram"
    whole_answers = False

    def __init__(self, stall: float = 15.0) -> None:
        self.stall = stall
        self.tg: BenchTelegram | None = None
        self.events: list[BotEvent] = []
        self.deliveries: Counter[int] = Counter()  # update_id -> times getUpdates gave it
        self.callback_answers: Counter[str] = Counter()
        self._live: dict[int, _Live] = {}
        self._users: set[int] = set()
        self.last_poll = 0.0  # when the gateway last asked for updates (monotonic)
        self.last_hook = 0.0  # when the gateway last set its webhook (monotonic)

    def emulator(self, **kw: Any) -> BenchTelegram:
        self.tg = BenchTelegram(self.observe, **kw)
        return self.tg

    def observe(self, at: float, method: str, params: dict[str, Any], result: Any) -> None:
        if method == "getupdates:asked":
            self.last_poll = at
            return
        if method == "setwebhook":
            self.last_hook = at
            return
        if method == "getupdates":
            for update in result or []:
                self.deliveries[int(update["update_id"])] += 1
            return
        if method == "answercallbackquery":
            self.callback_answers[str(params.get("callback_query_id"))] += 1
            return
        chat_id = params.get("chat_id")
        live = self._live.get(chat_id) if isinstance(chat_id, int) else None
        if live is None:
            return
        if method == "sendchataction":
            self.events.append(BotEvent(at, chat_id, "typing"))
            return
        if method not in SEND_METHODS or not isinstance(result, dict):
            return
        message = _message(params, result, method)
        self.events.append(BotEvent(at, chat_id, "message", message.text[:120]))
        live.messages.append(message)
        self._check(live)

    def _check(self, live: _Live) -> None:
        if live.future is None or live.future.done() or live.expect is None:
            return
        if live.expect.complete(live.messages):
            self._resolve(live)
        elif live.stall is None and live.messages:
            loop = asyncio.get_running_loop()
            live.stall = loop.call_later(self.stall, self._resolve, live)

    def _resolve(self, live: _Live) -> None:
        if live.stall is not None:
            live.stall.cancel()
            live.stall = None
        if live.future is not None and not live.future.done():
            live.future.set_result(list(live.messages))

    async def send(self, chat: Chat, action: Action, turn: Turn, expect: Expect) -> list[Msg]:
        tg = self.tg
        assert tg is not None, "emulator() first"
        if chat.chat_id not in self._users:
            self._users.add(chat.chat_id)
            tg.set_user(chat.chat_id, language_code=chat.language_code)
        live = self._live.setdefault(chat.chat_id, _Live())
        live.messages, live.expect = [], expect
        live.future = asyncio.get_running_loop().create_future()
        turn.sent_at = time.monotonic()
        try:
            if isinstance(action, Say):
                turn.update_id = tg.push_text(chat.chat_id, action.text)
            elif isinstance(action, Press):
                turn.update_id = tg.press_button(chat.chat_id, action.title)
            else:
                try:  # tap the keyboard's button; without one, send the contact anyway
                    turn.update_id = tg.share_contact(chat.chat_id, action.phone)
                except LookupError:
                    turn.update_id = tg.push_contact(chat.chat_id, action.phone)
        except LookupError as exc:
            live.future = None
            raise Unexpected(f"no button {action}") from exc
        return await live.future

    def forget(self, chat_id: int) -> None:
        """The conversation is over: later messages are still counted, not waited for."""
        live = self._live.get(chat_id)
        if live is not None:
            live.expect = None

    def release(self) -> None:
        """The run is over: every step still waiting gets what it has."""
        for live in self._live.values():
            self._resolve(live)


# --- Rasa's REST channel --------------------------------------------------------------------


def home_replica(replicas: Sequence[str], sender: str) -> str:
    """The replica the gateway would send ``sender`` to (its rendezvous hashing)."""
    if len(replicas) == 1:
        return replicas[0]
    try:
        from bot.rasa_client import rendezvous_order
    except ImportError:  # a gateway that knows one Rasa only
        return replicas[0]
    return rendezvous_order(replicas, sender)[0]


def rasa_messages(raw: Iterable[Any]) -> tuple[list[Msg], dict[str, str], list[str] | None]:
    """Rasa's REST replies as the person would see them through the gateway: messages
    (grouped by the gateway's own rule, :func:`bot.render.plan_messages`), the payload
    behind each button title, and the latest menu (the titles a typed answer may stand
    for: the last message's buttons, or the choices beside a "share my phone" keyboard)."""
    replies = [
        reply
        for reply in parse_replies([item for item in raw if isinstance(item, dict)])
        if reply.custom.get("type") != protocol.Custom.HANDOFF
    ]
    messages: list[Msg] = []
    payloads: dict[str, str] = {}
    menu: list[str] | None = None
    for planned in plan_messages(replies):
        choices: tuple[Button, ...] = ()
        if planned.reply is not None and planned.carries is Carries.BUTTONS:
            choices = planned.reply.buttons
        elif planned.reply is not None and planned.carries is Carries.CONTACT:
            choices = contact_choices(planned.reply.custom)
        payloads |= {b.title: b.payload for b in choices}
        menu = [b.title for b in choices] or None
        messages.append(
            Msg(
                planned.text,
                tuple(b.title for b in choices) if planned.carries is Carries.BUTTONS else (),
                asks_contact=planned.carries is Carries.CONTACT,
                document=planned.carries is Carries.DOCUMENT,
            )
        )
    return messages, payloads, menu


class RestChannel:
    """Posts each turn to a Rasa replica's REST webhook, as the gateway would send it:
    button taps and typed menu choices as their payloads, a shared contact as the
    contact payload with the gateway's signed claim."""

    phase = "direct"
    whole_answers = True

    def __init__(
        self, replicas: Sequence[str], signing_secret: str, connections: int = 100
    ) -> None:
        self.replicas = list(replicas)
        self.secret = signing_secret
        self.connections = connections
        self.errors: Counter[str] = Counter()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # A pool like the gateway's (100 connections): past it, turns queue here, as they
        # would in the gateway, rather than pile up unaccepted at Rasa's door. No timeout:
        # how long an answer takes is what is measured; the run's end cancels what is left.
        connector = aiohttp.TCPConnector(limit=self.connections, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        self._http = aiohttp.ClientSession(timeout=timeout, connector=connector)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _message(self, chat: Chat, action: Action) -> tuple[str, dict[str, Any]]:
        sender = str(chat.chat_id)
        metadata: dict[str, Any] = {
            protocol.Meta.CHANNEL.value: "telegram",
            protocol.Meta.USER_LANGUAGE.value: chat.language_code,
        }
        payloads: dict[str, str] = chat.state.setdefault("payloads", {})  # type: ignore[assignment]
        if isinstance(action, Share):
            claim = protocol.contact_metadata(True, action.phone, sender, self.secret)
            return CONTACT_PAYLOAD, metadata | claim
        if isinstance(action, Press):
            if action.title not in payloads:
                raise Unexpected(f"no button {action}")
            return payloads[action.title], metadata
        menu = chat.state.get("menu")
        if isinstance(menu, list) and (choice := pick(action.text, menu)) is not None:
            return payloads[menu[choice]], metadata
        return action.text, metadata

    async def send(self, chat: Chat, action: Action, turn: Turn, expect: Expect) -> list[Msg]:
        assert self._http is not None, "start() first"
        message, metadata = self._message(chat, action)
        sender = str(chat.chat_id)
        url = f"{home_replica(self.replicas, sender)}/webhooks/rest/webhook"
        body = {"sender": sender, "message": message, "metadata": metadata}
        turn.sent_at = time.monotonic()
        try:
            async with self._http.post(url, json=body) as response:
                if response.status != 200:
                    self.errors[f"HTTP {response.status}"] += 1
                    return []
                raw = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors[type(exc).__name__] += 1
            return []
        messages, payloads, menu = rasa_messages(raw if isinstance(raw, list) else [])
        chat.state.setdefault("payloads", {}).update(payloads)  # type: ignore[union-attr]
        chat.state["menu"] = menu
        if messages:
            turn.first_at = turn.last_at = time.monotonic()
            turn.answers = 1
        turn.messages = turn.expected = len(messages)
        return messages

    def forget(self, chat_id: int) -> None:
        """Nothing to forget: each answer comes whole."""

    def release(self) -> None:
        """Nothing waits here: requests end with their answer or their timeout."""


# --- a database outage ----------------------------------------------------------------------


class TcpProxy:
    """A TCP relay from a local port to PostgreSQL, which :meth:`cut` makes unreachable:
    open connections are dropped and new ones closed at once, until :meth:`restore`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.port = 0
        self.refused = 0
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()

    def cut(self) -> None:
        self.up = False
        for pair in list(self._pairs):
            self.dropped += 1
            for w in pair:
                w.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


def delivered_twice(deliveries: Counter[int]) -> int:
    """Updates Telegram handed to the gateway more than once (it did not confirm them)."""
    return sum(1 for count in deliveries.values() if count > 1)


def webhook_deliveries(tg: TelegramEmulator) -> Counter[int]:
    """Update id → how many POSTs of it a webhook answered 200 (each was taken)."""
    taken = getattr(tg, "deliveries", [])
    return Counter(d.update_id for d in taken if getattr(d, "status", None) == 200)


def answered_twice(answers: Counter[str]) -> int:
    """Button presses the gateway acknowledged more than once."""
    return sum(1 for count in answers.values() if count > 1)
