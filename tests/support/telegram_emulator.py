"""A Telegram Bot API emulator: a small aiohttp server on 127.0.0.1 for end-to-end tests.

The real gateway talks to it exactly as it talks to ``api.telegram.org`` (point PTB's
``base_url`` at :attr:`TelegramEmulator.base_url`); tests play the user's side with the
``push_*`` / ``press_*`` methods and read what the bot sent with :meth:`wait_for_messages`.

Wire format, as python-telegram-bot sends it: ``POST /bot<TOKEN>/<method>`` with an
``application/x-www-form-urlencoded`` body whose nested values (``reply_markup``,
``allowed_updates``, ...) are JSON strings, or ``multipart/form-data`` when a file is
uploaded. JSON bodies and query strings work too. Answers are the Bot API's own envelopes:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``.

Groups too: a forum supergroup (the agents' desk, :meth:`TelegramEmulator.add_group`) with
topics the bot creates, closes and deletes, members (getChatMember), people writing in topics
(:meth:`TelegramEmulator.push_group_message`), copies between chats (copyMessage) and
Telegram's per-group message limit (:meth:`TelegramEmulator.group_rate_limit`).

Webhooks too, when a test asks (:meth:`TelegramEmulator.deliver_webhooks`): queued updates are
POSTed to the URL the bot registered with setWebhook (or round-robin to several gateway URLs,
as a load balancer would), with its secret token header, and retried until answered 200.

Run ``python -m tests.support.telegram_emulator --port 8081`` for manual trials with the real bot;
``/control/...`` then pushes user input and reads what the bot sent (see :func:`main`).

All state lives in one event loop; the public methods may also be called from another
thread (state is guarded by a lock and waiters are woken thread-safely).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import dataclasses
import html
import itertools
import json
import logging
import math
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEFAULT_TOKEN = "123456789:AAEmulatorTestTokenForTheGatewayBot"
DEFAULT_BOT_NAME = "e-Citizen Assistant"
DEFAULT_BOT_USERNAME = "ecitizen_migration_bot"
# Telegram's default when allowed_updates was never given (or given as []).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CHAT_ACTIONS = _words(
    "typing upload_photo record_video upload_video record_voice upload_voice "
    "upload_document choose_sticker find_location record_video_note upload_video_note"
)
HTML_TAGS = _words(
    "b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote"
)
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_COPIED_MESSAGES = 100
DEFAULT_AGENT_ID = 42_000_001
# The user Telegram shows as the sender of an anonymous administrator's message.
GROUP_ANONYMOUS_BOT: JSONDict = {
    "id": 1_087_968_824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
MEMBER_STATUSES = _words("creator administrator member left kicked")
_ADMINS = _words("creator administrator")
# An administrator's rights as getChatMember shows them (every field PTB requires).
_ADMIN_RIGHTS: JSONDict = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
    "can_manage_topics": True,
}
# What a sent message may hold that copyMessage carries over (service messages hold none).
_COPYABLE_CONTENT = _words(
    "text photo document voice video audio animation sticker video_note contact location "
    "venue poll dice"
)
_COPIED_FIELDS = _COPYABLE_CONTENT | _words(
    "entities caption caption_entities has_media_spoiler show_caption_above_media"
)
_CAPTIONED = _words("photo document voice video audio animation")
# The file fields Telegram adds to what the bot sends, per kind (PTB requires them).
_MEDIA_FIELDS: dict[str, JSONDict] = {
    "photo": {"width": 800, "height": 600},
    "document": {},
    "voice": {"duration": 1, "mime_type": "audio/ogg"},
    "audio": {"duration": 1},
    "video": {"width": 640, "height": 360, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "sticker": {
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    },
}
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")

# Form fields arrive as strings; these are decoded as JSON (everything else stays a string).
_JSON_FIELDS = _words(
    "reply_markup entities caption_entities allowed_updates commands scope "
    "link_preview_options reply_parameters media message_id message_thread_id offset "
    "limit timeout cache_time max_connections user_id from_chat_id reply_to_message_id "
    "icon_color disable_notification protect_content show_alert drop_pending_updates "
    "disable_web_page_preview allow_sending_without_reply disable_content_type_detection "
    "allow_paid_broadcast has_spoiler show_caption_above_media message_ids remove_caption "
    "duration width height"
)


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        """The error as the Bot API's JSON envelope."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    field: str
    file_name: str | None
    mime_type: str | None
    content: bytes


@dataclass
class ApiCall:
    """One request the bot made, with its decoded parameters and the emulator's answer.

    Recorded on arrival: a parked long poll shows up with ``answered=False``. ``status`` is
    the HTTP status of the answer (200, 400, 403, 429...), None until answered; a call the
    group rate limit refused is a 429 that changed nothing (see :meth:`rejected`).
    """

    method: str
    params: JSONDict
    files: dict[str, UploadedFile] = field(default_factory=dict)
    answered: bool = False
    ok: bool = True
    result: Any = None
    error: JSONDict | None = None
    status: int | None = None
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to a webhook: where, and the HTTP status (None: no answer)."""

    update_id: int
    url: str
    status: int | None


@dataclass
class _QueuedUpdate:
    update: JSONDict
    forced: bool = False  # a re-pushed (already used) update_id: delivered once, on its own

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _Chat:
    info: JSONDict  # the Chat object as Telegram shows it
    default_user: JSONDict
    messages: dict[int, JSONDict] = field(default_factory=dict)  # message_id -> Message
    bot_message_ids: list[int] = field(default_factory=list)
    reply_keyboard: JSONDict | None = None
    topics: dict[int, JSONDict] = field(default_factory=dict)  # thread id -> topic + is_closed
    members: dict[int, JSONDict] = field(default_factory=dict)  # user id -> {"user", "status"}
    sent_times: deque[float] = field(default_factory=deque)  # bot messages, for the group limit
    blocked: bool = False

    @property
    def is_group(self) -> bool:
        return bool(self.info["type"] != "private")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def html_to_plain(text: str) -> str:
    """Validate Telegram-flavoured HTML like the Bot API does and return the visible text.

    Raises :class:`ApiError` (400 "can't parse entities") for unsupported or unbalanced tags,
    e.g. an unescaped ``<`` from user input — the bug this check is here to catch.
    """
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "<":
            nxt = text.find("<", i)
            nxt = len(text) if nxt == -1 else nxt
            out.append(html.unescape(text[i:nxt]))
            i = nxt
            continue
        offset = len(text[:i].encode())
        end = text.find(">", i)
        if end == -1:
            raise _bad_request(f"can't parse entities: Unclosed start tag at byte offset {offset}")
        body = text[i + 1 : end].strip()
        closing = body.startswith("/")
        words = body.lstrip("/").split(maxsplit=1)
        name = words[0].lower() if words else ""
        if closing:
            if not stack or stack[-1] != name:
                raise _bad_request(
                    f"can't parse entities: Unexpected end tag at byte offset {offset}"
                )
            stack.pop()
        elif name not in HTML_TAGS:
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
            )
        else:
            stack.append(name)
        i = end + 1
    if stack:
        raise _bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def _render(text: str, parse_mode: str | None) -> str:
    """The text the user sees; only HTML is parsed (Markdown passes through unchanged)."""
    if parse_mode and parse_mode.upper() == "HTML":
        return html_to_plain(text)
    return text


def _decode_form_value(name: str, value: str) -> Any:
    if name == "chat_id":
        return int(value) if value.lstrip("-").isdigit() else value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False)


def _text_content(text: str, entities: Sequence[Mapping[str, Any]] | None = None) -> JSONDict:
    """A text message's content; a leading ``/command[@bot]`` gets its ``bot_command`` entity."""
    content: JSONDict = {"text": text}
    if entities is None and (match := _COMMAND_RE.match(text)):
        entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]
    if entities:
        content["entities"] = [dict(e) for e in entities]
    return content


def _inline_buttons(message: Mapping[str, Any]) -> list[JSONDict]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


class TelegramEmulator:
    """An in-process Telegram Bot API server for tests.

    Usage::

        async with TelegramEmulator() as tg:
            app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).build()
            ...
            tg.push_command(1001, "start")
            [reply] = await tg.wait_for_messages(1001)
            tg.press_button(1001, "Kiswahili")
    """

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = DEFAULT_BOT_NAME,
        bot_username: str = DEFAULT_BOT_USERNAME,
        max_poll_timeout: float = 10.0,
        first_update_id: int = 700_000_001,
        enable_control_api: bool = False,
    ) -> None:
        """``token=None`` accepts any token (handy for manual trials); ``port=0`` picks one."""
        self.token = token
        self.host = host
        self.port = port
        self.max_poll_timeout = max_poll_timeout
        self.enable_control_api = enable_control_api
        bot_id = int(token.split(":", 1)[0]) if token and token.split(":")[0].isdigit() else 1
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.sent: list[ApiCall] = []
        self.webhook: JSONDict = {"url": ""}
        self._lock = threading.RLock()
        self._update_ids = itertools.count(first_update_id)
        self._last_update_id = first_update_id - 1
        self._queue: list[_QueuedUpdate] = []
        self._history: dict[int, JSONDict] = {}  # update_id -> update as first pushed
        self._allowed_updates: frozenset[str] | None = None  # None: Telegram's default
        self._poll_generation = 0
        self._parked_polls = 0  # getUpdates requests waiting for an update
        self._chats: dict[int, _Chat] = {}
        self._next_message_id: dict[int, itertools.count[int]] = {}
        self._outbox: dict[int, list[JSONDict]] = defaultdict(list)
        self._read_pos: dict[int, int] = defaultdict(int)
        self._callback_queries: dict[str, JSONDict] = {}  # id -> {"update_id", "answer"}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._failures: dict[str, deque[ApiError]] = defaultdict(deque)
        self._group_limit: tuple[int, float] = (0, 0.0)  # (messages, seconds); 0: off
        self._ids = itertools.count(1)
        self._member_ids = itertools.count(DEFAULT_AGENT_ID + 1)
        self._closing = False
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._runner: web.AppRunner | None = None
        # Webhook delivery (deliver_webhooks): off until a test turns it on.
        self.deliveries: list[WebhookDelivery] = []
        self._webhook_targets: list[str] = []
        self._next_target = 0
        self._retry_seconds = 0.2
        self._delivering: set[int] = set()  # id() of queued updates being posted
        self._retry_at: dict[int, float] = {}  # id() of a queued update -> loop time
        self._delivery_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind to ``host:port`` (a free port if 0) and start serving."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._changed = asyncio.Event()
        self._closing = False
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", r"/bot{token}/{method}", self._handle_api)
        if self.enable_control_api:
            app.router.add_get("/control/messages", self._control_messages)
            app.router.add_get("/control/outbox", self._control_outbox)
            app.router.add_get("/control/calls", self._control_calls)
            app.router.add_get("/control/topics", self._control_topics)
            app.router.add_post("/control/{action}", self._control_action)
        self._runner = web.AppRunner(
            app, shutdown_timeout=2.0, handler_cancellation=True, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        logger.debug("Telegram emulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        with self._lock:
            self._closing = True
        self._wake()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
            self._delivery_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """The value for ``ApplicationBuilder().base_url(...)``: PTB appends token and method."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ chats and users

    def set_user(self, chat_id: int, **fields: Any) -> JSONDict:
        """Create or change the private chat ``chat_id`` and its user (e.g. ``language_code``)."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            chat.default_user.update(fields)
            for key in ("first_name", "last_name", "username"):
                if key in fields and chat.info["type"] == "private":
                    chat.info[key] = fields[key]
            return dict(chat.default_user)

    def add_group(
        self,
        chat_id: int,
        title: str = "Support agents",
        *,
        is_forum: bool = False,
        username: str | None = None,
    ) -> JSONDict:
        """Register a supergroup (a forum if ``is_forum``) where the bot is an administrator.

        Its default sender (for :meth:`push_group_message`) is an agent, id 42_000_001, who is
        a plain member; :meth:`add_member` adds others.
        """
        if chat_id >= 0:
            raise ValueError("group chat ids are negative, e.g. -1001234567890")
        info: JSONDict = {"id": chat_id, "type": "supergroup", "title": title}
        if is_forum:
            info["is_forum"] = True
        if username:
            info["username"] = username
        agent = {
            "id": DEFAULT_AGENT_ID,
            "is_bot": False,
            "first_name": "Agent",
            "last_name": "Otieno",
            "username": "agent_otieno",
            "language_code": "en",
        }
        with self._lock:
            chat = self._chats[chat_id] = _Chat(info=info, default_user=agent)
            chat.members[DEFAULT_AGENT_ID] = {"user": dict(agent), "status": "member"}
            self._next_message_id.setdefault(chat_id, itertools.count(1))
            return dict(info)

    def add_member(
        self, chat_id: int, user: Mapping[str, Any] | None = None, status: str = "member"
    ) -> JSONDict:
        """Put ``user`` in the group with ``status`` (what getChatMember answers) and return it.

        Missing ``id``, ``first_name`` and ``is_bot`` are filled in; pass the returned dict as
        ``user=`` to :meth:`push_group_message` to write as this person.
        """
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(MEMBER_STATUSES)}, not {status!r}")
        with self._lock:
            chat = self._group(chat_id)
            person = dict(user or {})
            person.setdefault("id", next(self._member_ids))
            person.setdefault("is_bot", False)
            person.setdefault("first_name", f"Agent {person['id']}")
            chat.members[int(person["id"])] = {"user": dict(person), "status": status}
            return person

    def remove_member(self, chat_id: int, user_id: int) -> None:
        """The person leaves the group: getChatMember then answers ``left``."""
        with self._lock:
            chat = self._group(chat_id)
            if user_id not in chat.members:
                raise LookupError(f"user {user_id} is not a member of {chat_id}")
            chat.members[user_id]["status"] = "left"

    def block(self, chat_id: int, blocked: bool = True) -> None:
        """Make the user block (or unblock) the bot: sends then get 403 Forbidden."""
        with self._lock:
            self._ensure_chat(chat_id).blocked = blocked

    def reply_keyboard(self, chat_id: int) -> JSONDict | None:
        """The reply keyboard the user currently sees in ``chat_id``, if any."""
        with self._lock:
            chat = self._chats.get(chat_id)
            return copy.deepcopy(chat.reply_keyboard) if chat else None

    def topics(self, chat_id: int) -> list[JSONDict]:
        """The live forum topics of ``chat_id``: thread id, name, icon and ``is_closed``."""
        with self._lock:
            return [dict(t) for t in self._group(chat_id).topics.values()]

    # ------------------------------------------------------------------ agents in the app

    def close_topic(
        self, chat_id: int, message_thread_id: int, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """An agent closes the topic in the app; the bot gets its ``forum_topic_closed`` update."""
        return self._agent_sets_topic(chat_id, message_thread_id, user, closed=True)

    def reopen_topic(
        self, chat_id: int, message_thread_id: int, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """An agent reopens the topic; the bot gets its ``forum_topic_reopened`` update."""
        return self._agent_sets_topic(chat_id, message_thread_id, user, closed=False)

    def delete_topic(self, chat_id: int, message_thread_id: int) -> None:
        """An agent deletes the topic and its messages in the app; bots get no update of it."""
        with self._lock:
            chat = self._group(chat_id)
            if message_thread_id not in chat.topics:
                raise LookupError(f"no topic {message_thread_id} in chat {chat_id}")
            self._remove_topic(chat, message_thread_id)

    def _agent_sets_topic(
        self, chat_id: int, thread_id: int, user: Mapping[str, Any] | None, *, closed: bool
    ) -> int:
        with self._lock:
            chat = self._group(chat_id)
            topic = chat.topics.get(thread_id)
            if topic is None:
                raise LookupError(f"no topic {thread_id} in chat {chat_id}")
            if topic["is_closed"] == closed:
                raise ValueError(f"topic {thread_id} is already {'closed' if closed else 'open'}")
            topic["is_closed"] = closed
            service = "forum_topic_closed" if closed else "forum_topic_reopened"
            return self._push_in_chat(chat, self._sender(chat, user), {service: {}}, thread_id)

    # ------------------------------------------------------------------ user input

    def push_message(
        self,
        chat_id: int,
        content: Mapping[str, Any],
        *,
        user: Mapping[str, Any] | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """Queue a ``message`` update with arbitrary content (e.g. ``{"voice": {...}}``)."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            sender = {**chat.default_user, **(user or {})}
            return self._push_in_chat(chat, sender, content, message_thread_id)

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user: Mapping[str, Any] | None = None,
        message_thread_id: int | None = None,
        entities: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Queue a text message; a leading ``/command`` gets its ``bot_command`` entity."""
        content = _text_content(text, entities)
        return self.push_message(chat_id, content, user=user, message_thread_id=message_thread_id)

    def push_command(
        self,
        chat_id: int,
        command: str,
        args: str = "",
        *,
        user: Mapping[str, Any] | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """Queue ``/command args`` with its ``bot_command`` entity at offset 0."""
        text = "/" + command.lstrip("/") + (f" {args}" if args else "")
        return self.push_text(chat_id, text, user=user, message_thread_id=message_thread_id)

    def push_contact(
        self,
        chat_id: int,
        phone: str,
        contact_user_id: int | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        user: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue a shared contact; without ``contact_user_id`` it is the sender's own."""
        with self._lock:
            sender = {**self._ensure_chat(chat_id).default_user, **(user or {})}
        contact: JSONDict = {
            "phone_number": phone,
            "first_name": first_name or sender["first_name"],
            "user_id": sender["id"] if contact_user_id is None else contact_user_id,
        }
        if last_name or (first_name is None and sender.get("last_name")):
            contact["last_name"] = last_name or sender["last_name"]
        return self.push_message(chat_id, {"contact": contact}, user=user)

    def share_contact(
        self, chat_id: int, phone: str, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """Tap the shown ``request_contact`` button: the user's own contact is sent."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            buttons = self._reply_buttons(chat)
            if not any(b.get("request_contact") for b in buttons):
                raise LookupError(f"chat {chat_id} shows no request_contact button: {buttons}")
            self._after_reply_keyboard_use(chat)
        return self.push_contact(chat_id, phone, user=user)

    def press_reply_button(
        self, chat_id: int, text: str, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """Tap a plain button of the shown reply keyboard: its text is sent as a message."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            buttons = self._reply_buttons(chat)
            if text not in [b["text"] for b in buttons]:
                raise LookupError(f"no reply button {text!r} in chat {chat_id}: {buttons}")
            self._after_reply_keyboard_use(chat)
        return self.push_text(chat_id, text, user=user)

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue a callback query on the bot's message ``message_id`` carrying ``data``.

        The data is not checked against the buttons (to test stale or forged data); use
        :meth:`press_button` to press a button like a user does.
        """
        with self._lock:
            chat = self._ensure_chat(chat_id)
            message = chat.messages.get(message_id)
            if message is None:
                raise LookupError(f"no message {message_id} in chat {chat_id}")
            query_id = str(4_100_000_000_000_000_000 + next(self._ids))
            query = {
                "id": query_id,
                "from": {**chat.default_user, **(user or {})},
                "message": copy.deepcopy(message),
                "chat_instance": str(-(abs(chat_id) * 7919 % 10**18) - 1),
                "data": data,
            }
            update_id = self._enqueue({"callback_query": query})
            self._callback_queries[query_id] = {"update_id": update_id, "answer": None}
            return update_id

    def press_button(
        self,
        chat_id: int,
        text: str,
        *,
        message_id: int | None = None,
        user: Mapping[str, Any] | None = None,
    ) -> int:
        """Press the inline button labelled ``text`` on the newest bot message showing it."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            ids = [message_id] if message_id is not None else reversed(chat.bot_message_ids)
            seen: list[str] = []
            for mid in ids:
                message = chat.messages.get(mid, {})
                for button in _inline_buttons(message):
                    seen.append(button.get("text", ""))
                    if button.get("text") != text:
                        continue
                    if "callback_data" not in button:
                        raise LookupError(f"button {text!r} has no callback_data: {button}")
                    return self.push_callback(chat_id, mid, button["callback_data"], user=user)
            raise LookupError(f"no inline button {text!r} in chat {chat_id}; buttons: {seen}")

    def push_edit(
        self, chat_id: int, message_id: int, text: str, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """Queue an ``edited_message`` update: the user edited their message ``message_id``."""
        with self._lock:
            chat = self._ensure_chat(chat_id)
            message = chat.messages.get(message_id)
            if message is None or message["from"].get("is_bot"):
                raise LookupError(f"no user message {message_id} in chat {chat_id}")
            message.update(text=text, edit_date=int(time.time()))
            if user:
                message["from"] = {**message["from"], **user}
            return self._enqueue({"edited_message": copy.deepcopy(message)})

    def push_document(
        self,
        chat_id: int,
        file_name: str = "logbook.pdf",
        mime_type: str = "application/pdf",
        *,
        file_size: int = 48_213,
        caption: str | None = None,
        user: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue a document message (unsupported content for a text bot)."""
        content: JSONDict = {
            "document": {
                **self._new_file_ids("BQACAgQAAxkBAAI"),
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": file_size,
            }
        }
        if caption:
            content["caption"] = caption
        return self.push_message(chat_id, content, user=user)

    def push_photo(
        self, chat_id: int, *, caption: str | None = None, user: Mapping[str, Any] | None = None
    ) -> int:
        """Queue a photo message in the usual three sizes."""
        content: JSONDict = {"photo": self._photo_sizes()}
        if caption:
            content["caption"] = caption
        return self.push_message(chat_id, content, user=user)

    def push_voice(
        self, chat_id: int, duration: int = 3, *, user: Mapping[str, Any] | None = None
    ) -> int:
        """Queue a voice note of ``duration`` seconds."""
        voice = {
            **self._new_file_ids("AwACAgQAAxkBAAI"),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 6_000 * duration,
        }
        return self.push_message(chat_id, {"voice": voice}, user=user)

    def push_group_message(
        self,
        chat_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        anonymous: bool = False,
    ) -> int:
        """Queue a text written in the group (in topic ``thread_id`` if given).

        The sender is the group's default agent, a member added with :meth:`add_member`
        (``user={"id": ...}``, other fields override) or any user dict; ``anonymous`` makes
        it an anonymous administrator's message (``sender_chat`` is the group). A leading
        ``/command`` or ``/command@bot`` gets its ``bot_command`` entity. Like Telegram, only
        administrators may write in a closed topic (ValueError otherwise).
        """
        return self._push_in_group(chat_id, _text_content(text), thread_id, user, anonymous)

    def push_group_photo(
        self,
        chat_id: int,
        *,
        thread_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        caption: str | None = None,
        anonymous: bool = False,
    ) -> int:
        """Queue a photo posted in the group, like :meth:`push_group_message`."""
        content: JSONDict = {"photo": self._photo_sizes()}
        if caption:
            content["caption"] = caption
        return self._push_in_group(chat_id, content, thread_id, user, anonymous)

    def push_sticker(
        self, chat_id: int, emoji: str = "👍", *, user: Mapping[str, Any] | None = None
    ) -> int:
        """Queue a sticker message."""
        sticker = {
            **self._new_file_ids("CAACAgIAAxkBAAI"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "HotCherry",
            "file_size": 23_412,
        }
        return self.push_message(chat_id, {"sticker": sticker}, user=user)

    def push_raw(self, update: Mapping[str, Any]) -> int:
        """Queue an update as given. Without ``update_id`` a fresh one is assigned.

        An already used ``update_id`` is delivered again, once, even if the bot has
        confirmed it — that is how a test makes Telegram send a duplicate. Unlike the
        other pushes, ``allowed_updates`` does not filter it.
        """
        body = copy.deepcopy(dict(update))
        with self._lock:
            update_id = body.pop("update_id", None)
            if update_id is None:
                return self._enqueue(body)
            update_id = int(update_id)
            forced = update_id <= self._last_update_id
            if not forced:
                while self._last_update_id < update_id:
                    self._last_update_id = next(self._update_ids)
            queued = _QueuedUpdate({"update_id": update_id, **body}, forced=forced)
            self._history.setdefault(update_id, copy.deepcopy(queued.update))
            self._queue.append(queued)
        self._wake()
        return update_id

    # ------------------------------------------------------------------ webhook delivery

    def deliver_webhooks(self, targets: Sequence[str] = (), *, retry_seconds: float = 0.2) -> None:
        """Deliver queued updates to the webhook, as Telegram does once one is set.

        Each update is POSTed as JSON with the ``X-Telegram-Bot-Api-Secret-Token`` header
        the bot registered, up to the webhook's ``max_connections`` at once (40 by default),
        oldest first. An answer other than 200, or none, is retried after ``retry_seconds``;
        an update leaves the queue when a POST of it is answered 200. ``targets``: URLs to
        POST to in turn instead of the registered one (gateways behind a load balancer; a
        retry goes to the next one). Nothing is delivered while no webhook is set. Every
        attempt is recorded in :attr:`deliveries`. Call it from the emulator's event loop.
        """
        with self._lock:
            self._webhook_targets = list(targets)
            self._retry_seconds = retry_seconds
        if self._delivery_task is None:
            self._delivery_task = asyncio.get_running_loop().create_task(self._deliver())
        self._wake()

    def delivered(self, update_id: int) -> list[WebhookDelivery]:
        """The POSTs of ``update_id`` so far, in order."""
        with self._lock:
            return [d for d in self.deliveries if d.update_id == update_id]

    async def _deliver(self) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks: set[asyncio.Task[None]] = set()
            try:
                while not self._closing:
                    for queued, url in self._due_deliveries():
                        task = asyncio.create_task(self._post_update(http, queued, url))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    await self._wait_change(self._retry_seconds)
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _due_deliveries(self) -> list[tuple[_QueuedUpdate, str]]:
        """Queued updates to POST now, each with its URL; marks them as being posted."""
        now = asyncio.get_running_loop().time()
        with self._lock:
            registered = str(self.webhook.get("url") or "")
            if not registered:
                return []
            room = int(self.webhook.get("max_connections") or 40) - len(self._delivering)
            due: list[tuple[_QueuedUpdate, str]] = []
            for queued in self._queue:
                if len(due) >= room:
                    break
                key = id(queued)
                if key in self._delivering or self._retry_at.get(key, 0.0) > now:
                    continue
                url = registered
                if self._webhook_targets:
                    url = self._webhook_targets[self._next_target % len(self._webhook_targets)]
                    self._next_target += 1
                self._delivering.add(key)
                due.append((queued, url))
            return due

    async def _post_update(
        self, http: aiohttp.ClientSession, queued: _QueuedUpdate, url: str
    ) -> None:
        secret = self.webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(secret)} if secret else {}
        status: int | None = None
        try:
            async with http.post(url, json=queued.update, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.debug("webhook %s: update %s not delivered: %r", url, queued.update_id, exc)
        now = asyncio.get_running_loop().time()
        with self._lock:
            self.deliveries.append(WebhookDelivery(queued.update_id, url, status))
            key = id(queued)
            self._delivering.discard(key)
            if status == 200:
                self._retry_at.pop(key, None)
                self._queue = [q for q in self._queue if q is not queued]
            else:
                self._retry_at[key] = now + self._retry_seconds
        self._wake()

    # ------------------------------------------------------------------ failure injection

    def rate_limit(
        self, count: int = 1, retry_after: float = 1, method: str = "sendMessage"
    ) -> None:
        """Make the next ``count`` calls of ``method`` answer 429 with ``retry_after``.

        Telegram sends whole seconds; a float (e.g. 0.05) keeps tests fast and PTB accepts it.
        """
        error = ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )
        self.fail_next(method, error, count=count)

    def group_rate_limit(self, messages: int, seconds: float = 60.0) -> None:
        """Refuse, like Telegram, more than ``messages`` bot messages per group per ``seconds``.

        Every call that makes a message in a group counts (sendMessage, sendPhoto and the
        other sends, copyMessage, each message of copyMessages, createForumTopic for its
        service message), in a sliding window per group. One too many is answered 429
        "Too Many Requests: retry after X" with ``parameters.retry_after`` = the seconds
        until the window has room (rounded up to 0.01) and changes nothing; count those with
        :meth:`rejected`. Private chats are not limited. ``messages=0`` (the default) is off.
        """
        if messages < 0 or seconds < 0:
            raise ValueError("messages and seconds must not be negative")
        with self._lock:
            self._group_limit = (messages, float(seconds))
            for chat in self._chats.values():
                chat.sent_times.clear()

    def fail_next(self, method: str, error: ApiError, *, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` answer with ``error``."""
        with self._lock:
            self._failures[method.lower()].extend([error] * count)

    # ------------------------------------------------------------------ what the bot did

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Recorded calls, in order, optionally only of ``method`` (case-insensitive)."""
        with self._lock:
            if method is None:
                return list(self.sent)
            return [c for c in self.sent if c.method.lower() == method.lower()]

    def rejected(self, method: str | None = None, error_code: int = 429) -> list[ApiCall]:
        """Answered calls (of ``method``) refused with ``error_code``: by default the 429s."""
        return [c for c in self.calls(method) if c.status == error_code]

    def outbox(self, chat_id: int) -> list[JSONDict]:
        """Everything the bot sent or edited in ``chat_id`` (read or not)."""
        with self._lock:
            return list(self._outbox.get(chat_id, []))

    def unread(self, chat_id: int) -> list[JSONDict]:
        """Sent items :meth:`wait_for_messages` has not returned yet."""
        with self._lock:
            return self._outbox.get(chat_id, [])[self._read_pos[chat_id] :]

    def mark(self, chat_id: int | None = None) -> None:
        """Skip everything sent so far (to ``chat_id`` or to all chats)."""
        with self._lock:
            for cid in [chat_id] if chat_id is not None else list(self._outbox):
                self._read_pos[cid] = len(self._outbox.get(cid, []))

    def message(self, chat_id: int, message_id: int) -> JSONDict:
        """The current state of a message (after the bot's edits)."""
        with self._lock:
            return copy.deepcopy(self._chats[chat_id].messages[message_id])

    def last_bot_message(self, chat_id: int) -> JSONDict | None:
        """The newest message the bot sent to ``chat_id``, as it looks now."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if not chat or not chat.bot_message_ids:
                return None
            return copy.deepcopy(chat.messages[chat.bot_message_ids[-1]])

    def callback_answer(self, update_id: int) -> JSONDict | None:
        """The ``answerCallbackQuery`` parameters for the press pushed as ``update_id``."""
        with self._lock:
            for query in self._callback_queries.values():
                if query["update_id"] == update_id:
                    return query["answer"]
            raise LookupError(f"update {update_id} was not a callback query")

    def update(self, update_id: int) -> JSONDict:
        """The update pushed as ``update_id`` (e.g. to :meth:`push_raw` it again)."""
        with self._lock:
            return copy.deepcopy(self._history[update_id])

    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by the bot."""
        with self._lock:
            return [copy.deepcopy(q.update) for q in self._queue]

    async def wait_until_polling(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a deadline
        """Wait until a getUpdates long poll is parked here, waiting for an update."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                if self._parked_polls:
                    return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no getUpdates long poll within {timeout}s")
            await self._wait_change(remaining)

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline, like wait_for_messages
    ) -> list[ApiCall]:
        """Wait until ``count`` calls of ``method`` have been answered; returns all so far."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answered = [c for c in self.calls(method) if c.answered]
            if len(answered) >= count:
                return answered
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(answered)} {method} call(s) within {timeout}s, not {count}"
                )
            await self._wait_change(remaining)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the brief's API; a deadline, not a cancel scope
    ) -> list[JSONDict]:
        """Wait for the next ``count`` unread items the bot sent to ``chat_id`` and return them.

        Items are sendMessage/sendDocument/sendPhoto/.../copyMessage/edit records, each a
        dict with ``method``, ``chat_id``, ``message_id``, ``message_thread_id``, ``text``
        (as sent), ``plain_text`` (as shown), ``parse_mode``, ``reply_markup``, ``caption``,
        ``document``, ``params`` and ``message`` (the Message as the chat shows it); copies
        also carry ``copied_from`` (``{"chat_id", "message_id"}`` of the source). Each item
        is returned once.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                box = self._outbox.get(chat_id, [])
                start = self._read_pos[chat_id]
                if len(box) - start >= count:
                    self._read_pos[chat_id] = start + count
                    return box[start : start + count]
                got = box[start:]
            remaining = deadline - loop.time()
            if remaining <= 0:
                summary = [(m["method"], m.get("text") or m.get("caption")) for m in got]
                recent = [(c.method, c.error) for c in self.sent[-10:]]
                raise TimeoutError(
                    f"chat {chat_id}: wanted {count} message(s) within {timeout}s, "
                    f"got {len(got)}: {summary}; last calls: {recent}"
                )
            await self._wait_change(remaining)

    # ------------------------------------------------------------------ internals: state

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._wake_in_loop()
        else:
            loop.call_soon_threadsafe(self._wake_in_loop)

    def _wake_in_loop(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        if event is not None:
            event.set()

    async def _wait_change(self, seconds: float) -> None:
        event = self._changed
        if event is None:
            raise RuntimeError("the emulator is not started")
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass

    def _ensure_chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id < 0:
                raise LookupError(f"unknown group {chat_id}: call add_group() first")
            user = {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Wanjiku",
                "last_name": "Kamau",
                "username": f"wanjiku{chat_id}",
                "language_code": "en",
            }
            info = {
                "id": chat_id,
                "type": "private",
                "first_name": user["first_name"],
                "last_name": user["last_name"],
                "username": user["username"],
            }
            chat = self._chats[chat_id] = _Chat(info=info, default_user=user)
            self._next_message_id.setdefault(chat_id, itertools.count(1))
        return chat

    def _new_message(
        self, chat: _Chat, sender: JSONDict, message_thread_id: int | None = None
    ) -> JSONDict:
        chat_id = chat.info["id"]
        message: JSONDict = {
            "message_id": next(self._next_message_id[chat_id]),
            "from": dict(sender),
            "chat": dict(chat.info),
            "date": int(time.time()),
        }
        if message_thread_id is not None:
            topic = chat.topics.get(message_thread_id)
            if topic is None:
                raise _bad_request("message thread not found")
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
            message["reply_to_message"] = copy.deepcopy(chat.messages[message_thread_id])
        chat.messages[message["message_id"]] = message
        return message

    def _new_file_ids(self, prefix: str) -> JSONDict:
        n = next(self._ids)
        return {"file_id": f"{prefix}{n:08d}emu", "file_unique_id": f"AgAD{n:06d}"}

    def _update_type(self, body: Mapping[str, Any]) -> str:
        return next((k for k in body if k != "update_id"), "unknown")

    def _enqueue(self, body: JSONDict) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            self._last_update_id = update_id
            kind = self._update_type(body)
            allowed = self._allowed_updates
            if (kind in DEFAULT_EXCLUDED_UPDATES) if allowed is None else (kind not in allowed):
                logger.debug("update %s of type %s not allowed, dropped", update_id, kind)
                return update_id
            update = {"update_id": update_id, **body}
            self._history[update_id] = copy.deepcopy(update)
            self._queue.append(_QueuedUpdate(update))
        self._wake()
        return update_id

    def _reply_buttons(self, chat: _Chat) -> list[JSONDict]:
        keyboard = chat.reply_keyboard or {}
        return [
            b if isinstance(b, dict) else {"text": b}
            for row in keyboard.get("keyboard", [])
            for b in row
        ]

    def _after_reply_keyboard_use(self, chat: _Chat) -> None:
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None

    def _push_in_chat(
        self,
        chat: _Chat,
        sender: JSONDict,
        content: Mapping[str, Any],
        thread_id: int | None,
    ) -> int:
        if thread_id is not None and thread_id not in chat.topics:
            raise LookupError(f"no topic {thread_id} in chat {chat.info['id']}")
        message = self._new_message(chat, sender, thread_id)
        message.update(copy.deepcopy(dict(content)))
        return self._enqueue({"message": copy.deepcopy(message)})

    def _push_in_group(
        self,
        chat_id: int,
        content: JSONDict,
        thread_id: int | None,
        user: Mapping[str, Any] | None,
        anonymous: bool,
    ) -> int:
        with self._lock:
            chat = self._group(chat_id)
            if anonymous:
                sender, content = dict(GROUP_ANONYMOUS_BOT), {**content, "sender_chat": chat.info}
            else:
                sender = self._sender(chat, user)
            topic = chat.topics.get(thread_id) if thread_id is not None else None
            status = self._member(chat, int(sender["id"]))["status"]
            if topic and topic["is_closed"] and not anonymous and status not in _ADMINS:
                raise ValueError(
                    f"topic {thread_id} is closed: only administrators can write in it "
                    "(add_member(..., status='administrator'))"
                )
            return self._push_in_chat(chat, sender, content, thread_id)

    def _sender(self, chat: _Chat, user: Mapping[str, Any] | None) -> JSONDict:
        """``user`` over what the group knows of that id (its default agent without an id)."""
        given = dict(user or {})
        user_id = int(given.get("id") or chat.default_user["id"])
        known = chat.members.get(user_id)
        base = known["user"] if known else {"is_bot": False, "first_name": f"User {user_id}"}
        return {**base, **given, "id": user_id}

    def _group(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None or not chat.is_group:
            raise LookupError(f"unknown group {chat_id}: call add_group() first")
        return chat

    def _member(self, chat: _Chat, user_id: int) -> JSONDict:
        """``{"user", "status"}`` of ``user_id`` in ``chat`` (``left`` if unknown)."""
        if user_id == self.bot_user["id"]:
            status = "administrator" if chat.is_group else "member"
            return {"user": self._bot_as_sender(), "status": status}
        if not chat.is_group:
            if user_id != chat.info["id"]:
                raise _bad_request("user not found")
            return {"user": dict(chat.default_user), "status": "member"}
        if user_id in chat.members:
            return chat.members[user_id]
        private = self._chats.get(user_id)
        user = private.default_user if private else {"first_name": f"User {user_id}"}
        return {"user": {"is_bot": False, **user, "id": user_id}, "status": "left"}

    def _photo_sizes(self) -> list[JSONDict]:
        return [
            {**self._new_file_ids("AgACAgQAAxkBAAI"), "width": w, "height": h, "file_size": s}
            for w, h, s in ((90, 67, 1_402), (320, 240, 14_877), (1280, 960, 98_110))
        ]

    def _remove_topic(self, chat: _Chat, thread_id: int) -> None:
        """Drop the topic and, as Telegram does, every message in it."""
        del chat.topics[thread_id]
        gone = {
            mid
            for mid, m in chat.messages.items()
            if mid == thread_id or m.get("message_thread_id") == thread_id
        }
        for mid in gone:
            del chat.messages[mid]
        chat.bot_message_ids = [mid for mid in chat.bot_message_ids if mid not in gone]

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if self.token is not None and token != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_json(), status=401)
        if self.token is None and token.split(":", 1)[0].isdigit():
            self.bot_user["id"] = int(token.split(":", 1)[0])  # any token: be that bot
        call = ApiCall(method=method, params={})
        try:
            call.params, call.files = await self._read_params(request)
        except ApiError as exc:
            call.ok, call.error = False, exc.to_json()
        with self._lock:
            self.sent.append(call)
        self._wake()
        try:
            if call.ok:
                call.result = await self._dispatch(method, call.params)
        except ApiError as exc:
            call.ok, call.error = False, exc.to_json()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.exception("emulator could not handle %s %s", method, call.params)
            error = _bad_request(f"emulator could not handle the request: {exc!r}")
            call.ok, call.error = False, error.to_json()
        except asyncio.CancelledError:
            call.ok, call.error = False, {"description": "the client went away"}
            raise
        finally:
            call.status = 200 if call.ok else (call.error or {}).get("error_code", 500)
            call.answered = True
            self._wake()
        body = {"ok": True, "result": call.result} if call.ok else call.error
        status = call.status
        if not call.ok:
            logger.debug("%s -> %s", method, call.error)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _read_params(self, request: web.Request) -> tuple[JSONDict, dict[str, UploadedFile]]:
        params: JSONDict = {k: _decode_form_value(k, v) for k, v in request.query.items()}
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise _bad_request("can't parse JSON object") from exc
                if not isinstance(body, dict):
                    raise _bad_request("JSON object expected")
                params.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                for name, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        content = value.file.read()
                        files[name] = UploadedFile(
                            name, value.filename, value.content_type, content
                        )
                    else:
                        params[name] = _decode_form_value(name, str(value))
        if isinstance(params.get("chat_id"), str) and params["chat_id"].lstrip("-").isdigit():
            params["chat_id"] = int(params["chat_id"])
        for name, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[name] = files.get(value.removeprefix("attach://"), value)
        for name, upload in files.items():
            params.setdefault(name, upload)
        return params, files

    async def _dispatch(self, method: str, params: JSONDict) -> Any:
        key = method.lower()
        with self._lock:
            failures = self._failures.get(key)
            if failures:
                raise failures.popleft()
        if key == "getupdates":
            return await self._get_updates(params)
        handler = self._handlers().get(key)
        if handler is None:
            raise ApiError(404, f"Not Found: method {method} is not emulated")
        with self._lock:
            return handler(params)

    def _handlers(self) -> dict[str, Callable[[JSONDict], Any]]:
        return {
            "getme": lambda p: dict(self.bot_user),
            "close": lambda p: True,
            "logout": lambda p: True,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "senddocument": lambda p: self._send_media(p, "document"),
            "sendphoto": lambda p: self._send_media(p, "photo"),
            "sendvoice": lambda p: self._send_media(p, "voice"),
            "sendaudio": lambda p: self._send_media(p, "audio"),
            "sendvideo": lambda p: self._send_media(p, "video"),
            "sendanimation": lambda p: self._send_media(p, "animation"),
            "sendsticker": lambda p: self._send_media(p, "sticker"),
            "copymessage": self._copy_message,
            "copymessages": self._copy_messages,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": lambda p: self._set_topic_closed(p, closed=True),
            "reopenforumtopic": lambda p: self._set_topic_closed(p, closed=False),
            "deleteforumtopic": self._delete_forum_topic,
        }

    # ------------------------------------------------------------------ API methods

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        loop = asyncio.get_running_loop()
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), self.max_poll_timeout)
        with self._lock:
            if self.webhook["url"]:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if params.get("allowed_updates") is not None:
                allowed = frozenset(params["allowed_updates"])
                self._allowed_updates = allowed or None
            self._poll_generation += 1
            generation = self._poll_generation
            self._confirm(offset)
        self._wake()  # a newer getUpdates ends an older one, as on Telegram
        deadline = loop.time() + timeout
        parked = False
        try:
            while True:
                batch = self._poll_once(generation, offset, limit)
                if batch is not None:
                    return batch
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                if not parked:
                    parked = True
                    with self._lock:
                        self._parked_polls += 1
                    self._wake()
                await self._wait_change(remaining)
        finally:
            if parked:
                with self._lock:
                    self._parked_polls -= 1

    def _poll_once(self, generation: int, offset: int, limit: int) -> list[JSONDict] | None:
        """A batch to answer with, or None to keep waiting."""
        with self._lock:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._take_batch(offset, limit)
            return batch if batch or self._closing else None

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._queue = [q for q in self._queue if q.forced or q.update_id >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]

    def _take_batch(self, offset: int, limit: int) -> list[JSONDict]:
        batch: list[_QueuedUpdate] = []
        for queued in self._queue:
            if queued.forced:
                # A duplicate goes alone: PTB confirms with the last id of a batch.
                if not batch:
                    batch.append(queued)
                break
            if offset <= 0 or queued.update_id >= offset:
                batch.append(queued)
                if len(batch) >= limit:
                    break
        for queued in batch:
            queued.forced = False
        return [copy.deepcopy(q.update) for q in batch]

    def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        self.webhook = {k: v for k, v in params.items() if not isinstance(v, UploadedFile)}
        self.webhook.setdefault("url", "")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _target_chat(self, params: JSONDict) -> _Chat:
        chat = self._chat_of(params.get("chat_id"), "chat_id")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _chat_of(self, chat_id: Any, name: str) -> _Chat:
        """The chat ``chat_id`` (a number or an @username) names, blocked or not."""
        if chat_id in (None, ""):
            raise _bad_request(f"{name} is empty")
        chat: _Chat | None
        if isinstance(chat_id, str):
            username = chat_id.removeprefix("@").lower()
            chat = next(
                (c for c in self._chats.values() if c.info.get("username", "").lower() == username),
                None,
            )
        else:
            chat = self._chats.get(int(chat_id))
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    def _check_markup(self, markup: Any, *, inline_only: bool = False) -> Any:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            for button in (b for row in markup["inline_keyboard"] for b in row):
                if not button.get("text"):
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
        elif inline_only:
            raise _bad_request("inline keyboard expected")
        return markup

    def _apply_reply_keyboard(self, chat: _Chat, markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        if "keyboard" in markup:
            chat.reply_keyboard = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None

    def _record(
        self, chat: _Chat, method: str, params: JSONDict, message: JSONDict, **extra: Any
    ) -> None:
        text = params.get("text")
        record: JSONDict = {
            "method": method,
            "chat_id": chat.info["id"],
            "message_id": message["message_id"],
            "text": text,
            "plain_text": message.get("text"),
            "parse_mode": params.get("parse_mode"),
            "reply_markup": params.get("reply_markup"),
            "message_thread_id": params.get("message_thread_id"),
            "caption": params.get("caption"),
            "document": None,
            "params": params,
            "message": copy.deepcopy(message),
            **extra,
        }
        self._outbox[chat.info["id"]].append(record)

    def _bot_sends(self, chat: _Chat, params: JSONDict, *, charged: bool = False) -> JSONDict:
        """A new message from the bot in ``chat``, counted by the group rate limit unless
        ``charged`` (already counted, as copyMessages does for all its messages at once)."""
        thread = self._thread_id(chat, params)
        if not charged:
            self._charge_group(chat)
        message = self._new_message(chat, self._bot_as_sender(), thread)
        chat.bot_message_ids.append(message["message_id"])
        return message

    def _thread_id(self, chat: _Chat, params: JSONDict) -> int | None:
        """The topic a send goes to; a deleted or never created one is refused like Telegram."""
        thread = params.get("message_thread_id")
        if thread in (None, ""):
            return None
        if int(thread) not in chat.topics:
            raise _bad_request("message thread not found")
        return int(thread)

    def _charge_group(self, chat: _Chat, count: int = 1) -> None:
        """Count ``count`` new messages against the group limit, or refuse them all with 429."""
        limit, window = self._group_limit
        if not limit or not chat.is_group:
            return
        now = time.monotonic()
        times = chat.sent_times
        while times and times[0] <= now - window:
            times.popleft()
        excess = len(times) + count - limit
        if excess > 0:
            frees_at = times[excess - 1] + window if excess <= len(times) else now + window
            retry_after = max(math.ceil((frees_at - now) * 100) / 100, 0.01)
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after:g}",
                {"retry_after": retry_after},
            )
        times.extend([now] * count)

    def _bot_as_sender(self) -> JSONDict:
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.bot_user[k] for k in keys}

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._target_chat(params)
        text = params.get("text")
        if not text:
            raise _bad_request("message text is empty")
        plain = _render(str(text), params.get("parse_mode"))
        if not plain.strip():
            raise _bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._check_markup(params.get("reply_markup"))
        message = self._bot_sends(chat, params)
        message["text"] = plain
        if params.get("entities") and not params.get("parse_mode"):
            message["entities"] = params["entities"]
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._apply_reply_keyboard(chat, markup)
        self._record(chat, "sendMessage", params, message)
        return copy.deepcopy(message)

    def _send_media(self, params: JSONDict, kind: str) -> JSONDict:
        chat = self._target_chat(params)
        media = params.get(kind)
        if media in (None, ""):
            raise _bad_request(f"there is no {kind} in the request")
        caption = params.get("caption")
        plain_caption = _render(str(caption), params.get("parse_mode")) if caption else None
        if plain_caption and utf16_len(plain_caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        markup = self._check_markup(params.get("reply_markup"))
        if isinstance(media, UploadedFile):
            sent: JSONDict = {
                "file_name": media.file_name,
                "mime_type": media.mime_type,
                "file_size": len(media.content),
                "content": media.content,
            }
            meta: JSONDict = {
                **self._new_file_ids("BQACAgQAAxkDAAI"),
                "file_size": len(media.content),
            }
            if kind == "document":
                meta.update(file_name=media.file_name, mime_type=media.mime_type)
        else:
            sent = {"file_id": str(media)}
            meta = {"file_id": str(media), "file_unique_id": "AgAD" + str(media)[-6:]}
        sizes = {k: params.get(k) or v for k, v in _MEDIA_FIELDS[kind].items()}
        message = self._bot_sends(chat, params)
        message[kind] = [{**meta, **sizes}] if kind == "photo" else {**meta, **sizes}
        if plain_caption and kind in _CAPTIONED:
            message["caption"] = plain_caption
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._apply_reply_keyboard(chat, markup)
        method = "send" + kind[0].upper() + kind[1:]
        self._record(chat, method, params, message, **{"document": None, "photo": None, kind: sent})
        return copy.deepcopy(message)

    def _copy_message(self, params: JSONDict) -> JSONDict:
        chat = self._target_chat(params)
        source_chat = self._chat_of(params.get("from_chat_id"), "from_chat_id")
        source = source_chat.messages.get(int(params.get("message_id") or 0))
        if source is None:
            raise _bad_request("message to copy not found")
        content = self._copied_content(source, params)
        markup = self._check_markup(params.get("reply_markup"))
        message = self._bot_sends(chat, params)
        message.update(content)
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._apply_reply_keyboard(chat, markup)
        self._record_copy(chat, "copyMessage", params, message, source)
        return {"message_id": message["message_id"]}

    def _copy_messages(self, params: JSONDict) -> list[JSONDict]:
        """Copies in order; missing or service messages are skipped, as on Telegram."""
        chat = self._target_chat(params)
        source_chat = self._chat_of(params.get("from_chat_id"), "from_chat_id")
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_COPIED_MESSAGES:
            raise _bad_request("message_ids must be a list of 1-100 message identifiers")
        if any(a >= b for a, b in itertools.pairwise(ids)):
            raise _bad_request("message identifiers must be in strictly increasing order")
        sources = [
            m
            for m in (source_chat.messages.get(int(i)) for i in ids)
            if m is not None and _COPYABLE_CONTENT & m.keys()
        ]
        if not sources:
            raise _bad_request("message to copy not found")
        self._thread_id(chat, params)
        self._charge_group(chat, len(sources))
        copied = []
        for source in sources:
            content = self._copied_content(source, {"remove_caption": params.get("remove_caption")})
            message = self._bot_sends(chat, params, charged=True)
            message.update(content)
            self._record_copy(chat, "copyMessages", params, message, source)
            copied.append({"message_id": message["message_id"]})
        return copied

    def _copied_content(self, source: JSONDict, params: JSONDict) -> JSONDict:
        """What a copy of ``source`` holds: its content, with ``caption`` replacing the old."""
        if not _COPYABLE_CONTENT & source.keys():
            raise _bad_request("the message can't be copied")
        content = {k: copy.deepcopy(v) for k, v in source.items() if k in _COPIED_FIELDS}
        if not _CAPTIONED & content.keys():
            return content
        if params.get("remove_caption") or params.get("caption") is not None:
            content.pop("caption", None)
            content.pop("caption_entities", None)
        if params.get("caption"):
            caption = _render(str(params["caption"]), params.get("parse_mode"))
            if utf16_len(caption) > MAX_CAPTION_LENGTH:
                raise _bad_request("message caption is too long")
            content["caption"] = caption
            if params.get("caption_entities") and not params.get("parse_mode"):
                content["caption_entities"] = params["caption_entities"]
        return content

    def _record_copy(
        self, chat: _Chat, method: str, params: JSONDict, message: JSONDict, source: JSONDict
    ) -> None:
        self._record(
            chat,
            method,
            params,
            message,
            text=message.get("text"),
            caption=message.get("caption"),
            message_thread_id=message.get("message_thread_id"),
            copied_from={"chat_id": source["chat"]["id"], "message_id": source["message_id"]},
        )

    def _editable(self, params: JSONDict, missing: str) -> tuple[_Chat, JSONDict]:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not emulated")
        chat = self._target_chat(params)
        message = chat.messages.get(int(params.get("message_id") or 0))
        if message is None:
            raise _bad_request(f"message to {missing} not found")
        if not message["from"].get("is_bot"):
            raise _bad_request("message can't be edited")
        return chat, message

    def _edited(self, chat: _Chat, method: str, params: JSONDict, message: JSONDict) -> JSONDict:
        message["edit_date"] = int(time.time())
        self._record(chat, method, params, message, edit=True)
        return copy.deepcopy(message)

    def _not_modified(self) -> ApiError:
        return _bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, message = self._editable(params, "edit")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        text = params.get("text")
        if not text:
            raise _bad_request("message text is empty")
        plain = _render(str(text), params.get("parse_mode"))
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if plain == message["text"] and markup == message.get("reply_markup"):
            raise self._not_modified()
        message["text"] = plain
        message.pop("reply_markup", None)  # an edit without reply_markup removes the keyboard
        if markup:
            message["reply_markup"] = markup
        return self._edited(chat, "editMessageText", params, message)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, message = self._editable(params, "edit")
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if markup == message.get("reply_markup") or (not markup and "reply_markup" not in message):
            raise self._not_modified()
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        return self._edited(chat, "editMessageReplyMarkup", params, message)

    def _delete_message(self, params: JSONDict) -> bool:
        chat = self._target_chat(params)
        message_id = int(params.get("message_id") or 0)
        if chat.messages.pop(message_id, None) is None:
            raise _bad_request("message to delete not found")
        if message_id in chat.bot_message_ids:
            chat.bot_message_ids.remove(message_id)
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query = self._callback_queries.get(str(params.get("callback_query_id", "")))
        if query is None:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text") or "")) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        query["answer"] = dict(params)
        return True

    def _send_chat_action(self, params: JSONDict) -> bool:
        self._target_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("commands must be a JSON array of at most 100 BotCommand")
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be 1-256 characters long")
        self._commands[self._commands_key(params)] = [dict(c) for c in commands]
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return [dict(c) for c in self._commands.get(self._commands_key(params), [])]

    def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _forum(self, params: JSONDict) -> _Chat:
        chat = self._target_chat(params)
        if not chat.info.get("is_forum"):
            raise _bad_request("the chat is not a forum")
        return chat

    def _create_forum_topic(self, params: JSONDict) -> JSONDict:
        chat = self._forum(params)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise _bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        topic: JSONDict = {"name": name, "icon_color": int(params.get("icon_color") or 7322096)}
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
        self._charge_group(chat)  # its service message counts like any other
        service = self._new_message(chat, self._bot_as_sender())
        service["forum_topic_created"] = dict(topic)
        service["is_topic_message"] = True
        thread_id = service["message_id"]
        service["message_thread_id"] = thread_id
        chat.topics[thread_id] = {"message_thread_id": thread_id, **topic, "is_closed": False}
        return {"message_thread_id": thread_id, **topic}

    def _topic(self, params: JSONDict) -> tuple[_Chat, JSONDict]:
        chat = self._forum(params)
        topic = chat.topics.get(int(params.get("message_thread_id") or 0))
        if topic is None:
            raise _bad_request("TOPIC_ID_INVALID")
        return chat, topic

    def _edit_forum_topic(self, params: JSONDict) -> bool:
        _, topic = self._topic(params)
        name = params.get("name")
        icon = params.get("icon_custom_emoji_id")
        if name is not None and not 1 <= len(str(name)) <= 128:
            raise _bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        changed = {"name": name} if name is not None else {}
        if icon is not None:
            changed["icon_custom_emoji_id"] = icon
        if all(topic.get(k) == v for k, v in changed.items()):
            raise _bad_request("TOPIC_NOT_MODIFIED")
        topic.update(changed)
        return True

    def _set_topic_closed(self, params: JSONDict, *, closed: bool) -> bool:
        _, topic = self._topic(params)
        if topic["is_closed"] == closed:
            raise _bad_request("TOPIC_NOT_MODIFIED")
        topic["is_closed"] = closed
        return True

    def _delete_forum_topic(self, params: JSONDict) -> bool:
        chat, topic = self._topic(params)
        self._remove_topic(chat, topic["message_thread_id"])
        return True

    def _get_chat(self, params: JSONDict) -> JSONDict:
        """A ChatFullInfo: the chat as updates show it, plus the fields PTB requires."""
        chat = self._chat_of(params.get("chat_id"), "chat_id")
        gifts = "unlimited_gifts limited_gifts unique_gifts premium_subscription "
        gifts += "gifts_from_channels"
        return {
            **chat.info,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts.split(), False),
        }

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chat_of(params.get("chat_id"), "chat_id")
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _bad_request("invalid user_id specified")
        member = self._member(chat, user_id)
        answer: JSONDict = {"status": member["status"], "user": dict(member["user"])}
        if member["status"] == "administrator":
            answer.update(_ADMIN_RIGHTS)
        elif member["status"] == "creator":
            answer["is_anonymous"] = False
        elif member["status"] == "kicked":
            answer["until_date"] = 0
        return answer

    # ------------------------------------------------------------------ control API (manual)

    _CONTROL_ACTIONS = frozenset(
        {
            "push_text",
            "push_command",
            "push_callback",
            "push_contact",
            "share_contact",
            "press_button",
            "press_reply_button",
            "push_edit",
            "push_document",
            "push_photo",
            "push_sticker",
            "push_voice",
            "push_raw",
            "push_group_message",
            "push_group_photo",
            "set_user",
            "add_group",
            "add_member",
            "remove_member",
            "close_topic",
            "reopen_topic",
            "delete_topic",
            "block",
            "rate_limit",
            "group_rate_limit",
            "mark",
        }
    )

    async def _control_action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in self._CONTROL_ACTIONS:
            return web.json_response(
                {"ok": False, "description": f"unknown action {action}"}, status=404
            )
        try:
            kwargs = await request.json() if request.can_read_body else {}
            if action == "push_raw":
                kwargs = {"update": kwargs.get("update", kwargs)}
            result = getattr(self, action)(**kwargs)
        except (TypeError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _control_messages(self, request: web.Request) -> web.Response:
        chat_id = int(request.query["chat_id"])
        count = int(request.query.get("count", 1))
        timeout = min(float(request.query.get("timeout", 10)), 60.0)
        try:
            result = await self.wait_for_messages(chat_id, count, timeout)
        except TimeoutError as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=408)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _control_outbox(self, request: web.Request) -> web.Response:
        result = self.outbox(int(request.query["chat_id"]))
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _control_calls(self, request: web.Request) -> web.Response:
        result = self.calls(request.query.get("method"))
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _control_topics(self, request: web.Request) -> web.Response:
        try:
            result = self.topics(int(request.query["chat_id"]))
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)


async def serve(host: str, port: int, token: str | None) -> None:
    """Run the emulator with its control API until cancelled."""
    async with TelegramEmulator(token, host=host, port=port, enable_control_api=True) as tg:
        print(f"Telegram emulator: base_url={tg.base_url}  control={tg.url}/control/", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m tests.support.telegram_emulator``.

    Control API (JSON in, JSON out)::

        curl -XPOST :8081/control/push_text -d '{"chat_id": 1001, "text": "/start"}'
        curl -XPOST :8081/control/press_button -d '{"chat_id": 1001, "text": "English"}'
        curl -XPOST :8081/control/share_contact -d '{"chat_id": 1001, "phone": "+254712345678"}'
        curl ':8081/control/messages?chat_id=1001&count=1&timeout=10'   # next unread replies
        curl ':8081/control/outbox?chat_id=1001'  ;  curl ':8081/control/calls?method=sendMessage'

    The agents' desk (a forum supergroup; topics come from the bot's createForumTopic)::

        curl -XPOST :8081/control/add_group -d '{"chat_id": -100123, "is_forum": true}'
        curl ':8081/control/topics?chat_id=-100123'
        curl -XPOST :8081/control/push_group_message \
            -d '{"chat_id": -100123, "text": "/claim@ecitizen_migration_bot", "thread_id": 2}'
        curl -XPOST :8081/control/close_topic -d '{"chat_id": -100123, "message_thread_id": 2}'
        curl -XPOST :8081/control/group_rate_limit -d '{"messages": 20, "seconds": 60}'
    """
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator for manual trials")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
