"""Logging set-up for every process: one line per record, personal data masked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from ntsa_assistant.core.masking import scrub


class MaskingJsonFormatter(logging.Formatter):
    """Structured JSON lines with ID numbers, phones and KRA PINs masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in ("chat", "event", "duration_ms"):
            if hasattr(record, key):
                entry[key] = scrub(str(getattr(record, key)))
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Called once, by an entry point."""
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
