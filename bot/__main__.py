"""``python -m bot``: the Telegram gateway, or a terminal chat when no token is set."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import sys

from bot import app, local_chat
from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import get_settings

logger = logging.getLogger("bot")


def _stdin_can_chat() -> bool:
    """A terminal, a pipe or a file can feed the local chat; /dev/null (a daemon) cannot."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return sys.stdin.isatty() or stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.telegram_bot_token is None:
        if not _stdin_can_chat():
            logger.warning(
                "TELEGRAM_BOT_TOKEN is not set and there is no terminal: idle. Set the token, "
                "or chat locally with 'make run' (or 'docker compose run --rm bot')."
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return
        logger.info("TELEGRAM_BOT_TOKEN is not set: starting the local terminal chat")
        asyncio.run(local_chat.chat(settings))
        return
    app.run(settings)


if __name__ == "__main__":
    main()
