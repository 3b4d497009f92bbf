"""The gateway's one HTTP client for the Rasa servers (REST channel and HTTP API).

``RASA_URL`` may name several Rasa replicas. Each chat lives on one of them, chosen by
rendezvous (highest-random-weight) hashing of the chat id over the replicas' URLs: every
gateway process computes the same home for a chat, and adding or losing a replica moves
only the chats whose home it is. Replicas share the tracker store, but open-source Rasa
does not stop two replicas from racing on one conversation, so a chat stays home and moves
only when its home is down.

"Down" means the turn certainly was not handled there: the connection was refused or
could not be made, or the replica dropped the connection before answering (it died while
the turn was being handled, so Rasa saved nothing of it). Only then is the turn sent to
the chat's next replica in rendezvous order. A replica that is merely slow (the timeout
ran out after the request was sent) may still be handling the turn: sending it again
elsewhere could play it twice, so the person gets the apology instead. A replica marked
down gets no turns for a short back-off; then the first turn that wants it asks its
readiness first (``/webhooks/health/ready``: model loaded, tracker store and lock store
answering), and when it is back its chats go home.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# A replica just marked down gets no turns for this long; each failed look doubles it.
RETRY_AFTER_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 15.0
# The readiness look at a replica: quick, so a turn waiting for it is not held up long.
STATUS_TIMEOUT = aiohttp.ClientTimeout(total=2, connect=1)
# Rasa's readiness route, mounted by our health channel (nlu/ntsa_rasa/health.py): needs no
# token, and answers 503 with a reason (no model, tracker store or lock store unreachable).
READY_PATH = "/webhooks/health/ready"
# How often the start-up wait looks at the replicas, and how often it says what it waits for.
WAIT_POLL_SECONDS = 1.0
WAIT_LOG_SECONDS = 5.0


class RasaUnavailable(Exception):
    """Rasa did not answer in time, or answered with an error."""


class RasaNotReady(RuntimeError):
    """No Rasa replica became ready within the time the gateway waits at start."""


class _NotDelivered(Exception):
    """The turn certainly did not reach Rasa's conversation handling: safe to resend."""


def rendezvous_order(replicas: Iterable[str], key: str) -> list[str]:
    """``replicas`` ranked for ``key`` (a chat id): its home first, then where it moves.

    A stable hash (not Python's salted ``hash``) of replica and key, so that every process
    ranks alike, whatever order the replicas are listed in.
    """

    def weight(replica: str) -> tuple[int, str]:
        digest = hashlib.blake2b(f"{replica}\n{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big"), replica

    return sorted(replicas, key=weight, reverse=True)


@dataclass(frozen=True)
class ReplicaReadiness:
    """One replica's answer to its readiness route: ready, or why not (no personal data)."""

    url: str
    ready: bool
    reason: str  # "ready", "connection refused", "no model loaded", …
    http_status: int | None = None  # None: no HTTP answer at all
    connected: bool = True  # False: not even a connection (refused, unreachable)


@dataclass
class _Replica:
    url: str
    down: bool = False
    retry_at: float = 0.0  # monotonic time after which a down replica is looked at again
    failures: int = 0  # looks in a row that found it down; the back-off doubles with each
    look: asyncio.Lock = field(default_factory=asyncio.Lock)  # one readiness look at a time


class RasaClient:
    """Posts user turns to Rasa's REST webhook and returns Rasa's replies.

    One pooled ``aiohttp.ClientSession`` for the life of the process, shared by every
    replica, with a total timeout short enough that the user hears an apology within ten
    seconds. A turn moved to another replica starts afresh there, so it gets the whole
    timeout again (a refused connection costs next to nothing). ``base_url`` is one
    replica, a comma-separated list, or a sequence of them.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        timeout_seconds: float = 8.0,
        auth_token: str | None = None,
        *,
        retry_after: float = RETRY_AFTER_SECONDS,
        retry_after_max: float = RETRY_AFTER_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
        unique = list(dict.fromkeys(url.strip().rstrip("/") for url in urls if url.strip()))
        if not unique:
            raise ValueError("RasaClient needs at least one Rasa URL")
        self._replicas = {url: _Replica(url) for url in unique}
        # Rasa's HTTP API (not the REST channel) wants RASA_AUTH_TOKEN as ?token=.
        self._api_params = {"token": auth_token} if auth_token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=2)
        self._retry_after = retry_after
        self._retry_after_max = retry_after_max
        self._clock = clock
        self._parse_turns = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    @property
    def replicas(self) -> tuple[str, ...]:
        """The replicas' base URLs, as configured."""
        return tuple(self._replicas)

    def home_of(self, sender: str) -> str:
        """The replica that handles ``sender``'s turns while it is up."""
        return rendezvous_order(self._replicas, sender)[0]

    def is_down(self, url: str) -> bool:
        """Whether the replica at ``url`` is marked down (its chats are elsewhere)."""
        return self._replicas[url].down

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ conversation turns

    async def send(
        self, sender: str, message: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rasa's replies to ``message`` from ``sender``; raises :class:`RasaUnavailable`.

        The turn goes to the chat's home replica, or, while that one is down, to the next
        one up in the chat's rendezvous order.
        """
        body = {"sender": sender, "message": message, "metadata": metadata or {}}
        ranked = rendezvous_order(self._replicas, sender)
        replies = await self._post_with_failover(
            ranked, "/webhooks/rest/webhook", body, None, what=f"chat {sender}"
        )
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa's answer is not a list of messages")
        return [r for r in replies if isinstance(r, dict)]

    async def parse(self, text: str) -> list[tuple[str, float]]:
        """Rasa's NLU reading of ``text`` (``/model/parse``): intents, most confident first.

        Only understanding, no conversation: nothing reaches a tracker, so any replica will
        do (taken in turn). The caller makes ``text`` safe first
        (:func:`bot.conversation.neutralise`). Raises :class:`RasaUnavailable`.
        """
        urls = list(self._replicas)
        start = next(self._parse_turns) % len(urls)
        ranked = urls[start:] + urls[:start]
        parsed = await self._post_with_failover(
            ranked, "/model/parse", {"text": text}, self._api_params, what="a parse"
        )
        if not isinstance(parsed, dict):
            raise RasaUnavailable("Rasa's parse is not an object")
        ranking = parsed.get("intent_ranking") or [parsed.get("intent") or {}]
        found = [
            (str(item["name"]), float(item.get("confidence") or 0.0))
            for item in ranking
            if isinstance(item, dict) and item.get("name")
        ]
        return sorted(found, key=lambda pair: pair[1], reverse=True)

    async def _post_with_failover(
        self, ranked: list[str], path: str, body: dict[str, Any], params: Any, *, what: str
    ) -> Any:
        """POSTs to the first replica of ``ranked`` that is up, moving on only while the
        request certainly was not handled; returns the JSON answer."""
        if self._session is None:
            raise RuntimeError("RasaClient.start() was not called")
        problems: list[str] = []
        for url in ranked:
            if not await self._usable(self._replicas[url]):
                continue
            try:
                answer = await self._post_json(url, path, body, params)
            except _NotDelivered as exc:
                self._mark_down(self._replicas[url], str(exc))
                problems.append(f"{url}: {exc}")
                continue
            if url != ranked[0]:
                logger.debug("%s went to %s: its first replica is down", what, url)
            return answer
        if not problems:
            # Every replica is marked down: the marks may be stale (a blip that hit them
            # all), so each gets one more try rather than an apology without asking.
            for url in ranked:
                try:
                    answer = await self._post_json(url, path, body, params)
                except _NotDelivered as exc:
                    self._mark_down(self._replicas[url], str(exc))
                    problems.append(f"{url}: {exc}")
                    continue
                self._mark_up(self._replicas[url])
                return answer
        raise RasaUnavailable("no Rasa replica is up (" + "; ".join(problems) + ")")

    async def _post_json(self, url: str, path: str, body: dict[str, Any], params: Any) -> Any:
        """One POST to one replica. :class:`_NotDelivered` when the replica certainly did
        not handle it; :class:`RasaUnavailable` for every other failure."""
        assert self._session is not None
        try:
            async with self._session.post(f"{url}{path}", json=body, params=params) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                return await response.json()
        # The order matters: a connect timeout is a TimeoutError too, and a refused
        # connection is an OSError too.
        except aiohttp.ConnectionTimeoutError as exc:  # the request was never sent
            raise _NotDelivered("connection timed out") from exc
        except aiohttp.ClientConnectorError as exc:  # refused, unreachable, unknown host
            raise _NotDelivered(_connect_problem(exc)) from exc
        except aiohttp.ServerDisconnectedError as exc:
            # Closed before an answer began: the replica died (or restarted) while it
            # handled the turn, before Rasa saved anything of it.
            raise _NotDelivered("the connection closed before an answer") from exc
        except aiohttp.ClientPayloadError as exc:
            # The answer had begun: Rasa handled the turn, so it must not be played again.
            raise RasaUnavailable("Rasa's answer broke off") from exc
        except (aiohttp.ClientConnectionResetError, aiohttp.ClientOSError) as exc:
            raise _NotDelivered("the connection was reset") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Slow (the request was sent and may still be handled), or refused by HTTP.
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # not JSON
            raise RasaUnavailable("Rasa answered with something that is not JSON") from exc

    # ------------------------------------------------------------------ replica states

    async def _usable(self, replica: _Replica) -> bool:
        """Whether a turn may go to ``replica`` now: up, or down with its back-off over
        and its readiness route saying it is back (one look at a time; the others wait)."""
        if not replica.down:
            return True
        if self._clock() < replica.retry_at:
            return False
        async with replica.look:
            if not self.is_down(replica.url):  # another turn looked while this one waited
                return True
            if self._clock() < replica.retry_at:
                return False
            readiness = await self._status(replica.url)
            if readiness.ready:
                self._mark_up(replica)
                return True
            self._mark_down(replica, readiness.reason)
            return False

    def _mark_down(self, replica: _Replica, reason: str) -> None:
        wait = min(self._retry_after * 2**replica.failures, self._retry_after_max)
        replica.failures += 1
        replica.retry_at = self._clock() + wait
        if not replica.down:
            logger.warning(
                "Rasa replica %s is down (%s): its chats go to the next replica; "
                "looking again in %.0f s",
                replica.url,
                reason,
                wait,
            )
        replica.down = True

    def _mark_up(self, replica: _Replica) -> None:
        if replica.down:
            logger.info("Rasa replica %s is back: its chats go home", replica.url)
        replica.down = False
        replica.failures = 0
        replica.retry_at = 0.0

    # ------------------------------------------------------------------ readiness

    async def _status(self, url: str) -> ReplicaReadiness:
        """Asks one replica whether it can hold a conversation now, and why not."""
        if self._session is None:
            return ReplicaReadiness(url, False, "client not started")
        code: int | None = None
        try:
            async with self._session.get(f"{url}{READY_PATH}", timeout=STATUS_TIMEOUT) as response:
                code = response.status
                if code == 404:
                    return ReplicaReadiness(url, False, f"HTTP 404: no {READY_PATH}", code)
                if code not in (200, 503):
                    return ReplicaReadiness(url, False, f"HTTP {code}", code)
                report = await response.json(content_type=None)
        except aiohttp.ConnectionTimeoutError:
            return ReplicaReadiness(url, False, "connection timed out", connected=False)
        except aiohttp.ClientConnectorError as exc:
            return ReplicaReadiness(url, False, _connect_problem(exc), connected=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return ReplicaReadiness(url, False, f"no answer ({type(exc).__name__})")
        except ValueError:
            return ReplicaReadiness(url, False, "an answer that is not JSON", code)
        if not isinstance(report, dict):
            return ReplicaReadiness(url, False, "an answer that is not a readiness report", code)
        if code == 200 and report.get("ready") is True:
            return ReplicaReadiness(url, True, "ready", code)
        reason = report.get("reason")
        # Only Rasa's own short reasons are repeated (they go to logs and /ready).
        said = reason[:120] if isinstance(reason, str) and reason else "not ready"
        return ReplicaReadiness(url, False, said, code)

    async def readiness(self) -> list[ReplicaReadiness]:
        """Every replica's readiness, asked at once. A ready replica counts as up again,
        one that takes no connection as down; a slow one keeps its state (busy is not down)."""
        found = await asyncio.gather(*(self._status(url) for url in self._replicas))
        for item in found:
            replica = self._replicas[item.url]
            if item.ready:
                self._mark_up(replica)
            elif not item.connected and not replica.down:
                self._mark_down(replica, item.reason)
        return list(found)

    async def is_ready(self) -> bool:
        """True when at least one replica is up with a model loaded."""
        return any(item.ready for item in await self.readiness())

    async def wait_ready(
        self,
        within: float,
        *,
        poll: float = WAIT_POLL_SECONDS,
        log_every: float = WAIT_LOG_SECONDS,
    ) -> None:
        """Returns once a replica is ready; says every ``log_every`` seconds what it waits
        for. Raises :class:`RasaNotReady` after ``within`` seconds (0: waits for ever)."""
        started = self._clock()
        next_log = started
        while True:
            found = await self.readiness()
            if any(item.ready for item in found):
                ready = [item.url for item in found if item.ready]
                logger.info("Rasa is ready (%s)", ", ".join(ready))
                return
            now = self._clock()
            waited = now - started
            summary = "; ".join(f"{item.url}: {item.reason}" for item in found)
            if within and waited >= within:
                raise RasaNotReady(
                    f"no Rasa replica was ready within {within:.0f} s ({summary}); "
                    "RASA_WAIT_SECONDS sets how long the gateway waits"
                )
            if now >= next_log:
                logger.warning(
                    "waiting for a Rasa replica to be ready before taking updates "
                    "(%.0f s so far): %s",
                    waited,
                    summary,
                )
                next_log = now + log_every
            await asyncio.sleep(poll)


def _connect_problem(exc: aiohttp.ClientConnectorError) -> str:
    """A short reason for a failed connect (no addresses, which the URL already says)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "unknown host"
    if isinstance(exc.os_error, ConnectionRefusedError) or "refused" in str(exc.os_error):
        return "connection refused"
    if isinstance(exc.os_error, TimeoutError):
        return "connection timed out"
    return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
