"""The gateway's factory: one place that builds and wires the Telegram application."""

from __future__ import annotations

import logging

from telegram import BotCommand
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot import handlers, reminders
from bot.context import GatewayContext, GatewayState
from bot.conversation import Conversation
from bot.rasa_client import RasaClient
from ntsa_assistant.core.language import warm_up
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import create_engine, create_session_factory
from ntsa_assistant.storage.schema import schema_problem

logger = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("start", "Start / Anza"),
    BotCommand("faq", "Topics / Mada"),
    BotCommand("language", "English / Kiswahili"),
    BotCommand("help", "Help / Msaada"),
]


def build_application(settings: Settings) -> Application:
    """A python-telegram-bot application talking to ``TELEGRAM_BASE_URL``."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(application: Application) -> None:
        rasa = RasaClient(settings.rasa_base, settings.rasa_timeout_seconds)
        await rasa.start()
        if not await rasa.is_ready():
            logger.warning(
                "Rasa at %s is not ready yet; turns get an apology until it is", settings.rasa_base
            )
        warm_up()
        engine = create_engine(settings.database_url)
        if problem := await schema_problem(engine):
            logger.error("reminders and notices wait until this is fixed: %s", problem)
        application.bot_data["gateway"] = GatewayState(
            settings, rasa, Conversation(rasa), engine, create_session_factory(engine)
        )
        reminders.schedule(application, settings)
        await application.bot.set_my_commands(COMMANDS)
        logger.info("gateway ready as @%s", application.bot.username)

    async def post_shutdown(application: Application) -> None:
        state: GatewayState | None = application.bot_data.get("gateway")
        if state is not None:
            await state.rasa.close()
            await state.engine.dispose()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .arbitrary_callback_data(2048)
        .rate_limiter(AIORateLimiter(max_retries=5))
        .concurrent_updates(64)
        .context_types(ContextTypes(context=GatewayContext))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    handlers.register(application)
    return application


def run(settings: Settings) -> None:
    """Runs the gateway until it is stopped (Ctrl-C or SIGTERM)."""
    application = build_application(settings)
    if settings.telegram_mode == "webhook":
        if not settings.webhook_url:
            raise ValueError("TELEGRAM_MODE=webhook needs WEBHOOK_URL")
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            webhook_url=settings.webhook_url,
            secret_token=secret,
        )
    else:
        application.run_polling(allowed_updates=["message", "callback_query"])
