"""rasa_sdk's plugin hook (it imports a package of exactly this name at start-up).

It attaches our lifecycle listeners to the action server's Sanic app, so that the
database engine and the HTTP session are made once per process, when the server starts.
"""

from __future__ import annotations

import pluggy
from sanic import Sanic

from actions import runtime
from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import get_settings
from rasa_sdk_plugins import auth, errors

hookimpl = pluggy.HookimplMarker("rasa_sdk")


class _Lifecycle:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        errors.install(app)
        auth.install(app, get_settings())  # refuses to start without ACTION_SERVER_SECRET

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
