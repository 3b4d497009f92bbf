"""Fake remote services at the transport boundary: each is an aiohttp application that a
test starts with pytest-aiohttp's ``aiohttp_server`` fixture (or, where a module-scoped
server is needed, with :class:`aiohttp.test_utils.TestServer`, the class that fixture
wraps), then points the code under test at the server's URL.

- :class:`FakeSmsGateway`: Africa's Talking's ``POST /version1/messaging``.
- :class:`FakeStatusApi`: the remote status API's ``GET /v1/people/{id_number}/status``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from aiohttp import web

SMS_PATH = "/version1/messaging"
STATUS_PATH = "/v1/people/{id_number}/status"

_CODE = re.compile(r"\b(\d{6})\b")


class FakeSmsGateway:
    """Africa's Talking–compatible: records each form it is posted and answers "Success"."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(SMS_PATH, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.messages.append(
            {**{k: str(v) for k, v in form.items()}, "apiKey": request.headers.get("apiKey", "")}
        )
        recipient = {"statusCode": 101, "number": form.get("to"), "status": "Success"}
        return web.json_response(
            {"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [recipient]}}
        )

    def codes_to(self, phone: str) -> list[str]:
        """The six-digit codes texted to ``phone``, oldest first."""
        codes = []
        for message in self.messages:
            if message["to"] == phone:
                match = _CODE.search(message["message"])
                assert match is not None, f"no six-digit code in {message['message']!r}"
                codes.append(match.group(1))
        return codes


class FakeStatusApi:
    """The remote status API, scripted per test.

    ``people`` maps an ID number to the JSON body answered for it (any other ID: 404).
    ``failures_before_success`` answers that many requests with ``failure_status`` first;
    ``delay`` holds every answer back (a slow API).
    """

    def __init__(self, people: Mapping[str, object]) -> None:
        self.people: dict[str, object] = dict(people)
        self.calls: list[str] = []
        self.failures_before_success = 0
        self.failure_status = 503
        self.delay = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(STATUS_PATH, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        id_number = request.match_info["id_number"]
        self.calls.append(id_number)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures_before_success > 0:
            self.failures_before_success -= 1
            return web.json_response({"error": "boom"}, status=self.failure_status)
        if id_number not in self.people:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(self.people[id_number])
