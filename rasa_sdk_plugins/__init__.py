"""rasa_sdk's plugin hook (it imports a package of exactly this name at start-up).

It attaches our lifecycle listeners to the action server's Sanic app, so that the
database engine and the HTTP session are made once per process, when the server starts.

With ``ACTION_SERVER_SANIC_WORKERS`` above 1, rasa_sdk runs that many Sanic worker
processes on one port; each builds the app, and so its own resources, through this hook.
The actions keep nothing of a conversation in memory (it is in the tracker and the
database), so any worker, or any action server behind a load balancer, may take any call.
"""

from __future__ import annotations

import pluggy
from rasa_sdk.utils import number_of_sanic_workers
from sanic import Sanic

from actions import runtime
from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import Settings, get_settings
from rasa_sdk_plugins import auth, errors, health

hookimpl = pluggy.HookimplMarker("rasa_sdk")


class SharedSecretMissing(RuntimeError):
    """Several workers would each make their own secret where they must share one."""


def check_workers(settings: Settings, workers: int) -> None:
    """Several workers must share the one-time codes' pepper: without CODE_PEPPER each
    would make its own, and a code texted by one would not be accepted by another."""
    pepper = settings.code_pepper.get_secret_value() if settings.code_pepper else ""
    if workers > 1 and not pepper:
        raise SharedSecretMissing(
            f"ACTION_SERVER_SANIC_WORKERS={workers} needs CODE_PEPPER: each worker would make "
            "its own random pepper and refuse the one-time codes another one sent. Set the "
            "same CODE_PEPPER for every worker and action server (.env)."
        )


class _Lifecycle:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        errors.install(app)
        settings = get_settings()
        auth.install(app, settings)  # refuses to start without ACTION_SERVER_SECRET
        check_workers(settings, number_of_sanic_workers())
        health.install(app)

        @app.before_server_start
        async def _start(_app: Sanic) -> None:
            settings = get_settings()
            configure_logging(settings.log_level)
            await runtime.start(settings)

        @app.after_server_stop
        async def _stop(_app: Sanic) -> None:
            await runtime.stop()


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(_Lifecycle())
