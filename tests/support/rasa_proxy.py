"""A recording proxy in front of one real Rasa replica, on 127.0.0.1.

The gateway is pointed at the proxies instead of the replicas, so a test sees which chats'
turns reached which replica (Rasa itself does not say, and with a shared tracker store
every replica shows every conversation). Every request is passed on unchanged. When the
replica behind it is gone (refused, or dropped the connection), the proxy drops the
gateway's connection without an answer too, which is what the gateway sees of a replica
that dies while it handles a turn.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

TURN_PATH = "/webhooks/rest/webhook"
# Hop-by-hop and length headers are the proxy's own business on each side.
_SKIPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class RecordingProxy:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.answered: list[str] = []  # the sender of each turn the replica answered
        self.dropped: list[str] = []  # the sender of each turn the replica never answered
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def turns_of(self, sender: str) -> int:
        return self.answered.count(sender)

    async def start(self) -> None:
        # Longer than the gateway waits: the proxy never gives up before the gateway does.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        body = await request.read()
        sender = _sender(body) if request.path == TURN_PATH else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED_HEADERS}
        try:
            async with self._http.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=body or None,  # a GET goes on without a body, as it came
                headers=headers,
            ) as upstream:
                payload = await upstream.read()
                status, content_type = upstream.status, upstream.content_type
        except aiohttp.ClientConnectionError:
            if sender is not None:
                self.dropped.append(sender)
            assert request.transport is not None
            request.transport.abort()  # no answer: the gateway sees the replica vanish
            await asyncio.Event().wait()  # cancelled now that the connection is gone
            raise  # unreachable
        if sender is not None and status == 200:
            self.answered.append(sender)
        return web.Response(body=payload, status=status, content_type=content_type)


def _sender(body: bytes) -> str | None:
    try:
        return str(json.loads(body)["sender"])
    except (ValueError, KeyError, TypeError):
        return None
