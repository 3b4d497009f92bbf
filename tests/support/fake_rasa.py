"""A fake Rasa server for the FAQ page's search: only ``POST /model/parse``.

Start its :meth:`FakeRasaParse.app` with pytest-aiohttp's ``aiohttp_server`` and point
``RASA_URL`` at it. It answers each text it knows with the intent it was given, anything
else with Rasa's fallback at a low confidence, and refuses a request without its token,
as Rasa started with ``--auth-token`` does.
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
