"""Channel-neutral replies → Telegram messages.

Rasa buttons become an inline keyboard whose callback data is an opaque, unguessable
token; the payload behind it is kept in the chat's own state (:class:`ChatButtons`, saved
by the application's persistence), so only buttons the bot made can carry a payload, a
token is worth nothing in another chat, one chat's menus never push out another chat's
buttons, and buttons still work after a restart. Custom replies:
``{"type": "request_contact", "text", "button", "buttons"?}`` (the choices beside sharing,
as keyboard buttons), ``{"type": "remove_keyboard", "text"}``,
``{"type": "document", "filename", "mime_type", "content_base64", "caption"}``.

One turn's answer is as few messages as it can be: texts that come one after another
(a "that is not a valid number" and the question asked again; two answers to two
questions in one message) are sent as one message, paragraphs apart, with the keyboard of
the last. Each message spends one of the ~30 a second Telegram allows the whole bot, the
budget every waiting answer shares at the deadline rush, and one notification is kinder
than two. Texts longer than one Telegram message are sent in parts, broken between lines;
a keyboard goes with the last part.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.conversation import Button, Reply
from ntsa_assistant.core.telegram_text import utf16_len
from ntsa_assistant.protocol import Custom

logger = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
TELEGRAM_BUTTON_TITLE_LIMIT = 64
# Buttons a chat keeps (oldest forgotten first): a few dozen menus, bounded per chat.
BUTTONS_PER_CHAT = 200
_BUTTONS_KEY = "buttons"
_TOKEN_PREFIX = "b:"
_MENU_KEY = "menu"
MENU_SECONDS = 15 * 60

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
# Between the texts of one turn sent as one message.
PARAGRAPH = "\n\n"


class ChatButtons:
    """The payloads behind one chat's inline buttons, in that chat's own state.

    Kept as plain JSON values (an object of ``token: [title, payload]``, oldest first, and
    the menu as ``[time, [tokens]]``), so a pickle file and Redis's JSON hold them alike.
    """

    def __init__(self, chat_data: MutableMapping[str, Any], capacity: int = BUTTONS_PER_CHAT):
        kept = chat_data.get(_BUTTONS_KEY)
        if not isinstance(kept, dict):
            kept = chat_data[_BUTTONS_KEY] = {}
        self._kept: dict[str, Any] = kept
        self._capacity = capacity
        self._chat_data = chat_data

    def keep(self, button: Button) -> str:
        """A new token (callback data, 18 bytes) that stands for ``button`` in this chat."""
        token = _TOKEN_PREFIX + secrets.token_urlsafe(12)
        self._kept[token] = [button.title, button.payload]
        while len(self._kept) > self._capacity:
            del self._kept[next(iter(self._kept))]
        return token

    def find(self, data: object) -> Button | None:
        """The button behind ``data`` if this chat was shown it; None for unknown data."""
        if not isinstance(data, str) or data not in self._kept:
            return None
        pair = self._kept[data] = self._kept.pop(data)  # a button in use is forgotten last
        return _button(pair)

    def remember_menu(self, tokens: list[str]) -> None:
        """The buttons of the chat's latest message: a typed answer may stand for one."""
        self._chat_data[_MENU_KEY] = [time.time(), tokens]

    def forget_menu(self) -> None:
        self._chat_data.pop(_MENU_KEY, None)

    def menu(self) -> list[Button]:
        """The latest message's buttons, while it is the latest and not older than
        :data:`MENU_SECONDS` (a number typed an hour later means something else)."""
        shown = self._chat_data.get(_MENU_KEY)
        if not isinstance(shown, list | tuple) or len(shown) != 2:
            return []
        shown_at, tokens = shown
        if not isinstance(shown_at, int | float) or time.time() - shown_at > MENU_SECONDS:
            return []
        found = [_button(self._kept.get(token)) for token in tokens]
        return [button for button in found if button is not None]


def _button(pair: object) -> Button | None:
    """A kept ``[title, payload]`` (a tuple in state written before JSON) as a Button."""
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return Button(str(pair[0]), str(pair[1]))
    return None


def _fitting_prefix(line: str, limit: int) -> int:
    """How many characters of ``line`` fit in ``limit`` UTF-16 units."""
    size = 0
    for index, char in enumerate(line):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > limit:
            return index
    return len(line)


def _cut_line(line: str, limit: int) -> list[str]:
    """A line longer than ``limit``: cut after the last space that fits, else at the limit."""
    pieces: list[str] = []
    while utf16_len(line) > limit:
        end = _fitting_prefix(line, limit)
        space = line.rfind(" ", 0, end + 1)
        if space > 0:
            pieces.append(line[:space])
            line = line[space + 1 :]
        else:
            pieces.append(line[:end])
            line = line[end:]
    pieces.append(line)
    return pieces


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """``text`` in parts of at most ``limit`` (Telegram's units), broken between lines.

    Whole lines are packed greedily; only a single line longer than a message is cut
    (after a word when it can be). Blank lines where a part ends are dropped, nothing else.
    """
    if utf16_len(text) <= limit:
        return [text]
    groups: list[list[str]] = [[]]
    size = 0
    for line in (piece for raw in text.split("\n") for piece in _cut_line(raw, limit)):
        length = utf16_len(line)
        if groups[-1] and size + 1 + length > limit:
            groups.append([])
        size = length if not groups[-1] else size + 1 + length
        groups[-1].append(line)
    parts = ("\n".join(lines).strip("\n") for lines in groups)
    return [part for part in parts if part.strip()]


def inline_keyboard(reply: Reply, buttons: ChatButtons) -> InlineKeyboardMarkup | None:
    """The reply's buttons (remembered as the chat's latest menu); None without any."""
    if not reply.buttons:
        buttons.forget_menu()
        return None
    tokens = [buttons.keep(b) for b in reply.buttons]
    buttons.remember_menu(tokens)
    rows = [
        [InlineKeyboardButton(b.title[:TELEGRAM_BUTTON_TITLE_LIMIT], callback_data=token)]
        for b, token in zip(reply.buttons, tokens, strict=True)
    ]
    return InlineKeyboardMarkup(rows)


async def send_text(bot: Bot, chat_id: int, text: str, markup: Markup | None = None) -> None:
    """``text`` as one message, or in parts when it is too long; ``markup`` on the last."""
    parts = [part for part in split_text(text) if part.strip()] or ["…"]
    for number, part in enumerate(parts, start=1):
        await bot.send_message(chat_id, part, reply_markup=markup if number == len(parts) else None)


class Carries(StrEnum):
    """What a planned message carries beside its text."""

    NOTHING = "nothing"
    BUTTONS = "buttons"  # the reply's inline buttons
    CONTACT = "contact"  # the "share my phone number" keyboard (and its choices)
    REMOVE = "remove"  # the reply keyboard taken away
    DOCUMENT = "document"  # the reply's file; the text is its caption


@dataclass(frozen=True)
class Planned:
    """One Telegram message of a turn's answer: its text (a document's caption) and the
    reply whose keyboard or file it carries."""

    text: str
    carries: Carries = Carries.NOTHING
    reply: Reply | None = None


def plan_messages(replies: Sequence[Reply]) -> list[Planned]:
    """One turn's replies as the fewest messages, in order (the rule in the module's text).

    Texts without a keyboard wait and go out with the next text, above it (with that text's
    buttons, or a "share my phone number" keyboard), or as a document's caption while the
    caption fits; whatever still waits at the end is one message. An unknown custom type
    is logged and left out, never shown raw. The gateway sends this; ``make bench`` reads
    Rasa's direct answers through it, to know how many messages a whole answer has.
    """
    planned: list[Planned] = []
    waiting: list[str] = []

    def joined(text: str) -> str:
        together = PARAGRAPH.join([*waiting, text] if text else waiting)
        waiting.clear()
        return together or "…"

    for reply in replies:
        kind = reply.custom.get("type")
        if kind == Custom.REQUEST_CONTACT:
            planned.append(
                Planned(joined(str(reply.custom.get("text", ""))), Carries.CONTACT, reply)
            )
        elif kind == Custom.REMOVE_KEYBOARD:
            planned.append(
                Planned(joined(str(reply.custom.get("text", ""))), Carries.REMOVE, reply)
            )
        elif kind == Custom.DOCUMENT:
            caption = str(reply.custom.get("caption") or "")
            if waiting and utf16_len(PARAGRAPH.join([*waiting, caption])) > TELEGRAM_CAPTION_LIMIT:
                planned.append(Planned(joined("")))  # too long to go as its caption
            planned.append(
                Planned(joined(caption) if waiting else caption, Carries.DOCUMENT, reply)
            )
        elif kind:
            logger.error("unknown custom reply type %r: not sent", kind)
        if reply.buttons:
            planned.append(Planned(joined(reply.text or ""), Carries.BUTTONS, reply))
        elif reply.text:
            waiting.append(reply.text)
    if waiting:
        planned.append(Planned(joined("")))
    return planned


async def send_replies(bot: Bot, chat_id: int, replies: list[Reply], buttons: ChatButtons) -> None:
    """Sends one turn's replies as :func:`plan_messages` groups them. The chat's menu is
    the last message's buttons, or none."""
    for message in plan_messages(replies):
        reply = message.reply
        markup: Markup | None = None
        if message.carries is not Carries.BUTTONS:
            buttons.forget_menu()  # a newer message than the last menu
        if reply is not None and message.carries is Carries.DOCUMENT:
            await _send_document(bot, chat_id, reply, message.text)
            continue
        if reply is not None and message.carries is Carries.BUTTONS:
            markup = inline_keyboard(reply, buttons)
        elif reply is not None and message.carries is Carries.CONTACT:
            markup = contact_keyboard(reply.custom, buttons)
        elif message.carries is Carries.REMOVE:
            markup = ReplyKeyboardRemove()
        await send_text(bot, chat_id, message.text, markup)


async def _send_document(bot: Bot, chat_id: int, reply: Reply, caption: str) -> None:
    """A caption too long for a document follows it as text."""
    content = base64.b64decode(str(reply.custom.get("content_base64", "")))
    document = InputFile(content, filename=str(reply.custom.get("filename", "file")))
    fits = utf16_len(caption) <= TELEGRAM_CAPTION_LIMIT
    await bot.send_document(chat_id, document, caption=caption if caption and fits else None)
    if caption and not fits:
        await send_text(bot, chat_id, caption)


def contact_choices(custom: dict[str, Any]) -> tuple[Button, ...]:
    """The choices a "share my phone number" reply offers beside sharing."""
    return tuple(
        Button(str(item["title"]), str(item["payload"]))
        for item in custom.get("buttons") or ()
        if isinstance(item, dict) and item.get("title") and item.get("payload")
    )


def contact_keyboard(custom: dict[str, Any], buttons: ChatButtons) -> ReplyKeyboardMarkup:
    """The "share my phone number" button, and the reply's other choices below it.

    A choice tapped on this keyboard comes back as its title in words: the choices are
    remembered as the chat's menu, so that title (or its number) sends the choice's payload,
    as an inline button would.
    """
    rows = [[KeyboardButton(str(custom.get("button", "📱")), request_contact=True)]]
    choices = contact_choices(custom)
    if choices:
        buttons.remember_menu([buttons.keep(choice) for choice in choices])
        rows += [[KeyboardButton(choice.title[:TELEGRAM_BUTTON_TITLE_LIMIT])] for choice in choices]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
