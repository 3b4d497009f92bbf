"""A TCP proxy on 127.0.0.1 that a test (or the benchmark) can cut and restore, to make a
backend — PostgreSQL, Redis — unreachable for a while as a failed network would.

Every process under test is given the proxy's address instead of the backend's
(:meth:`TcpProxy.url`). :meth:`TcpProxy.cut` then

- ``"reset"`` (the default): stops listening, so a new connection is refused at once
  (``ECONNREFUSED``), and resets every open one (an RST, not a polite FIN: the client
  sees "connection reset" on its next read or write, as after a crashed server or a
  firewall that rejects);
- ``"silent"``: keeps accepting but forwards nothing, neither on new connections nor on
  open ones, as a server that hangs would: clients see only their own timeouts.

:meth:`TcpProxy.restore` forwards again on the same port; connections held by a silent
cut are reset then (what was sent into them is lost, as it would be). ``async with
proxy.outage(10): ...`` cuts for a while, in the background of the block.

:meth:`TcpProxy.cut_on` arms a cut at an exact point of the traffic instead of at a
moment: when given bytes pass from a client (a value of one transaction, then its
``COMMIT``), the proxy cuts before forwarding them, or after the target received them and
before its answer reaches the client — the two ways a transaction can be interrupted.

Only asyncio streams; nothing here knows which protocol it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Self

from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

CutMode = Literal["reset", "silent"]
CHUNK = 65536


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Closes the connection with an RST (SO_LINGER 0), not a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One client connection and its connection to the target."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    marks_seen: int = 0  # how many of the armed trigger's marks passed on this link
    tail: bytes = b""  # the end of the last chunk, for a mark split across two chunks
    cut_on_reply: bool = False

    def reset(self) -> None:
        _reset(self.client)
        _reset(self.upstream)


@dataclass
class _Trigger:
    marks: tuple[bytes, ...]
    before_reply: bool
    mode: CutMode
    fired: asyncio.Future[None]


class TcpProxy:
    """Forwards ``listen_port`` on 127.0.0.1 (0: a free one, chosen at start) to
    ``target_host:target_port`` until cut.

    ``connections`` counts the client connections accepted, ``held`` the ones a silent cut
    accepted and held; ``outages`` records each cut as (mode, seconds it lasted)."""

    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = listen_port
        self.connections = 0
        self.held = 0
        self.outages: list[tuple[CutMode, float]] = []
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._mode: CutMode | None = None
        self._cut_at = 0.0
        self._flowing = asyncio.Event()
        self._trigger: _Trigger | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def to_url(cls, url: str, listen_port: int = 0) -> TcpProxy:
        """A proxy to the host and port of an SQLAlchemy or redis URL."""
        parsed = make_url(url)
        default = 6379 if parsed.get_backend_name() == "redis" else 5432
        return cls(parsed.host or "127.0.0.1", parsed.port or default, listen_port)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen()
        self._flowing.set()

    async def close(self) -> None:
        self._flowing.set()  # so that no pipe waits for ever
        self._stop_listening()
        self._reset_all()
        if self._trigger is not None and not self._trigger.fired.done():
            self._trigger.fired.cancel()
        # Each connection's task ends once its sockets are reset; wait for them, so that
        # none is left for the event loop to cancel when it closes.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- what a test does ----------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    def url(self, url: str) -> str:
        """``url`` (SQLAlchemy or redis) with its host and port replaced by the proxy's."""
        if not self.port:
            raise RuntimeError("start the proxy first: its port is chosen then")
        parsed = make_url(url).set(host=self.host, port=self.port)
        return parsed.render_as_string(hide_password=False)

    async def cut(self, mode: CutMode = "reset") -> None:
        """Makes the target unreachable now (see the module doc for the two modes)."""
        self._cut(mode)

    async def restore(self) -> None:
        """Forwards again; connections a silent cut held are reset first."""
        if self._mode is None:
            return
        mode, self._mode = self._mode, None
        if mode == "silent":
            self._reset_all()
        await self._listen()
        self._flowing.set()
        self.outages.append((mode, time.monotonic() - self._cut_at))
        logger.info("proxy to %s:%s restored", *self.target)

    def cut_on(
        self, marks: Sequence[bytes], *, before_reply: bool = False, mode: CutMode = "reset"
    ) -> asyncio.Future[None]:
        """Arms one cut at a point of the traffic: once every one of ``marks`` has passed
        from a client to the target, in order, on one connection, the proxy is cut —
        before the chunk that carries the last mark is forwarded, or, ``before_reply``,
        after the target received it and before its next answer on that connection
        reaches the client (which never sees that answer). The future is done then."""
        if not marks:
            raise ValueError("cut_on needs at least one mark")
        if self._trigger is not None and not self._trigger.fired.done():
            raise RuntimeError("a cut is armed already")
        fired = asyncio.get_running_loop().create_future()
        self._trigger = _Trigger(tuple(marks), before_reply, mode, fired)
        for link in self._links:
            link.marks_seen, link.tail = 0, b""
        return self._trigger.fired

    def disarm(self) -> None:
        """Forgets an armed :meth:`cut_on` that has not fired (its future is cancelled)."""
        if self._trigger is not None and not self._trigger.fired.done():
            self._trigger.fired.cancel()
        self._trigger = None

    @contextlib.asynccontextmanager
    async def outage(self, seconds: float, mode: CutMode = "reset") -> AsyncIterator[None]:
        """Cuts now and restores ``seconds`` later while the block runs; leaving the block
        waits for the restore (or restores at once when the block raised)."""
        await self.cut(mode)
        restorer = asyncio.create_task(self._restore_after(seconds))
        try:
            yield
        except BaseException:
            restorer.cancel()
            await self.restore()
            raise
        await restorer

    async def _restore_after(self, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.restore()

    # --- internals -----------------------------------------------------------------------

    def _cut(self, mode: CutMode) -> None:
        if self._mode is not None:
            raise RuntimeError(f"the proxy is already cut ({self._mode})")
        self._mode, self._cut_at = mode, time.monotonic()
        self._flowing.clear()
        if mode == "reset":
            self._stop_listening()
            self._reset_all()
        logger.info("proxy to %s:%s cut (%s)", *self.target, mode)

    def _reset_all(self) -> None:
        for link in list(self._links):
            link.reset()
        self._links.clear()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    def _stop_listening(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.connections += 1
        link = _Link(writer)
        self._links.add(link)
        if self._mode == "silent":  # accepted by the kernel, then nothing: held
            self.held += 1
            return
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self.target)
        except OSError:
            self._links.discard(link)
            link.reset()
            return
        if self._mode == "reset":  # cut while the target was being reached
            link.reset()
            return
        try:
            await asyncio.gather(
                self._pipe(link, reader, link.upstream, to_target=True),
                self._pipe(link, up_reader, writer, to_target=False),
                return_exceptions=True,
            )
        finally:
            self._links.discard(link)
            writer.close()
            link.upstream.close()

    async def _pipe(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        to_target: bool,
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()  # a silent cut holds what arrives
                if writer.is_closing():
                    return
                if to_target and self._trips(link, data):
                    assert self._trigger is not None
                    if self._trigger.before_reply:
                        link.cut_on_reply = True
                    else:
                        self._fire()
                        return
                elif not to_target and link.cut_on_reply:
                    self._fire()
                    return
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # half-close: the other direction may still talk
        except OSError:  # ConnectionResetError and the like: pass the reset on
            _reset(writer)

    def _trips(self, link: _Link, data: bytes) -> bool:
        """Whether ``data`` completes the armed trigger's marks on ``link``."""
        trigger = self._trigger
        if trigger is None or trigger.fired.done() or link.cut_on_reply:
            return False
        window = link.tail + data
        position = 0
        while link.marks_seen < len(trigger.marks):
            found = window.find(trigger.marks[link.marks_seen], position)
            if found < 0:
                break
            position = found + len(trigger.marks[link.marks_seen])
            link.marks_seen += 1
        longest = max(len(mark) for mark in trigger.marks)
        link.tail = window[max(position, len(window) - longest + 1) :]
        return link.marks_seen == len(trigger.marks)

    def _fire(self) -> None:
        trigger = self._trigger
        assert trigger is not None
        if not trigger.fired.done():
            self._cut(trigger.mode)
            trigger.fired.set_result(None)
