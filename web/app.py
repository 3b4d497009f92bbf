"""The FAQ page: the bot's answers for today, as one page per language, with a search.

Every answer is rendered by :mod:`ntsa_assistant.faq.answers` from the same timeline and
texts the bot uses, at the same clock (``ASSISTANT_NOW`` respected). Nothing here needs
JavaScript: the search is a GET form, the sections are native ``<details>``; one inline
script only opens the section an anchor names.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_response import ContentCoding
from markupsafe import Markup

from bot.conversation import neutralise
from bot.rasa_client import RasaClient, RasaUnavailable
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Lang, spell_date, t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq.answers import (
    MENU_TOPICS,
    Channel,
    Topic,
    anchor,
    answer,
    menu,
    topic_command,
)
from ntsa_assistant.faq.timeline import default_timeline
from web import feedback
from web.search import MAX_QUERY_LENGTH, keyword_matches, understood_topic

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
RASA = web.AppKey("rasa", RasaClient)

# A search must answer quickly even when Rasa hangs: past this, the keyword match answers.
RASA_PARSE_TIMEOUT_SECONDS = 2.0
# The page changes at most daily (days left), and when the texts are redeployed.
PAGE_CACHE_CONTROL = "public, max-age=300"
# A page carrying a feedback form holds a CSRF token: one client's, never a shared cache's.
PRIVATE_CACHE_CONTROL = "private, no-cache"

_LANG = "{lang:en|sw}"

# Opens the <details> of the section the address names (CSS's :target cannot), and every
# section before printing. The page works without it.
SCRIPT = Markup(
    "(function(){function o(){var s=location.hash&&document.getElementById("
    "location.hash.slice(1));var d=s&&s.closest('details');if(d)d.open=true}"
    "addEventListener('hashchange',o);o();addEventListener('beforeprint',function(){"
    "document.querySelectorAll('details').forEach(function(d){d.open=true})})})();"
)


@functools.cache
def stylesheet() -> Markup:
    """``static/style.css`` without its comments, inlined into each page."""
    css = (resources.files("web") / "static" / "style.css").read_text("utf-8")
    return Markup(re.sub(r"/\*.*?\*/\s*", "", css, flags=re.DOTALL).strip())


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@functools.cache
def content_security_policy() -> str:
    """Only our own inline style and script run; forms post only to us."""
    return (
        f"default-src 'none'; style-src {_csp_hash(stylesheet())}; "
        f"script-src {_csp_hash(SCRIPT)}; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


# --- what a page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class TopicView:
    topic: Topic
    anchor: str
    title: str
    short: str
    more: str | None
    bot_link: str | None
    open: bool = False
    thanked: bool = False

    @property
    def paragraphs(self) -> list[str]:
        text = self.short if self.more is None else f"{self.short}\n{self.more}"
        return [line for line in text.split("\n") if line.strip()]

    @property
    def summary(self) -> str:
        return self.short.split("\n", 1)[0]


def other_language(lang: Lang) -> Lang:
    return next(code for code in LANGUAGES if code != lang)


def _facts() -> dict[str, str]:
    agency = default_timeline().agency
    return {"agency": agency.name, "old": agency.old_system, "new": agency.new_system}


def page_text(lang: Lang, key: str, **params: object) -> str:
    """A text of the page (``page.<key>``) with the agency's names filled in."""
    return t(lang, f"page.{key}", **_facts(), **params)


def bot_link(settings: Settings, topic: Topic) -> str | None:
    """The bot's deep link that opens ``topic`` in the chat; None without a bot username."""
    username = (settings.bot_username or "").strip().lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9_]{3,64}", username):
        return None
    return f"https://t.me/{username}?start={anchor(topic)}"


def topic_views(
    lang: Lang, now: datetime, settings: Settings, highlight: str | None = None
) -> list[TopicView]:
    """Every menu topic as the bot would answer it at ``now``, in menu order."""
    titles = {button.intent: button.title for button in menu(lang).buttons}
    views = []
    for topic in MENU_TOPICS:
        reply = answer(topic, lang, now, channel=Channel.WEB)
        name = anchor(topic)
        views.append(
            TopicView(
                topic=topic,
                anchor=name,
                title=titles[topic_command(topic)],
                short=reply.text,
                more=reply.more,
                bot_link=bot_link(settings, topic),
                open=name == highlight,
                thanked=name == highlight,
            )
        )
    return views


def json_ld(lang: Lang, views: list[TopicView]) -> Markup:
    """schema.org FAQPage, safe inside a ``<script>`` element."""
    data = {
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "inLanguage": lang,
        "mainEntity": [
            {
                "@type": "Question",
                "name": view.title,
                "acceptedAnswer": {"@type": "Answer", "text": "\n".join(view.paragraphs)},
            }
            for view in views
        ],
    }
    text = json.dumps(data, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _base_context(request: web.Request, lang: Lang) -> dict[str, Any]:
    other = other_language(lang)
    return {
        "lang": lang,
        "other": other,
        "text": functools.partial(page_text, lang),
        "other_text": functools.partial(page_text, other),
        "css": stylesheet(),
        "max_query": MAX_QUERY_LENGTH,
        "query": "",
        **_facts(),
    }


# --- HTTP ---------------------------------------------------------------------------------


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == f'"{etag}"':
            return True
    return False


def cacheable_html(request: web.Request, body: str, cache_control: str) -> web.Response:
    """``body`` with a validator (a weak ETag: it survives compression), gzipped when the
    client accepts it; a ``304 Not Modified`` when the client already holds it."""
    data = body.encode("utf-8")
    etag = hashlib.sha256(data).hexdigest()[:32]
    headers = {"ETag": f'W/"{etag}"', "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    response = web.Response(body=data, content_type="text/html", charset="utf-8", headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        response.enable_compression(ContentCoding.gzip)
    return response


def preferred_language(header: str | None) -> Lang:
    """The best of our languages by ``Accept-Language`` (q-values honoured); English else."""
    best: Lang = DEFAULT_LANGUAGE
    best_quality = 0.0
    for part in (header or "").split(","):
        tag, *params = (piece.strip() for piece in part.split(";"))
        primary = tag.split("-")[0].lower()
        if primary == "*":
            primary = DEFAULT_LANGUAGE
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if quality > best_quality:  # the first of equal choices wins
            best, best_quality = ("sw" if primary == "sw" else "en"), quality
    return best


async def root(request: web.Request) -> web.Response:
    lang = preferred_language(request.headers.get("Accept-Language"))
    raise web.HTTPFound(f"/{lang}/", headers={"Vary": "Accept-Language"})


async def without_slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(f"/{request.match_info['lang']}/")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _lang(request: web.Request) -> Lang:
    return "sw" if request.match_info["lang"] == "sw" else "en"


async def faq_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    thanks = request.query.get("thanks")
    views = topic_views(lang, now, settings, highlight=thanks)
    reviewed_on = default_timeline().reviewed_on
    csrf_token = request.get(feedback.CSRF_TOKEN)
    context = {
        **_base_context(request, lang),
        "topics": views,
        "json_ld": json_ld(lang, views),
        "script": SCRIPT,
        "as_of": page_text(lang, "as_of", date=spell_date(lang, now.date())),
        "reviewed": page_text(lang, "reviewed", date=spell_date(lang, reviewed_on))
        if reviewed_on
        else None,
        "csrf_token": csrf_token,
        "thanks_text": t(lang, "feedback.thanks"),
    }
    body = aiohttp_jinja2.render_string("page.html", request, context)
    return cacheable_html(
        request, body, PRIVATE_CACHE_CONTROL if csrf_token else PAGE_CACHE_CONTROL
    )


async def _rasa_topic(app: web.Application, query: str) -> Topic | None:
    """The topic the bot's understanding picks for ``query``; None when down or unsure."""
    try:
        ranking = await app[RASA].parse(neutralise(query))
    except RasaUnavailable as exc:
        logger.warning("search: Rasa is unavailable (%s); keyword match instead", exc)
        return None
    topic = understood_topic(ranking)
    if ranking:
        intent, confidence = ranking[0]
        logger.info("search: Rasa reads %s (%.2f) → %s", intent, confidence, topic or "-")
    return topic


def keyword_results(lang: Lang, now: datetime, settings: Settings, query: str) -> list[TopicView]:
    """Topics whose rendered answers share words with ``query``: in the page's language
    first, else in the other one (a code-mixed query), listed in the page's language."""
    views = {view.topic: view for view in topic_views(lang, now, settings)}
    for language in (lang, other_language(lang)):
        documents = {
            view.topic: (view.title, view.short, view.more or "")
            for view in topic_views(language, now, settings)
        }
        found = keyword_matches(query, documents)
        if found:
            return [views[topic] for topic in found]
    return []


async def search(request: web.Request) -> web.Response:
    lang = _lang(request)
    query = " ".join(request.query.get("q", "").split())[:MAX_QUERY_LENGTH]
    if not query:
        raise web.HTTPSeeOther(f"/{lang}/")
    topic = await _rasa_topic(request.app, query)
    if topic is not None:
        raise web.HTTPSeeOther(f"/{lang}/#{anchor(topic)}")
    now = request.app[CLOCK].now()
    results = keyword_results(lang, now, request.app[SETTINGS], query)
    logger.info("search: keyword match found %d topics", len(results))
    context = {**_base_context(request, lang), "query": query, "results": results}
    response = aiohttp_jinja2.render_template("results.html", request, context)
    # What people search for may be personal: nobody else's cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        response.enable_compression(ContentCoding.gzip)
    return response


# --- errors, headers, lifecycle -------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_page(request: web.Request, status: int, key: str) -> web.Response:
    """A short page in both languages (the address may name neither)."""
    first: Lang = "sw" if request.path.startswith("/sw") else "en"
    messages = [
        {
            "lang": code,
            "title": page_text(code, "title"),
            "message": page_text(code, key),
            "back": page_text(code, "back"),
        }
        for code in (first, other_language(first))
    ]
    context = {"messages": messages, "css": stylesheet()}
    response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@web.middleware
async def polite_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error_page(request, 404, "not_found")
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("page failed: %s %s", request.method, request.path)
        return error_page(request, 500, "error")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")


async def _start_rasa(app: web.Application) -> None:
    settings = app[SETTINGS]
    token = settings.rasa_auth_token.get_secret_value() if settings.rasa_auth_token else None
    client = RasaClient(settings.rasa_bases, RASA_PARSE_TIMEOUT_SECONDS, auth_token=token)
    await client.start()
    app[RASA] = client


async def _close_rasa(app: web.Application) -> None:
    if RASA in app:
        await app[RASA].close()


def create_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The page's application; its resources open on start-up and close on clean-up."""
    app = web.Application(middlewares=[polite_errors])
    app[SETTINGS] = settings
    app[CLOCK] = clock or Clock(settings.assistant_now)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get(f"/{_LANG}", without_slash)
    app.router.add_get(f"/{_LANG}/", faq_page)
    app.router.add_get(f"/{_LANG}/search", search)
    app.on_startup.append(_start_rasa)
    app.on_cleanup.append(_close_rasa)
    app.on_response_prepare.append(_security_headers)
    feedback.setup(app, settings)  # "Did this help?": CSRF tokens, POST /{lang}/feedback
    return app
