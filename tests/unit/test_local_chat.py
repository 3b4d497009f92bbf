"""The terminal chat has no agents' desk: a handoff request is answered with where human
help is, in the person's language, and never shown raw."""

from __future__ import annotations

import io

from bot.conversation import Reply
from bot.local_chat import show
from ntsa_assistant import protocol
from ntsa_assistant.handoff import texts


def test_a_handoff_request_says_where_human_help_is() -> None:
    request = protocol.HandoffRequest(
        "sw",
        protocol.HandoffReason.ASKED,
        (protocol.TranscriptLine("person", "nataka kuongea na mtu"),),
    )
    out = io.StringIO()
    buttons = show([Reply(custom=protocol.handoff_request(request))], out)
    assert buttons == []
    assert out.getvalue() == "bot> " + texts.no_desk("sw") + "\n"
    assert "transcript" not in out.getvalue()


def test_the_choices_beside_sharing_a_phone_are_numbered_buttons() -> None:
    code = protocol.Button("✉️ Send me a code by SMS", protocol.Intent.STATUS_SEND_CODE)
    cancel = protocol.Button("✖ Cancel", protocol.Intent.STATUS_CANCEL)
    ask = protocol.request_contact("Is this ID yours?", "📱 Share", (code, cancel))
    out = io.StringIO()
    buttons = show([Reply(custom=ask)], out)
    assert [(b.title, b.payload) for b in buttons] == [
        (code.title, "/status_send_code"),
        (cancel.title, "/status_cancel"),
    ]
    assert out.getvalue() == (
        "bot> Is this ID yours?\n     [1] ✉️ Send me a code by SMS\n     [2] ✖ Cancel\n"
    )
