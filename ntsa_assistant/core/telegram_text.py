"""Text lengths as Telegram counts them (UTF-16 code units: an emoji is two), for every
place that must fit a message, a caption or a topic name."""

from __future__ import annotations


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending in "…" when cut."""
    if utf16_len(text) <= limit:
        return text
    cut = text[:limit]  # a character is one or two units
    while cut and utf16_len(cut) > limit - 1:
        cut = cut[:-1]
    return cut + "…" if limit > 0 else ""
