"""The agents' side: messages and commands in a desk group's topics.

Only members of the desk group count (``getChatMember``, cached for a minute): a message
from anyone else, from a bot, or outside a person's topic is ignored. In a person's topic
an agent's message is copied to the person, except commands and lines starting with
``#note``. ``/claim`` takes the conversation (``/claim name`` also tells the person the
agent's first name), ``/done`` hands it back to the assistant and asks the person for a
rating, ``/block`` (then ``/block confirm``) stops relaying the person for a while.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from telegram import Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import Forbidden, TelegramError
from telegram.ext import BaseHandler, MessageHandler, filters

from bot.context import GatewayContext
from bot.desk.person import rating_markup
from bot.handlers.scope import desk_filter
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.handoff import desk, texts
from ntsa_assistant.storage.models import CloseReason, HandoffState

logger = logging.getLogger(__name__)

MEMBER_CACHE_SECONDS = 60.0
NOTE_PREFIX = "#note"
_MEMBERS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)
_MEMBER_CACHE = "desk_members"
_BLOCK_REQUESTS = "desk_block_requests"


@dataclass(frozen=True)
class Command:
    name: str
    argument: str


def parse_command(text: str, bot_username: str | None) -> Command | None:
    """``/claim@our_bot name`` → Command("claim", "name"); None for another bot's command."""
    if not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    name, _, target = head.partition("@")
    if target and bot_username and target.lower() != bot_username.lower():
        return None
    return Command(name.lower(), rest.strip().lower())


async def is_member(context: GatewayContext, chat_id: int, message: Message) -> bool:
    """Whether the sender belongs to the desk group (an anonymous admin of it does)."""
    if message.sender_chat is not None:
        return message.sender_chat.id == chat_id
    user = message.from_user
    if user is None or user.is_bot:
        return False
    cache: dict[tuple[int, int], tuple[float, bool]] = context.bot_data.setdefault(
        _MEMBER_CACHE, {}
    )
    key, now = (chat_id, user.id), time.monotonic()
    cached = cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        member = await context.bot.get_chat_member(chat_id, user.id)
        verdict = member.status in _MEMBERS
    except TelegramError as exc:
        logger.warning("desk %s: membership of %s unknown (%s)", chat_id, user.id, exc.message)
        return False
    cache[key] = (now + MEMBER_CACHE_SECONDS, verdict)
    return verdict


async def on_desk_message(update: Update, context: GatewayContext) -> None:
    message = update.effective_message
    chat_id = update.effective_chat.id
    if message is None or not message.is_topic_message or message.message_thread_id is None:
        return  # the General topic and replies outside topics are the agents' own
    if not await is_member(context, chat_id, message):
        logger.info("desk %s: message from a non-member ignored", chat_id)
        return
    text = message.text or ""
    if text.lstrip().lower().startswith(NOTE_PREFIX):
        return
    thread = message.message_thread_id
    person, view = await desk.for_topic(context.gateway.sessions, chat_id, thread)
    command = parse_command(text, context.bot.username) if text.startswith("/") else None
    if text.startswith("/"):
        if command is not None:
            await _command(context, message, command, person, view)
        return
    if person is None:
        return  # a topic the agents made themselves
    if view is None:
        await _reply(context, message, texts.desk_no_handoff())
        return
    if view.state is HandoffState.WAITING:  # answering takes it
        view = await _claim(context, message, view, show_name=False) or view
    try:
        await context.bot.copy_message(person, chat_id, message.message_id)
    except Forbidden:
        await _reply(context, message, texts.desk_not_delivered(), view)


async def _command(
    context: GatewayContext,
    message: Message,
    command: Command,
    person: int | None,
    view: desk.HandoffView | None,
) -> None:
    if command.name not in ("claim", "done", "block"):
        await _reply(context, message, texts.desk_help())
        return
    if view is None:
        await _reply(context, message, texts.desk_no_handoff())
        return
    if command.name == "claim":
        if view.state is HandoffState.CLAIMED:
            claimed_by = view.agent_name or "another agent"
            await _reply(context, message, texts.desk_claimed(claimed_by), view)
            return
        await _claim(context, message, view, show_name=command.argument in ("name", "jina"))
    elif command.name == "done":
        await _done(context, message, view)
    else:
        await _block(context, message, command, view)


def _agent_name(user: User | None) -> str:
    return (user.first_name if user else None) or "An agent"


async def _claim(
    context: GatewayContext, message: Message, view: desk.HandoffView, *, show_name: bool
) -> desk.HandoffView | None:
    user = message.from_user
    name = _agent_name(user)
    claimed = await desk.claim(
        context.gateway.sessions,
        view.id,
        user.id if user else 0,
        name if show_name else None,
        context.gateway.now(),
    )
    if claimed is None:
        return None
    await _to_person(context, message, claimed, texts.claimed(claimed.language, claimed.agent_name))
    await _reply(context, message, texts.desk_claimed(name), claimed)
    context.gateway.wake_desk(claimed.desk_chat_id)
    logger.info("handoff %s claimed", claimed.id)
    return claimed


async def _done(context: GatewayContext, message: Message, view: desk.HandoffView) -> None:
    closed = await desk.close(
        context.gateway.sessions, view.id, CloseReason.DONE, context.gateway.now()
    )
    if closed is None:
        return
    await _reply(
        context, message, texts.desk_closed(_agent_name(message.from_user), "done"), closed
    )
    context.gateway.wake_desk(closed.desk_chat_id)
    if await _to_person(context, message, closed, texts.back_to_bot(closed.language)):
        question, markup = rating_markup(closed.language, closed.id)
        await context.bot.send_message(closed.chat_id, question, reply_markup=markup)
    logger.info("handoff %s done", closed.id)


async def _block(
    context: GatewayContext, message: Message, command: Command, view: desk.HandoffView
) -> None:
    settings: Settings = context.gateway.settings
    requests: dict[int, float] = context.bot_data.setdefault(_BLOCK_REQUESTS, {})
    if command.argument not in ("confirm", "yes"):
        requests[view.id] = time.monotonic() + texts.BLOCK_CONFIRM_MINUTES * 60
        await _reply(context, message, texts.desk_block_confirm(settings.support_block_hours), view)
        return
    asked = requests.pop(view.id, None)
    if asked is None or asked < time.monotonic():
        await _reply(context, message, texts.desk_block_confirm(settings.support_block_hours), view)
        return
    now = context.gateway.now()
    until = now + timedelta(hours=settings.support_block_hours)
    await desk.block(context.gateway.sessions, view.chat_id, until)
    closed = await desk.close(context.gateway.sessions, view.id, CloseReason.BLOCKED, now)
    await _reply(context, message, texts.desk_blocked(until), view)
    if closed is not None:
        context.gateway.wake_desk(closed.desk_chat_id)
        await _to_person(context, message, closed, texts.blocked(closed.language, until))
    logger.info("handoff %s: person blocked for %s h", view.id, settings.support_block_hours)


async def _to_person(
    context: GatewayContext, message: Message, view: desk.HandoffView, text: str
) -> bool:
    try:
        await context.bot.send_message(view.chat_id, text)
    except Forbidden:
        await _reply(context, message, texts.desk_not_delivered(), view)
        return False
    return True


async def _reply(
    context: GatewayContext, message: Message, text: str, view: desk.HandoffView | None = None
) -> None:
    """The bot's answer to an agent, in the same topic: through the desk's paced outbox when
    it concerns a handoff (so it never holds up what goes to the person), else at once."""
    if view is not None:
        await desk.notice(context.gateway.sessions, view.id, text, context.gateway.now())
        context.gateway.wake_desk(view.desk_chat_id)
        return
    await context.bot.send_message(
        message.chat.id, text, message_thread_id=message.message_thread_id
    )


def handlers(settings: Settings) -> list[BaseHandler]:
    if not settings.support_chat_id:
        return []
    desk_updates = desk_filter(settings) & ~filters.StatusUpdate.ALL & filters.UpdateType.MESSAGE
    return [MessageHandler(desk_updates, on_desk_message)]
