"""How the load benchmark reaches the assistant (tools/bench_transport.py): Rasa's replies
read as the gateway renders them, turns posted as the gateway would, the emulated
Telegram's flood control and live answers, and the relay that cuts PostgreSQL off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import t
from tools.bench_mix import Chat, Expect, Msg, Press, Say, Share, Unexpected
from tools.bench_stats import Turn
from tools.bench_transport import (
    CONTACT_PAYLOAD,
    RestChannel,
    TcpProxy,
    TelegramChannel,
    home_replica,
    rasa_messages,
)

SECRET = "s" * 64


def test_rasa_replies_read_as_the_gateway_renders_them() -> None:
    raw = [
        {"text": "Which of these?", "buttons": [{"title": "Motorist", "payload": "/a"}]},
        {"text": "That is not a phone number."},
        {"custom": {"type": "request_contact", "text": "Share your phone", "button": "📱"}},
        {"custom": {"type": "handoff", "reason": "x"}},
        {"text": "Booked."},
        {"custom": {"type": "document", "caption": "Calendar", "filename": "a.ics"}},
        {"text": "Pick one", "buttons": [{"title": "1", "payload": "/b"}, {"title": "2"}]},
    ]
    messages, payloads, menu = rasa_messages(raw)
    # Texts without a keyboard go with the next message, as the gateway sends them; a
    # button without a payload is not shown.
    assert messages == [
        Msg("Which of these?", ("Motorist",)),
        Msg("That is not a phone number.\n\nShare your phone", asks_contact=True),
        Msg("Booked.\n\nCalendar", document=True),
        Msg("Pick one", ("1",)),
    ]
    assert payloads == {"Motorist": "/a", "1": "/b"}
    assert menu == ["1"]  # the last message's buttons
    assert rasa_messages([{"text": "no buttons"}])[2] is None
    share = {"type": "request_contact", "text": "Yours?", "button": "📱"}
    share["buttons"] = [{"title": "Code", "payload": "/code"}, {"title": "Cancel", "payload": "/c"}]
    messages, payloads, menu = rasa_messages([{"custom": share}])
    assert messages == [Msg("Yours?", asks_contact=True)]
    assert (payloads, menu) == ({"Code": "/code", "Cancel": "/c"}, ["Code", "Cancel"])


def test_turns_travel_as_the_gateway_sends_them() -> None:
    rest = RestChannel(["http://127.0.0.1:1"], SECRET)
    chat = Chat(42, "registration", "sw")
    chat.state["payloads"] = {"Dereva / mwenye gari": "/choose{x}", "Ruka": "/skip"}
    chat.state["menu"] = ["Dereva / mwenye gari", "Ruka"]
    # A typed number or title under the latest buttons stands for that button.
    assert rest._message(chat, Say("1"))[0] == "/choose{x}"
    assert rest._message(chat, Say("ruka"))[0] == "/skip"
    assert rest._message(chat, Say("Amina Wekesa"))[0] == "Amina Wekesa"
    assert rest._message(chat, Press("Ruka"))[0] == "/skip"
    with pytest.raises(Unexpected):
        rest._message(chat, Press("✅ Nisajili"))
    message, metadata = rest._message(chat, Share("254710000001"))
    assert message == CONTACT_PAYLOAD
    assert metadata[protocol.Meta.USER_LANGUAGE] == "sw"
    assert protocol.claim_problem(metadata, "42", SECRET) is None  # a claim the actions trust
    assert metadata[protocol.Meta.VERIFIED_PHONE] == "+254710000001"


def test_one_replica_takes_every_chat() -> None:
    assert home_replica(["http://a"], "123") == "http://a"


async def post(tg_url: str, method: str, **params: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{tg_url}/bot123456:BENCH/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def test_the_channel_waits_for_the_whole_answer_of_its_turn() -> None:
    channel = TelegramChannel(stall=60)
    async with channel.emulator(token="123456:BENCH") as tg:
        chat = Chat(7001, "status", "en")
        turn = Turn("telegram", "status", "id", chat.chat_id, 0.0)
        expect = Expect(("status.ask_proof",), sizes={"status.ask_proof": 2})
        answer = asyncio.create_task(channel.send(chat, Say("21000102"), turn, expect))
        await asyncio.sleep(0)
        assert turn.update_id is not None
        assert turn.sent_at > 0
        proof = t("en", "status.ask_proof", id="******02")
        await post(tg.url, "sendMessage", chat_id=7001, text=proof)
        await asyncio.sleep(0)
        assert not answer.done()  # half of the answer
        await post(tg.url, "sendMessage", chat_id=7001, text=t("en", "status.code_alternative"))
        messages = await answer
        assert [m.text for m in messages] == [proof, t("en", "status.code_alternative")]
        assert [e.what for e in channel.events] == ["message", "message"]


async def test_a_flood_answers_every_send_429_with_the_seconds_left() -> None:
    channel = TelegramChannel()
    async with channel.emulator(token="123456:BENCH") as tg:
        tg.set_user(7002)
        tg.flood(5)
        status, body = await post(tg.url, "sendMessage", chat_id=7002, text="hello")
        assert status == 429
        assert body["parameters"]["retry_after"] == 5
        assert tg.flood_refusals == 1
        assert channel.events == []  # refused: nothing reached the chat


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await read(reader):
                writer.write(data)
                await writer.drain()
        except ConnectionResetError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def read(reader: asyncio.StreamReader) -> bytes:
    """What comes back; b"" once the relay closed or reset the connection."""
    try:
        return await reader.read(1024)
    except ConnectionResetError:
        return b""


async def roundtrip(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await read(reader)
    finally:
        writer.close()


async def test_the_relay_passes_bytes_and_cuts_the_database_off_until_restored() -> None:
    async with echo_server() as upstream:
        proxy = TcpProxy("127.0.0.1", upstream)
        port = await proxy.start()
        try:
            assert await roundtrip(port, b"SELECT 1") == b"SELECT 1"
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"open")
            assert await read(reader) == b"open"
            proxy.cut()
            assert await read(reader) == b""  # the open connection is dropped
            assert await roundtrip(port, b"again") == b""  # a new one is closed at once
            assert proxy.refused == 1
            writer.close()
            proxy.restore()
            assert await roundtrip(port, b"back") == b"back"
        finally:
            await proxy.close()
