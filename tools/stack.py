"""Runs the processes of the assistant together: Rasa, the action server, the gateway, the
FAQ page.

``make run`` and the end-to-end tests use it. Each process gets the same environment
(DESIGN.md's variables) and a readiness check; a process that dies is restarted with
backoff; Ctrl-C or SIGTERM stops them all. Usage: ``python -m tools.stack``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import get_settings
from ntsa_assistant.storage import conversations

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
RASA_VENV = ROOT / ".venv-rasa"
APP_PYTHON = Path(sys.executable)
MODEL = Path(os.environ.get("NTSA_MODEL") or ROOT / "nlu" / "models" / "ntsa.tar.gz")
# Every internal service listens on loopback only (the gateway is the one that faces out).
LOOPBACK = "127.0.0.1"
# Rasa's own log level unless RASA_LOG_LEVEL says otherwise: warnings and errors only.
RASA_LOG_LEVEL = "WARNING"
# The secrets our processes share (README, "Security"), by environment variable.
SECRET_VARIABLES = (
    "ACTION_SERVER_SECRET",
    "RASA_AUTH_TOKEN",
    "GATEWAY_SIGNING_SECRET",
    "WEB_SECRET",
    "TRACKER_STORE_SECRET",
)
# Rasa's readiness with its reason (nlu/ntsa_rasa/health.py, listed in nlu/credentials.yml).
RASA_READY_PATH = "/webhooks/health/ready"


class RasaSettings(BaseSettings):
    """What only the Rasa server reads, from the environment or .env like the app's
    settings: where its conversations live and the secret they are encrypted under."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    tracker_store_url: str | None = None
    tracker_store_secret: SecretStr | None = None
    sanic_workers: int | None = None


@functools.cache
def run_secrets() -> dict[str, str]:
    """The shared secrets: as configured (environment or .env), else made for this run.

    One value per variable for the life of this process, so every service it starts (and
    every restart) gets the same ones. A tracker store secret made for the run means that
    conversations last as long as the run: the next ``make run`` starts them afresh.
    """
    settings = get_settings()
    found = {
        "ACTION_SERVER_SECRET": settings.action_server_secret,
        "RASA_AUTH_TOKEN": settings.rasa_auth_token,
        "GATEWAY_SIGNING_SECRET": settings.gateway_signing_secret,
        "WEB_SECRET": settings.web_secret,
        "TRACKER_STORE_SECRET": RasaSettings().tracker_store_secret,
    }
    return {
        name: value.get_secret_value()
        if value and value.get_secret_value()
        else secrets.token_hex(32)
        for name, value in found.items()
    }


def tracker_store_url(database_url: str) -> str:
    """Rasa's tracker store for the app's database (one rule, in the app package: the purge
    finds the store with it too); a relative SQLite path from the repository, where every
    process of the stack runs."""
    return conversations.tracker_store_url(database_url, root=ROOT)


@dataclass
class Service:
    """One child process and how to tell it is ready."""

    name: str
    argv: list[str]
    ready_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0

    async def start(self) -> None:
        env = os.environ | self.env
        stdout = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stdout = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=asyncio.subprocess.STDOUT if stdout else None,
            start_new_session=True,
        )
        if stdout is not None:
            stdout.close()
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_ready(self, within: float) -> None:
        """Polls the readiness URL; raises if the process dies or time runs out."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited with code {self.process.returncode}")
                if self.ready_url is None or await _answers(http, self.ready_url):
                    return
                await asyncio.sleep(0.25)
        raise TimeoutError(f"{self.name} was not ready within {within:.0f} s")

    async def stop(self, grace: float = 10.0) -> None:
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        logger.info("stopped %s", self.name)


async def _answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def rasa_service(
    port: int,
    actions_url: str,
    model: Path = MODEL,
    env: Mapping[str, str] | None = None,
    **kw: object,
) -> Service:
    """Rasa on loopback; ``env`` last (e.g. a ``TRACKER_STORE_URL`` of the caller's)."""
    token = run_secrets()["RASA_AUTH_TOKEN"]
    argv = [
        str(RASA_VENV / "bin" / "rasa"),
        "run",
        "--enable-api",
        # One argument, so a token that starts with "-" is not read as an option.
        f"--auth-token={token}",
        "--model",
        str(model),
        "--endpoints",
        "nlu/endpoints.yml",
        "--credentials",
        "nlu/credentials.yml",
        "--port",
        str(port),
        "--interface",
        LOOPBACK,
    ]
    settings, own, env = get_settings(), RasaSettings(), dict(env or {})
    tracker_url = (
        env.get("TRACKER_STORE_URL")
        or own.tracker_store_url
        or tracker_store_url(settings.database_url)
    )
    rasa_env = {
        "ACTION_ENDPOINT_URL": f"{actions_url}/webhook",
        "ACTION_SERVER_SECRET": run_secrets()["ACTION_SERVER_SECRET"],  # nlu/endpoints.yml
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # Rasa reads LOG_LEVEL; at INFO and below it writes what people typed, unmasked. Our
        # LOG_LEVEL is not passed on: only RASA_LOG_LEVEL, set on purpose, makes it chatty.
        "LOG_LEVEL": os.environ.get("RASA_LOG_LEVEL") or RASA_LOG_LEVEL,
        # The classes nlu/endpoints.yml and nlu/credentials.yml name (nlu/ntsa_rasa/); only
        # that folder: Rasa's environment never sees our app's packages.
        "PYTHONPATH": str(ROOT / "nlu"),
        "TRACKER_STORE_URL": tracker_url,
        "TRACKER_STORE_SECRET": run_secrets()["TRACKER_STORE_SECRET"],
        # The event broker writes the operators' activity record into the app's database.
        "DATABASE_URL": settings.database_url,
    }
    # Redis locks (and so Rasa's own workers) when REDIS_URL is set, even in .env only.
    if settings.redis_url:
        rasa_env["REDIS_URL"] = settings.redis_url
    if own.sanic_workers:
        rasa_env["SANIC_WORKERS"] = str(own.sanic_workers)
    rasa_env.update(env)
    ready = f"http://{LOOPBACK}:{port}{RASA_READY_PATH}"
    return Service("rasa", argv, ready, env=rasa_env, **kw)  # type: ignore[arg-type]


def actions_service(port: int, env: Mapping[str, str] | None = None, **kw: object) -> Service:
    argv = [str(APP_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
    # rasa_sdk's own listen address: it reads SANIC_HOST (default 0.0.0.0, every interface).
    secrets_ = {k: run_secrets()[k] for k in ("ACTION_SERVER_SECRET", "GATEWAY_SIGNING_SECRET")}
    env = {"SANIC_HOST": LOOPBACK, **secrets_, **(env or {})}
    return Service("actions", argv, f"http://{LOOPBACK}:{port}/health", env=env, **kw)  # type: ignore[arg-type]


def gateway_service(env: Mapping[str, str] | None = None, **kw: object) -> Service:
    secrets_ = {k: run_secrets()[k] for k in ("RASA_AUTH_TOKEN", "GATEWAY_SIGNING_SECRET")}
    env = {**secrets_, **(env or {})}
    return Service("bot", [str(APP_PYTHON), "-m", "bot"], None, env=env, **kw)  # type: ignore[arg-type]


def webhook_env(port: int, secret: str, url: str | None = None) -> dict[str, str]:
    """A gateway in webhook mode listening on loopback ``port``; Telegram POSTs to ``url``
    (a load balancer's; its own address by default) with ``secret``."""
    return {
        "TELEGRAM_MODE": "webhook",
        "WEBHOOK_URL": url or f"http://{LOOPBACK}:{port}/",
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_LISTEN": LOOPBACK,
        "WEBHOOK_PORT": str(port),
    }


def web_service(port: int, env: Mapping[str, str] | None = None, **kw: object) -> Service:
    """The FAQ page (``python -m web``), on loopback: a reverse proxy publishes it."""
    secrets_ = {k: run_secrets()[k] for k in ("RASA_AUTH_TOKEN", "WEB_SECRET")}
    env = {**secrets_, **(env or {})}
    argv = [str(APP_PYTHON), "-m", "web", "--host", LOOPBACK, "--port", str(port)]
    return Service("web", argv, f"http://{LOOPBACK}:{port}/health", env=env, **kw)  # type: ignore[arg-type]


async def supervise(services: list[Service], stop: asyncio.Event) -> None:
    """Restarts a service that dies (1 s, 2 s, … up to 30 s apart) until ``stop`` is set."""
    while not stop.is_set():
        for service in services:
            if not service.running and not stop.is_set():
                delay = min(30, 2**service.restarts)
                logger.warning("%s exited; restarting in %s s", service.name, delay)
                await asyncio.sleep(delay)
                service.restarts += 1
                await service.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def run_stack() -> int:
    """``make run``: Rasa and actions first, then the gateway (or the terminal chat)."""
    settings = get_settings()
    no_sms = not (settings.telegram_bot_token or settings.sms_gateway_url or settings.sms_dev_log)
    if no_sms:  # the local chat shows one-time codes in the terminal (development)
        os.environ["SMS_DEV_LOG"] = "1"
    started = time.monotonic()
    rasa_port = int(settings.rasa_url.port or 5005)
    actions_port = int(os.environ.get("ACTIONS_PORT", "5055"))
    logs = ROOT / "var" / "log"
    services = [
        actions_service(actions_port, log_path=logs / "actions.log"),
        rasa_service(rasa_port, f"http://127.0.0.1:{actions_port}", log_path=logs / "rasa.log"),
        web_service(settings.web_port, log_path=logs / "web.log"),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for service in services:
            await service.start()
        print(f"Starting Rasa and the action server (logs in {logs}) …", flush=True)
        await asyncio.gather(*(s.wait_ready(300) for s in services))
        print(f"The FAQ page: http://{LOOPBACK}:{settings.web_port}/", flush=True)
        if settings.telegram_bot_token is None:
            print(f"Ready in {time.monotonic() - started:.1f} s.", flush=True)
            return await _local_chat(services, stop)
        gateway = gateway_service(log_path=None)
        services.append(gateway)
        await gateway.start()
        print(
            f"Ready in {time.monotonic() - started:.1f} s: the bot is polling Telegram. "
            "Ctrl-C stops everything.",
            flush=True,
        )
        await supervise(services, stop)
        return 0
    finally:
        await asyncio.gather(*(s.stop() for s in reversed(services)))


async def _local_chat(services: list[Service], stop: asyncio.Event) -> int:
    """No token: the terminal chat runs in the foreground, the services behind it."""
    print("TELEGRAM_BOT_TOKEN is not set, so here is a local chat through the same gateway.")
    chat = gateway_service()
    env = os.environ | chat.env | {"LOG_LEVEL": "WARNING"}
    chat.process = await asyncio.create_subprocess_exec(*chat.argv, cwd=ROOT, env=env)
    watcher = asyncio.create_task(supervise(services, stop))
    waiter = asyncio.create_task(chat.process.wait())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await chat.stop()
    await watcher
    for task in (waiter, stopper):
        task.cancel()
    return 0


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    sys.exit(asyncio.run(run_stack()))


if __name__ == "__main__":
    main()
