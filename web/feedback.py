"""The page's "Did this help?" form: CSRF tokens for every page, and ``POST /{lang}/feedback``.

CSRF: a signed double-submit token. Each browser gets a random value in an HttpOnly,
SameSite=Lax cookie (Secure over https); each page puts ``HMAC(WEB_SECRET, value)`` in
``request[CSRF_TOKEN]`` for its forms. A vote counts only when the form's token is the
signature of the cookie's value, and, when the browser names where the form came from
(``Origin``, else ``Referer``), that is this page. Another site can neither read the cookie
nor sign a value of its own.

The browser's cookie also tells its votes apart (one per topic; see
:mod:`ntsa_assistant.faq.feedback`). The client, for the per-address limit, is
``request.remote``; behind a reverse proxy, only
with ``WEB_TRUST_FORWARDED`` is it the last address in ``X-Forwarded-For`` (the one our
proxy appended; earlier ones are whatever the client sent). Votes keep only an HMAC of it.
The rules themselves are in :mod:`ntsa_assistant.faq.feedback`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import math
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings, get_settings
from ntsa_assistant.faq import feedback
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory

logger = logging.getLogger(__name__)

COOKIE = "faq_csrf"
# request[CSRF_TOKEN]: the token a page's forms carry (a typed key: aiohttp warns on strings).
CSRF_TOKEN = web.RequestKey("csrf_token", str)
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
VOTES = {"yes": True, "no": False}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MissingSecret(RuntimeError):
    """WEB_SECRET is not set: the page cannot sign its forms."""


@dataclass
class FeedbackState:
    secret: bytes
    trust_forwarded: bool
    page_origin: str  # FAQ_PAGE_URL's origin, accepted besides the request's own
    clock: Clock
    limits: feedback.FeedbackLimits
    sessions: SessionFactory | None = field(default=None)


STATE = web.AppKey("faq_feedback", FeedbackState)


def sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, b"faq-csrf:" + value.encode(), hashlib.sha256).hexdigest()


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _last(request: web.Request, header: str) -> str | None:
    values = [v.strip() for line in request.headers.getall(header, []) for v in line.split(",")]
    values = [v for v in values if v]
    return values[-1] if values else None


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    """The address the limits count by (see the module's docstring)."""
    forwarded = _last(request, "X-Forwarded-For") if trust_forwarded else None
    return forwarded or request.remote or "unknown"


def _is_https(request: web.Request, trust_forwarded: bool) -> bool:
    proto = _last(request, "X-Forwarded-Proto") if trust_forwarded else None
    return proto.lower() == "https" if proto else request.secure


def _same_origin(request: web.Request, state: FeedbackState) -> bool:
    """False only when the browser says the form came from elsewhere."""
    named = request.headers.get("Origin") or request.headers.get("Referer")
    if named is None:
        return True
    scheme = "https" if _is_https(request, state.trust_forwarded) else "http"
    own = {f"{scheme}://{request.host}".lower(), state.page_origin}
    return _origin(named) in own - {""}


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    cookie = request.cookies.get(COOKIE, "")
    fresh = not _COOKIE_VALUE.fullmatch(cookie)
    value = secrets.token_urlsafe(32) if fresh else cookie
    request[CSRF_TOKEN] = sign(state.secret, value)
    response = await handler(request)
    if response.content_type == "text/html" and not response.prepared:
        # The page carries a per-browser token: no shared cache may serve it to another.
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Cookie" if vary else "Cookie"
        if fresh:
            secure = _is_https(request, state.trust_forwarded)
            response.set_cookie(
                COOKIE, value, httponly=True, samesite="Lax", secure=secure, path="/"
            )
    return response


def _short_page(lang: str, status: int, key: str, **headers: str) -> web.Response:
    text = html.escape(t(lang, f"feedback.{key}"))
    back = html.escape(t(lang, "feedback.back"))
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text}</title></head><body><main><p>{text}</p>"
        f'<p><a href="/{lang}/">{back}</a></p></main></body></html>'
    )
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=headers
    )


async def vote(request: web.Request) -> web.StreamResponse:
    """``POST /{lang}/feedback``: topic=<anchor>, helpful=yes|no, csrf=<token>."""
    state = request.app[STATE]
    lang = request.match_info["lang"]
    if not _same_origin(request, state):
        logger.warning("faq feedback refused: the form came from another origin")
        return _short_page(lang, 403, "refused")
    form = await request.post()
    token, cookie = form.get("csrf"), request.cookies.get(COOKIE, "")
    if not (
        isinstance(token, str)
        and _COOKIE_VALUE.fullmatch(cookie)
        and hmac.compare_digest(token, sign(state.secret, cookie))
    ):
        logger.warning("faq feedback refused: missing or wrong CSRF token")
        return _short_page(lang, 403, "refused")
    topic, helpful = form.get("topic"), VOTES.get(str(form.get("helpful")))
    if not isinstance(topic, str) or helpful is None:
        return _short_page(lang, 400, "refused")
    address = client_address(request, state.trust_forwarded)
    key = feedback.client_key(state.secret, address)
    voter = feedback.client_key(state.secret, cookie, kind="voter")
    now = state.clock.now()
    if state.sessions is None:
        raise RuntimeError("the feedback database was not opened")
    try:
        result = await feedback.record(
            state.sessions, topic, lang, helpful, key, now, voter=voter, limits=state.limits
        )
    except feedback.InvalidVote:
        return _short_page(lang, 400, "refused")
    except SQLAlchemyError as exc:
        logger.error("faq feedback not stored: database unavailable (%s)", type(exc).__name__)
        return _short_page(lang, 503, "unavailable", **{"Retry-After": "60"})
    if result.outcome is feedback.Outcome.LIMITED and result.retry_at is not None:
        wait = max(1, math.ceil((result.retry_at - now).total_seconds()))
        logger.info("faq feedback limited: client %s… for %ss", key[:8], wait)
        return _short_page(lang, 429, "too_many", **{"Retry-After": str(wait)})
    logger.info("faq feedback %s: %s %s (%s)", result.outcome, result.anchor, lang, helpful)
    raise web.HTTPSeeOther(f"/{lang}/?thanks={result.anchor}#{result.anchor}")


def setup(
    app: web.Application,
    settings: Settings | None = None,
    *,
    sessions: SessionFactory | None = None,
    limits: feedback.FeedbackLimits | None = None,
    clock: Clock | None = None,
) -> None:
    """Adds the CSRF middleware and the vote route to ``app``.

    Refuses (:class:`MissingSecret`) without ``WEB_SECRET``. Without ``sessions``, the app
    opens its own engine on ``DATABASE_URL`` at startup and closes it at cleanup."""
    settings = settings or get_settings()
    if settings.web_secret is None:
        raise MissingSecret(
            "WEB_SECRET is not set (it signs the page's forms; make one with "
            'python3 -c "import secrets; print(secrets.token_hex(32))")'
        )
    app[STATE] = FeedbackState(
        secret=settings.web_secret.get_secret_value().encode(),
        trust_forwarded=settings.web_trust_forwarded,
        page_origin=_origin(settings.faq_page_url),
        clock=clock or Clock(settings.assistant_now),
        limits=limits or feedback.FeedbackLimits(),
        sessions=sessions,
    )
    app.middlewares.append(csrf_middleware)
    app.router.add_post("/{lang:en|sw}/feedback", vote)
    if sessions is None:
        database_url = settings.database_url

        async def database(app: web.Application) -> AsyncIterator[None]:
            engine = create_engine(database_url)
            app[STATE].sessions = create_session_factory(engine)
            yield
            await engine.dispose()

        app.cleanup_ctx.append(database)
