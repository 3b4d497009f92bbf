"""What the gateway tells Rasa about a turn: only what it knows for sure (DESIGN.md, "One
message, end to end", step 3), never anything the user typed."""

from __future__ import annotations

from typing import Any

from telegram import Update

from ntsa_assistant import protocol


def base_metadata(update: Update) -> dict[str, Any]:
    user = update.effective_user
    return {
        protocol.Meta.CHANNEL: "telegram",
        protocol.Meta.USER_LANGUAGE: user.language_code if user else None,
        protocol.Meta.TURN_ID: update.update_id,
    }
