"""A gateway alone keeps its chats' state in one file (bot/chat_store.py ChatStateFile),
written once per round of changes however many chats changed, and read back whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from bot.chat_store import ChatStateFile

CHATS = range(5_000_001, 5_000_201)


def _store(path: Path) -> ChatStateFile:
    store = ChatStateFile(path, update_interval=5)
    store.set_bot(ExtBot("123456:TEST"))
    return store


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_round_of_200_changed_chats_is_one_write_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gateway-state.pickle"
    store = _store(path)
    dump = store._dump_singlefile
    writes: list[int] = []

    def counted() -> None:
        writes.append(1)
        dump()

    monkeypatch.setattr(store, "_dump_singlefile", counted)
    await store.get_chat_data()  # PTB reads the (missing) file at start
    # How PTB hands a round over (Application.update_persistence): all at once.
    await asyncio.gather(*(store.update_chat_data(c, {"lang": "sw", "n": c}) for c in CHATS))
    await _settle()
    assert writes == [1]  # once, not once per chat

    again = _store(path)
    kept = await again.get_chat_data()
    assert kept == {c: {"lang": "sw", "n": c} for c in CHATS}


async def test_later_rounds_and_a_dropped_chat_are_written_too(tmp_path: Path) -> None:
    path = tmp_path / "gateway-state.pickle"
    store = _store(path)
    await store.get_chat_data()
    await store.update_chat_data(1, {"lang": "en"})
    await _settle()
    await store.update_chat_data(2, {"lang": "sw"})
    await store.drop_chat_data(1)
    await _settle()
    assert await _store(path).get_chat_data() == {2: {"lang": "sw"}}
