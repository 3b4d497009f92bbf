"""Fake remote services at the transport boundary: each is an aiohttp application that a
test starts with pytest-aiohttp's ``aiohttp_server`` fixture (or, where a module-scoped
server is needed, with :class:`aiohttp.test_utils.TestServer`, the class that fixture
wraps), then points the code under test at the server's URL.

- :class:`FakeSmsGateway`: Africa's Talking's ``POST /version1/messaging``.
- :class:`FakeStatusApi`: the remote status API's ``GET /v1/people/{id_number}/status``.

And :class:`FakeSms`, an in-process sender for the gateway's outbox job in database tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from aiohttp import web

from ntsa_assistant.status.sms import SmsUnavailable

# The clock of the status checks end to end: five days before the pending-applications
# deadline (tests/e2e/conftest.py, status_stack).
STATUS_NOW = "2023-12-10T10:00:00+03:00"
SMS_PATH = "/version1/messaging"
STATUS_PATH = "/v1/people/{id_number}/status"

_CODE = re.compile(r"\b(\d{6})\b")


class FakeSmsGateway:
    """Africa's Talking–compatible: records each form it is posted and answers "Success"."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.failing = False  # answer HTTP 500, like a gateway that is down
        self.refused: list[dict[str, str]] = []  # what was posted while failing
        self._arrived = asyncio.Condition()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(SMS_PATH, self.handle)
        return app

    async def wait_for_codes(self, phone: str, count: int, timeout: float = 20.0) -> list[str]:  # noqa: ASYNC109 - a deadline
        """The codes texted to ``phone``, once there are ``count`` (they are sent off the
        reply path, so they may arrive after the reply)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.codes_to(phone)) >= count)
        return self.codes_to(phone)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        posted = {
            **{k: str(v) for k, v in form.items()},
            "apiKey": request.headers.get("apiKey", ""),
        }
        (self.refused if self.failing else self.messages).append(posted)
        async with self._arrived:
            self._arrived.notify_all()
        if self.failing:
            return web.json_response({"error": "down"}, status=500)
        recipient = {"statusCode": 101, "number": form.get("to"), "status": "Success"}
        return web.json_response(
            {"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [recipient]}}
        )

    async def wait_for_attempts(self, phone: str, count: int, timeout: float = 20.0) -> None:  # noqa: ASYNC109 - a deadline
        """Until ``count`` messages to ``phone`` were posted while failing."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(
                lambda: sum(m["to"] == phone for m in self.refused) >= count
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


class FakeSms:
    """An in-process :class:`~ntsa_assistant.status.sms.SmsSender`: records each message;
    ``down`` makes it refuse like a failing gateway."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    async def send(self, phone: str, message: str) -> None:
        if self.down:
            raise SmsUnavailable("down")
        self.sent.append((phone, message))

    def last_code(self) -> str:
        match = _CODE.search(self.sent[-1][1])
        assert match is not None, f"no six-digit code in {self.sent[-1][1]!r}"
        return match.group(1)
