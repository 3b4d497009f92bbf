"""The gateway's factory: one place that builds and wires the Telegram application."""

from __future__ import annotations

import logging
import re
import sys

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    ContextTypes,
    TypeHandler,
)

from bot import (
    announcements,
    desk,
    handlers,
    reminders,
    retention,
    shared_state,
    sms_outbox,
    webhook,
)
from bot.context import GatewayContext, GatewayState, chat_state
from bot.conversation import Conversation
from bot.handlers import dedupe, throttle
from bot.health import Health
from bot.rasa_client import RasaClient, RasaNotReady
from bot.rate_limiter import rate_limiter
from ntsa_assistant.core.language import warm_up
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import (
    TURN_STATEMENT_TIMEOUT_SECONDS,
    create_engine,
    create_session_factory,
)
from ntsa_assistant.storage.schema import schema_problem

logger = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("start", "Start / Anza"),
    BotCommand("faq", "Topics / Mada"),
    BotCommand("language", "English / Kiswahili"),
    BotCommand("agent", "Talk to a person / Ongea na mtu"),
    BotCommand("subscribe", "Deadline reminders / Vikumbusho vya tarehe"),
    BotCommand("unsubscribe", "Stop reminders / Sitisha vikumbusho"),
    BotCommand("help", "Help / Msaada"),
]

# Telegram's rule for a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

# The only updates the gateway asks Telegram for, in polling and webhook mode alike: an
# edited message is not a new turn (and would replay a turn), so it is never asked for.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


class ConfigurationError(ValueError):
    """The gateway refuses to start; the message says which setting is missing."""


def check_security(settings: Settings) -> None:
    """Refuses a start without the secrets production needs (README, "Security")."""
    if settings.gateway_signing_secret is None:
        raise ConfigurationError(
            "GATEWAY_SIGNING_SECRET is not set: the action server would believe no shared "
            "contact. 'make run' makes one per run; in production set the same value for the "
            "bot and the action server (.env)."
        )
    if settings.telegram_mode == "webhook":
        if not settings.webhook_url:
            raise ConfigurationError("TELEGRAM_MODE=webhook needs WEBHOOK_URL")
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if not _WEBHOOK_SECRET.fullmatch(secret):
            raise ConfigurationError(
                "TELEGRAM_MODE=webhook needs WEBHOOK_SECRET: without it anyone who reaches "
                "the webhook port could post forged updates. Set it to 1-256 characters of "
                "A-Z, a-z, 0-9, _ and -."
            )


async def _ignore_other_updates(update: Update, _context: GatewayContext) -> None:
    """Only what ALLOWED_UPDATES names is a turn, even if something else gets through."""
    if update.message is None and update.callback_query is None:
        logger.info("update %s of another kind ignored", update.update_id)
        raise ApplicationHandlerStop


def build_application(settings: Settings, shared: shared_state.SharedRedis | None) -> Application:
    """A python-telegram-bot application talking to ``TELEGRAM_BASE_URL``; ``shared``: what
    replicas share in Redis (None without ``REDIS_URL``: all in process), closed at its end."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    check_security(settings)
    sms_outbox.check(settings)

    async def post_init(application: Application) -> None:
        token = settings.rasa_auth_token
        rasa = RasaClient(
            settings.rasa_bases,
            settings.rasa_timeout_seconds,
            token.get_secret_value() if token else None,
        )
        await rasa.start()
        engine = create_engine(
            settings.database_url, statement_timeout=TURN_STATEMENT_TIMEOUT_SECONDS
        )
        # Kept before the wait below, so that a stop while waiting closes them.
        application.bot_data["gateway"] = GatewayState(
            settings, rasa, Conversation(rasa), engine, create_session_factory(engine)
        )
        if settings.health_port:
            health = Health(rasa, engine, settings.redis_url, lambda: _taking_updates(application))
            application.bot_data["health"] = health
            await health.start(settings.health_port)
        # PTB starts polling (or the webhook server) only once post_init returns: until a
        # replica can answer, updates stay with Telegram instead of becoming apologies.
        await rasa.wait_ready(settings.rasa_wait_seconds)
        warm_up()
        if problem := await schema_problem(engine):
            logger.error("reminders and notices wait until this is fixed: %s", problem)
        application.bot_data["gateway"].desk = desk.start(
            application, application.bot_data["gateway"]
        )
        reminders.schedule(application, settings)
        announcements.schedule(application, settings)
        retention.schedule(application)
        application.bot_data["sms_outbox"] = sms_outbox.schedule(
            application, settings, application.bot_data["gateway"].sessions
        )
        await application.bot.set_my_commands(COMMANDS)
        logger.info("gateway ready as @%s", application.bot.username)

    async def post_shutdown(application: Application) -> None:
        health: Health | None = application.bot_data.get("health")
        if health is not None:
            await health.stop()
        state: GatewayState | None = application.bot_data.get("gateway")
        if state is not None:
            if state.desk is not None:
                await state.desk.stop()
            await state.rasa.close()
            await state.engine.dispose()
        outbox: sms_outbox.Outbox | None = application.bot_data.get("sms_outbox")
        if outbox is not None:
            await outbox.close()
        if shared is not None:
            await shared.close()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .persistence(chat_state(settings, shared))
        # Telegram's budget for the token, shared by every replica through Redis; 429s retried.
        .rate_limiter(rate_limiter(shared))
        .concurrent_updates(throttle.chat_turns(settings, slots=64, shared=shared))
        .context_types(ContextTypes(context=GatewayContext))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_handler(TypeHandler(Update, _ignore_other_updates), group=-2)
    handlers.register(application, settings, shared)
    return application


def _taking_updates(application: Application) -> bool:
    """Running, and not draining (webhook mode refuses new updates while its turns finish)."""
    server: webhook.WebhookServer | None = application.bot_data.get(webhook.SERVER_KEY)
    return application.running and not (server is not None and server.stopping)


def run(settings: Settings) -> None:
    """Runs the gateway until it is stopped (Ctrl-C or SIGTERM)."""
    try:
        check_security(settings)
    except ConfigurationError as exc:
        sys.exit(f"The gateway does not start: {exc}")
    try:
        sms_outbox.check(settings)
    except ValueError as exc:
        sys.exit(f"The gateway does not start: {exc}")
    shared = shared_state.connect(settings)  # None without REDIS_URL: all in process
    application = build_application(settings, shared)
    try:
        if settings.telegram_mode == "webhook":
            # Our own server: Telegram's POST is answered once its turn is done, so a
            # gateway killed mid-turn loses nothing (bot/webhook.py).
            ledger = dedupe.turn_ledger(shared)
            webhook.run(application, settings, ledger, ALLOWED_UPDATES)
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except RasaNotReady as exc:  # the application has shut down cleanly by now
        sys.exit(f"The gateway stops: {exc}")
