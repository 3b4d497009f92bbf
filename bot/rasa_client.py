"""The gateway's one HTTP client for the Rasa server (REST channel)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer in time, or answered with an error."""


class RasaClient:
    """Posts one user turn to Rasa's REST webhook and returns Rasa's replies.

    One pooled ``aiohttp.ClientSession`` for the life of the process, with a total
    timeout short enough that the user hears an apology within ten seconds.
    """

    def __init__(
        self, base_url: str, timeout_seconds: float = 8.0, auth_token: str | None = None
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # Rasa's HTTP API (not the REST channel) wants RASA_AUTH_TOKEN as ?token=.
        self._api_params = {"token": auth_token} if auth_token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=2)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, sender: str, message: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rasa's replies to ``message`` from ``sender``; raises :class:`RasaUnavailable`."""
        if self._session is None:
            raise RuntimeError("RasaClient.start() was not called")
        body = {"sender": sender, "message": message, "metadata": metadata or {}}
        url = f"{self._base_url}/webhooks/rest/webhook"
        replies = await self._post_json(url, body)
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa's answer is not a list of messages")
        return [r for r in replies if isinstance(r, dict)]

    async def _post_json(self, url: str, body: dict[str, Any], params: Any = None) -> Any:
        """POSTs ``body`` and returns Rasa's JSON answer; any failure is RasaUnavailable."""
        assert self._session is not None
        try:
            async with self._session.post(url, json=body, params=params) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # not JSON
            raise RasaUnavailable("Rasa answered with something that is not JSON") from exc

    async def parse(self, text: str) -> list[tuple[str, float]]:
        """Rasa's NLU reading of ``text`` (``/model/parse``): intents, most confident first.

        Only understanding, no conversation: nothing reaches a tracker. The caller makes
        ``text`` safe first (:func:`bot.conversation.neutralise`). Raises
        :class:`RasaUnavailable`.
        """
        if self._session is None:
            raise RuntimeError("RasaClient.start() was not called")
        url = f"{self._base_url}/model/parse"
        parsed = await self._post_json(url, {"text": text}, self._api_params)
        if not isinstance(parsed, dict):
            raise RasaUnavailable("Rasa's parse is not an object")
        ranking = parsed.get("intent_ranking") or [parsed.get("intent") or {}]
        found = [
            (str(item["name"]), float(item.get("confidence") or 0.0))
            for item in ranking
            if isinstance(item, dict) and item.get("name")
        ]
        return sorted(found, key=lambda pair: pair[1], reverse=True)

    async def is_ready(self) -> bool:
        """True when Rasa is up with a model loaded."""
        if self._session is None:
            return False
        try:
            url = f"{self._base_url}/status"
            async with self._session.get(url, params=self._api_params) as response:
                if response.status != 200:
                    return False
                status = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return bool(status.get("model_file") or status.get("fingerprint"))
