"""The person's side of a handoff, in their private chat.

A handoff starts where Rasa's action answers "talk to a person" with a handoff request
(:func:`start`), and from ``/agent`` (which asks Rasa for the same request, so a running
form is stopped and the last turns come along; with Rasa down it starts without them).
The person taps what it is about, or types it; then they wait in the queue. While a
handoff is open, :func:`gate` takes every update of the chat before the features do: the
chat's messages go to the desk, not to Rasa, and only ``/cancel`` (or the button) leaves.

The buttons made here carry ``handoff:…`` callback data, checked against the database on
every tap (a forged one can only pick a topic, leave, or rate one's own finished handoff).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import GatewayContext
from bot.handlers.scope import is_user_chat
from bot.metadata import base_metadata
from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import Lang, normalise_language
from ntsa_assistant.core.language import detect
from ntsa_assistant.handoff import desk, texts
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.storage.models import CloseReason, HandoffState

logger = logging.getLogger(__name__)

PREFIX = "handoff:"
TOPIC, LEAVE, RATE = PREFIX + "topic:", PREFIX + "leave", PREFIX + "rate:"
CANCEL_WORDS = frozenset({"/cancel", "/acha", "/stop"})


def _lang(context: GatewayContext, update: Update, fallback: str | None = None) -> Lang:
    user = update.effective_user
    return normalise_language(
        fallback or context.language_hint or (user.language_code if user else None)
    )


def _keyboard(buttons: texts.Buttons, prefix: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(title, callback_data=prefix + key)] for title, key in buttons]
    )


def _label(update: Update) -> str:
    """How agents see the person: their Telegram first name (the topic name masks it)."""
    user = update.effective_user
    return (user.first_name if user and user.first_name else "") or "—"


# --- starting ---------------------------------------------------------------------------------


async def start(update: Update, context: GatewayContext, request: protocol.HandoffRequest) -> None:
    """Rasa's action asked for a person: ask what it is about (or say why not)."""
    chat_id = update.effective_chat.id
    lang = _lang(context, update, request.lang)
    gateway = context.gateway
    if not gateway.settings.support_chat_id:
        await context.bot.send_message(chat_id, texts.no_desk(lang))
        return
    now = context.gateway.now()
    until = await desk.blocked_until(gateway.sessions, chat_id, now)
    if until is not None:
        await context.bot.send_message(chat_id, texts.blocked(lang, until))
        return
    view = await desk.begin(gateway.sessions, chat_id, request, now)
    context.buttons.forget_menu()  # what is typed now goes to the handoff, not to a menu
    if view.state is HandoffState.CHOOSING:
        question, buttons = texts.topic_question(view.language)
        await context.bot.send_message(chat_id, question, reply_markup=_keyboard(buttons, TOPIC))
    else:
        await _tell_place(update, context, view)
    logger.info("handoff %s asked (%s) by chat %s", view.id, request.reason.value, chat_id)


async def agent_command(update: Update, context: GatewayContext) -> None:
    """``/agent``: Rasa stops any form and gives the last turns; without Rasa, none."""
    replies = await context.gateway.conversation.trusted_payload(
        str(update.effective_chat.id),
        protocol.payload(
            protocol.Intent.HUMAN_HANDOFF,
            {protocol.Entity.HANDOFF_REASON: protocol.HandoffReason.COMMAND},
        ),
        base_metadata(update),
        context.language_hint,
    )
    found = [protocol.parse_handoff_request(reply.custom) for reply in replies]
    request = next((r for r in found if r is not None), None)
    if request is None:
        lang = _lang(context, update)
        request = protocol.HandoffRequest(lang, protocol.HandoffReason.COMMAND)
    await start(update, context, request)


# --- while a handoff is open ------------------------------------------------------------------


async def gate(update: Update, context: GatewayContext) -> None:
    """Runs before the features for every private update: handoff buttons, and the whole
    chat while a handoff is open."""
    if not is_user_chat(update) or not context.gateway.settings.support_chat_id:
        return  # without a desk no handoff is ever open (and no query is worth its cost)
    query = update.callback_query
    data = query.data if query is not None else None
    if isinstance(data, str) and data.startswith(PREFIX):
        await query.answer()  # type: ignore[union-attr]
        await _stop_after(update, context, _on_button(update, context, data))
    view = await desk.current(context.gateway.sessions, update.effective_chat.id)
    if view is None:
        return
    if view.state is HandoffState.CHOOSING:
        if await _while_choosing(update, context, view):
            raise ApplicationHandlerStop
        return
    await _stop_after(update, context, _while_queued(update, context, view))


async def _stop_after(update: Update, context: GatewayContext, step: Awaitable[None]) -> None:
    """Runs a handoff step; whatever happens, the assistant's features don't see the update
    (a failure gets an apology here, since PTB would go on to the next handler group)."""
    try:
        await step
    except Exception:
        logger.exception("handoff step failed for chat %s", update.effective_chat.id)
        lang = _lang(context, update)
        await context.bot.send_message(update.effective_chat.id, texts.desk_unavailable(lang))
    raise ApplicationHandlerStop


async def _on_button(update: Update, context: GatewayContext, data: str) -> None:
    chat_id = update.effective_chat.id
    sessions = context.gateway.sessions
    view = await desk.current(sessions, chat_id)
    if data.startswith(TOPIC):
        if view is not None and view.state is HandoffState.CHOOSING:
            await _queue(update, context, view, data.removeprefix(TOPIC), None)
        elif view is not None:
            await _tell_place(update, context, view)
    elif data == LEAVE:
        if view is not None:
            await _leave(update, context, view)
    elif data.startswith(RATE):
        handoff_id, _, rating = data.removeprefix(RATE).partition(":")
        if handoff_id.isdigit() and rating.isdigit():
            now = context.gateway.now()
            rated = await desk.rate(sessions, chat_id, int(handoff_id), int(rating), now)
            if rated:
                await desk.notice(sessions, int(handoff_id), texts.desk_rating(int(rating)), now)
                context.gateway.wake_desk()
                lang = _lang(context, update)
                await context.bot.send_message(chat_id, texts.rating_thanks(lang, int(rating)))
                await update.effective_message.edit_reply_markup(None)


async def _while_choosing(update: Update, context: GatewayContext, view: desk.HandoffView) -> bool:
    """Text answers the question in the person's own words; ``/cancel`` drops the request;
    an older button means they moved on: the request is dropped and the button works."""
    message = update.message
    if message is None:  # a button from before: back to the assistant
        await desk.close(
            context.gateway.sessions, view.id, CloseReason.CANCELLED, context.gateway.now()
        )
        return False
    if message.text and message.text.strip().split("@")[0].lower() in CANCEL_WORDS:
        await _leave(update, context, view)
        return True
    if message.text and message.text.startswith("/"):
        await desk.close(
            context.gateway.sessions, view.id, CloseReason.CANCELLED, context.gateway.now()
        )
        return False  # another command: the person moved on
    queued = await _queue(update, context, view, texts.OTHER, message.text)
    if queued is not None and message.text is None:  # a photo, a document…: it goes too
        await _relay(update, context, queued)
    return True


async def _while_queued(update: Update, context: GatewayContext, view: desk.HandoffView) -> None:
    message = update.message
    chat_id = update.effective_chat.id
    if message is None:  # an older button of the assistant's
        await update.callback_query.answer()  # type: ignore[union-attr]
        await context.bot.send_message(chat_id, texts.with_agent_hint(view.language))
        return
    if message.text and message.text.strip().split("@")[0].lower() in CANCEL_WORDS:
        await _leave(update, context, view)
        return
    await _relay(update, context, view)


async def _relay(update: Update, context: GatewayContext, view: desk.HandoffView) -> None:
    message = update.effective_message
    text = message.text
    if text and (lang := detect(text)):
        context.remember_language(lang)
    await desk.relay_from_person(
        context.gateway.sessions,
        view,
        message_id=message.message_id,
        text=text,
        now=context.gateway.now(),
    )
    context.gateway.wake_desk(view.desk_chat_id)


async def _queue(
    update: Update,
    context: GatewayContext,
    view: desk.HandoffView,
    topic: str,
    typed: str | None,
) -> desk.HandoffView | None:
    gateway = context.gateway
    now = context.gateway.now()
    hours = WorkingHours.parse(gateway.settings.support_hours)
    topic = topic if topic in {key for _, key in texts.topic_question("en")[1]} else texts.OTHER
    queued = await desk.choose(
        gateway.sessions,
        view.id,
        topic=topic,
        typed_reason=typed,
        desks=gateway.settings.support_chat_id,
        label=_label(update),
        open_now=hours.is_open(now),
        now=now,
    )
    if queued is None:
        return None
    context.gateway.wake_desk(queued.handoff.desk_chat_id)
    await _send_place(update, context, queued.handoff, queued.position, queued.estimate_minutes)
    logger.info(
        "handoff %s queued in desk %s at place %s",
        queued.handoff.id,
        queued.handoff.desk_chat_id,
        queued.position,
    )
    return queued.handoff


async def _tell_place(update: Update, context: GatewayContext, view: desk.HandoffView) -> None:
    if view.state is HandoffState.CLAIMED:
        await context.bot.send_message(
            update.effective_chat.id, texts.claimed(view.language, view.agent_name)
        )
        return
    position = await desk.position(context.gateway.sessions, view)
    await _send_place(update, context, view, position, None)


async def _send_place(
    update: Update,
    context: GatewayContext,
    view: desk.HandoffView,
    position: int,
    estimate: int | None,
) -> None:
    now = context.gateway.now()
    hours = WorkingHours.parse(context.gateway.settings.support_hours)
    open_now = hours.is_open(now)
    text = texts.queued(
        view.language,
        position=position,
        estimate_minutes=estimate,
        open_now=open_now,
        next_opening=None if open_now else hours.next_opening(now),
        holiday=hours.holiday(now.date(), view.language),
    )
    leave = ((texts.leave_button(view.language), "leave"),)
    await context.bot.send_message(
        update.effective_chat.id, text, reply_markup=_keyboard(leave, PREFIX)
    )


async def _leave(update: Update, context: GatewayContext, view: desk.HandoffView) -> None:
    now = context.gateway.now()
    closed = await desk.close(context.gateway.sessions, view.id, CloseReason.CANCELLED, now)
    if closed is None:
        return
    if closed.queued_at is not None:
        claimed = view.state is HandoffState.CLAIMED
        told = texts.desk_person_left() if claimed else texts.desk_cancelled()
        await desk.notice(context.gateway.sessions, view.id, told, now)
        context.gateway.wake_desk(closed.desk_chat_id)
    await context.bot.send_message(update.effective_chat.id, texts.left_queue(view.language))
    logger.info("handoff %s left by the person", view.id)


def rating_markup(lang: Lang, handoff_id: int) -> tuple[str, InlineKeyboardMarkup]:
    """ "How did we do?" and its 1–5 buttons, for the handoff an agent just finished."""
    question, buttons = texts.rating_question(lang)
    row = [
        InlineKeyboardButton(title, callback_data=f"{RATE}{handoff_id}:{key}")
        for title, key in buttons
    ]
    return question, InlineKeyboardMarkup([row])


def handlers() -> list[BaseHandler]:
    return [TypeHandler(Update, gate)]
