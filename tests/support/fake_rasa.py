"""Fake Rasa servers on 127.0.0.1.

:class:`FakeRasaParse` is for the FAQ page's search: only ``POST /model/parse``. Start its
:meth:`FakeRasaParse.app` with pytest-aiohttp's ``aiohttp_server`` and point ``RASA_URL``
at it. It answers each text it knows with the intent it was given, anything else with
Rasa's fallback at a low confidence, and refuses a request without its token, as Rasa
started with ``--auth-token`` does.

:class:`FakeRasaReplica` is one of several Rasa replicas behind the gateway's client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

UNSURE = ("nlu_fallback", 0.3)


class FakeRasaParse:
    def __init__(self, token: str, intents: Mapping[str, tuple[str, float]]) -> None:
        self.token = token
        self.intents = dict(intents)
        self.texts: list[str] = []  # what it was asked to parse, in order
        self.hang = False  # True: take each request and never answer (a stuck Rasa)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/model/parse", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "code": 401}, status=401)
        text = str((await request.json()).get("text", ""))
        self.texts.append(text)
        if self.hang:
            await asyncio.Event().wait()
        name, confidence = self.intents.get(text, UNSURE)
        ranking = [{"name": name, "confidence": confidence}]
        if name != "greet":
            ranking.append({"name": "greet", "confidence": round(1 - confidence, 3)})
        return web.json_response(
            {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
        )


class FakeRasaReplica:
    """A fake Rasa replica for the gateway's client: the health channel's
    ``/webhooks/health/ready``, the REST channel's ``/webhooks/rest/webhook`` and
    ``/model/parse``.

    It answers each turn with one text naming itself and the message
    (``"<name>: <message>"``) and records ``(sender, message)`` in :attr:`turns`, so a test
    sees which replica handled which chat. Switches: :attr:`ready` (ready, or 503 with
    :attr:`not_ready_reason`), :attr:`hang` (take a turn and never answer: a slow Rasa),
    :attr:`die` (take a turn and drop the connection without an answer: a replica killed
    mid-request; the turn
    is recorded in :attr:`dropped`, not :attr:`turns`, as Rasa saves nothing of it),
    :attr:`error_status` (answer every turn with that HTTP error, recorded in
    :attr:`refused`).
    """

    def __init__(self, name: str, token: str | None = None) -> None:
        self.name = name
        self.token = token
        self.ready = True
        self.not_ready_reason = "no model loaded"
        self.hang = False
        self.die = False
        self.error_status: int | None = None
        self.refused: list[tuple[str, str]] = []
        self.turns: list[tuple[str, str]] = []
        self.dropped: list[tuple[str, str]] = []
        self.parsed: list[str] = []
        self.ready_asked = 0
        self._ready_seen = asyncio.Event()  # set, and replaced, on each readiness look
        self.received = asyncio.Event()  # set on each turn taken (answered or not)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/webhooks/health/ready", self.readiness)
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_post("/model/parse", self.parse)
        return app

    async def asked_ready(self, times: int) -> None:
        """Returns once its readiness has been asked ``times`` times in all."""
        while self.ready_asked < times:
            await self._ready_seen.wait()

    def senders(self) -> set[str]:
        return {sender for sender, _ in self.turns}

    def _refused(self, request: web.Request) -> web.Response | None:
        if self.token is not None and request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "code": 401}, status=401)
        return None

    async def readiness(self, _request: web.Request) -> web.Response:
        """Like nlu/ntsa_rasa/health.py: no token asked, a reason when not ready."""
        self.ready_asked += 1
        seen, self._ready_seen = self._ready_seen, asyncio.Event()
        seen.set()
        if self.ready:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": self.not_ready_reason}, status=503)

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        turn = (str(body["sender"]), str(body["message"]))
        self.received.set()
        if self.die:
            self.dropped.append(turn)
            assert request.transport is not None
            request.transport.abort()  # the process is gone: no answer, the socket reset
            await asyncio.Event().wait()
        if self.hang:
            await asyncio.Event().wait()
        if self.error_status is not None:
            self.refused.append(turn)
            return web.json_response({"error": "failed"}, status=self.error_status)
        self.turns.append(turn)
        return web.json_response([{"recipient_id": turn[0], "text": f"{self.name}: {turn[1]}"}])

    async def parse(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        text = str((await request.json()).get("text", ""))
        self.parsed.append(text)
        ranking = [{"name": f"{self.name}_intent", "confidence": 0.9}]
        return web.json_response({"text": text, "intent": ranking[0], "intent_ranking": ranking})


class ReplicaServer:
    """Serves a :class:`FakeRasaReplica` on 127.0.0.1 at a fixed port, so that it can be
    stopped (its port then refuses connections, like a dead replica's) and started again
    at the same address."""

    def __init__(self, replica: FakeRasaReplica, port: int) -> None:
        self.replica = replica
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # handler_cancellation: a hanging or dying handler ends when its client goes away.
        runner = web.AppRunner(
            self.replica.app(), handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
