"""A chat in the terminal when no Telegram token is set.

It goes through the same :class:`~bot.conversation.Conversation` as Telegram: the same
neutralising of user text, the same Rasa client, the same apologies. Buttons are listed
with numbers; typing the number presses the button.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from typing import TextIO

from bot.conversation import Button, Conversation, Reply
from bot.rasa_client import RasaClient
from bot.render import contact_choices
from bot.sms_outbox import background as sms_outbox
from ntsa_assistant.core.i18n import normalise_language, t
from ntsa_assistant.core.language import warm_up
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.handoff import texts
from ntsa_assistant.protocol import Custom, Meta, parse_handoff_request


def show(replies: list[Reply], out: TextIO = sys.stdout) -> list[Button]:
    """Prints the replies; returns the buttons that a number may now press."""
    buttons: list[Button] = []
    for reply in replies:
        handoff = parse_handoff_request(reply.custom)
        if handoff is not None:  # no agents' desk in the terminal: where human help is
            out.write("bot> " + texts.no_desk(normalise_language(handoff.lang)) + "\n")
        elif reply.custom.get("type") == Custom.DOCUMENT:
            out.write(f"bot> [file: {reply.custom.get('filename')}]\n")
        elif reply.custom.get("text"):
            out.write(f"bot> {reply.custom['text']}\n")
        if reply.text:
            out.write("bot> " + reply.text.replace("\n", "\n     ") + "\n")
        offered = reply.buttons
        if reply.custom.get("type") == Custom.REQUEST_CONTACT:  # the choices beside sharing
            offered = contact_choices(reply.custom)
        for button in offered:
            buttons.append(button)
            out.write(f"     [{len(buttons)}] {button.title}\n")
    out.flush()
    return buttons


async def chat(settings: Settings) -> None:
    rasa = RasaClient(settings.rasa_bases, settings.rasa_timeout_seconds)
    await rasa.start()
    warm_up()
    conversation = Conversation(rasa)
    sender = f"local-{uuid.uuid4().hex[:8]}"
    metadata = {Meta.CHANNEL: "local"}
    print(t("en", "common.start"))
    print("(Type a number to press a button; Ctrl-D or /quit to leave.)")
    buttons: list[Button] = []
    loop = asyncio.get_running_loop()
    codes = contextlib.AsyncExitStack()  # one-time codes, sent (or logged) from here
    await codes.enter_async_context(sms_outbox(settings))
    try:
        while True:
            line = await loop.run_in_executor(None, _read_line)
            if line is None or line.strip() == "/quit":
                break
            line = line.strip()
            if not line:
                continue
            if line.isdigit() and 0 < int(line) <= len(buttons):
                replies = await conversation.trusted_payload(
                    sender, buttons[int(line) - 1].payload, metadata
                )
            else:
                replies = await conversation.user_text(sender, line, metadata)
            buttons = show(replies)
    finally:
        await rasa.close()
        await codes.aclose()


def _read_line() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None
