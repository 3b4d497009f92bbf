"""``python -m web``: the FAQ page on ``WEB_PORT`` (every interface unless ``--host``)."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import get_settings
from web import feedback
from web.app import create_app

logger = logging.getLogger("web")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    parser = argparse.ArgumentParser(prog="python -m web", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=settings.web_port, help="default: WEB_PORT")
    args = parser.parse_args()
    try:
        app = create_app(settings)
    except feedback.MissingSecret as exc:
        sys.exit(f"The FAQ page does not start: {exc}")
    logger.info("FAQ page on http://%s:%s/", args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
