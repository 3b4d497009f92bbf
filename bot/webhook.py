"""Webhook mode's server: Telegram's POST of an update is answered once its turn is done.

python-telegram-bot's own webhook server answers 200 as soon as an update is queued, so a
gateway killed mid-turn (SIGKILL, out of memory, its machine gone) loses every update it
had taken: Telegram counts them delivered. Here the 200 goes out after the turn, so what
got none is sent again by Telegram, to another replica or to this one restarted.

A POST is checked like PTB's server did (the ``X-Telegram-Bot-Api-Secret-Token`` header,
compared in constant time: 403 otherwise), its body bounded (413) and parsed (400 if it is
not an update); nothing of the application is touched before. The update is then claimed in
the :class:`~bot.handlers.dedupe.TurnLedger`: a copy of one already answered gets 200 and
nothing else, one still running under a live lease 409 with ``Retry-After`` (the seconds the
lease has left, which Telegram honours). A new one runs as PTB's own update fetcher runs it
— ``application.update_processor.process_update(update, application.process_update(update))``
in a task of ``Application.create_task`` — so the handlers, the error handler, the
concurrency slots and each chat's order all apply; it is marked done when the turn ends.

On SIGTERM (or SIGINT) new POSTs get 503, so Telegram sends them again elsewhere, and the
turns under way finish and get their 200 before the application stops.

Telegram holds a connection open for each update it waits on, and sends no more than the
webhook's ``max_connections`` at once; turns now hold theirs for their whole length, so it
is set to Telegram's maximum (:data:`MAX_CONNECTIONS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import signal
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ExtBot

from bot.handlers import dedupe
from ntsa_assistant.core.settings import Settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The path the server answers on, as PTB's server did with no url_path: WEBHOOK_URL is the
# public address (the TLS proxy or balancer forwards it here).
PATH = "/"
# An update is a few kilobytes (a message, the one it replies to, their entities); a body
# refused is refused for ever, since Telegram sends the same again, so the bound is generous.
MAX_BODY_BYTES = 1024 * 1024
# Telegram's largest max_connections. It sends at most this many updates at once and each
# is held for its turn's length: at 40 (its default), turns of 2 s (the deadline rush,
# waiting on Telegram's 30 messages a second) would cap the bot at 20 turns a second; at
# 100, at 50, more than the 30 messages a second Telegram lets one bot send.
MAX_CONNECTIONS = 100
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
# Where the application keeps its webhook server, in bot_data.
SERVER_KEY = "webhook_server"


class WebhookServer:
    """Takes Telegram's POSTs for ``application`` and answers each after its turn."""

    def __init__(
        self,
        application: AnyApplication,
        ledger: dedupe.TurnLedger,
        secret: str,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not secret:
            raise ValueError("the webhook server needs a secret token")
        self._application = application
        self._ledger = ledger
        self._secret = secret.encode()
        self._max_body = max_body_bytes
        self._turns: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post(PATH, self._post)
        return app

    async def start(self, listen: str, port: int) -> None:
        """Listens on ``listen:port``; the application must be running."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, listen, port).start()
        logger.info("webhook server listening on %s:%s", listen, port)

    @property
    def stopping(self) -> bool:
        """Refusing new updates while the turns under way finish (the health endpoint's
        /ready says not ready then, so a balancer sends no more)."""
        return self._stopping

    async def stop(self) -> None:
        """Refuses new updates (503), waits for the turns under way and their 200s, closes."""
        self._stopping = True
        if self._turns:
            logger.info("webhook server stopping: %s turn(s) to finish", len(self._turns))
        while self._turns:
            await asyncio.gather(*self._turns, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()  # waits for the handlers to write their answers
            self._runner = None

    async def _post(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._secret):
            logger.warning("webhook POST without the right secret token refused")
            return web.Response(status=403, text="Forbidden")
        if self._stopping:
            return web.Response(status=503, text="Stopping: send it again")
        update = self._parse(await request.read())  # over the bound: 413
        if update is None:
            return web.Response(status=400, text="Not an update")
        update_id = update.update_id
        claim = await self._ledger.claim(update_id)
        if claim.arrival is dedupe.Arrival.DONE:
            logger.info("update %s answered before: acknowledged again", update_id)
            return web.Response(status=200)
        if claim.arrival is dedupe.Arrival.IN_PROGRESS:
            wait = max(1, math.ceil(claim.retry_after))
            logger.info("update %s is being answered: Telegram asked back in %s s", update_id, wait)
            return web.Response(status=409, text="In progress", headers={"Retry-After": str(wait)})
        # No await from here to the task's creation: a stop either came before (the claim
        # is given back) or waits for this turn.
        if not self._taking():
            await self._ledger.release(update_id)
            return web.Response(status=503, text="Stopping: send it again")
        turn = self._application.create_task(
            self._turn(update), update=update, name=f"webhook:update:{update_id}"
        )
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        # Shielded: a connection Telegram gave up on does not cancel the turn. A turn that
        # raised has been through the error handler (create_task's): answered all the same.
        with contextlib.suppress(Exception):
            await asyncio.shield(turn)
        return web.Response(status=200)

    def _taking(self) -> bool:
        return not self._stopping and self._application.running

    def _parse(self, body: bytes) -> Update | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return None
        try:
            update = Update.de_json(data, self._application.bot)
        except Exception:  # PTB's own server answers 400 to whatever it cannot read
            logger.warning("webhook body not readable as an update (id %s)", data["update_id"])
            return None
        bot = self._application.bot
        if isinstance(bot, ExtBot):
            bot.insert_callback_data(update)  # arbitrary callback data, as PTB's server does
        return update

    async def _turn(self, update: Update) -> None:
        """The update through the application's processor, as PTB's fetcher runs it."""
        update_id = update.update_id
        dedupe.claimed_at_arrival(update_id)
        application = self._application
        keeper = asyncio.create_task(self._ledger.keep(update_id))
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except asyncio.CancelledError:
            keeper.cancel()
            await self._ledger.release(update_id)  # never answered: Telegram sends it again
            raise
        except Exception:
            # A bug outside the handlers: create_task hands it to the error handler, and the
            # turn is over like any other; run again, it would only fail again.
            keeper.cancel()
            await self._ledger.done(update_id)
            raise
        keeper.cancel()  # before the mark, so a renewal never finds it gone
        await self._ledger.done(update_id)


async def serve(
    application: AnyApplication,
    settings: Settings,
    ledger: dedupe.TurnLedger,
    allowed_updates: Sequence[str],
    stop: asyncio.Event,
) -> None:
    """Runs the gateway in webhook mode until ``stop`` is set, in the order PTB's
    ``run_webhook`` does: initialize, post_init, start, listen and setWebhook; then stop
    taking updates and finish the turns under way, stop, post_stop, shutdown, post_shutdown.
    A stop during the start (post_init waits for Rasa) ends the start at once."""
    assert settings.webhook_url  # check_security refused a start without them
    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    server = WebhookServer(application, ledger, secret)
    application.bot_data[SERVER_KEY] = server  # the health endpoint reads it (bot/app.py)

    async def start() -> None:
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        await server.start(settings.webhook_listen, settings.webhook_port)
        await application.bot.set_webhook(
            url=settings.webhook_url,
            allowed_updates=allowed_updates,
            max_connections=MAX_CONNECTIONS,
            secret_token=secret,
        )
        logger.info("webhook set: Telegram sends updates to WEBHOOK_URL")

    starting = asyncio.create_task(start())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            logger.info("stopped while starting")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        starting.result()  # a failed start (e.g. Rasa never ready) raises here
        await stopping
    finally:
        stopping.cancel()
        await server.stop()
        if application.running:
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


def run(
    application: AnyApplication,
    settings: Settings,
    ledger: dedupe.TurnLedger,
    allowed_updates: Sequence[str],
) -> None:
    """Runs :func:`serve` until SIGINT, SIGTERM or SIGABRT (PTB's stop signals)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        await serve(application, settings, ledger, allowed_updates, stop)

    asyncio.run(main())
