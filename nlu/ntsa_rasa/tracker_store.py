"""Rasa's SQL tracker store, with every event's payload encrypted at rest.

Conversations outlive a Rasa restart and are shared by Rasa replicas, but a status check
carries a national ID number, a phone number and perhaps a one-time code, and a
registration a name and a phone: all of that is inside the events' ``data`` column, which
is sealed here (:mod:`ntsa_rasa.sealing`) under a key derived from ``TRACKER_STORE_SECRET``.
The other columns hold only the chat id, the event type, its time and names that the
domain defines (intent, action, slot, form); a name the domain does not know is not kept.

Rows sealed under another secret (a new per-run secret of ``make run``) are ignored, with
one warning per process: those conversations start afresh instead of failing.

Configured in ``nlu/endpoints.yml``: ``url`` is one SQLAlchemy URL (``sqlite:///…`` or
``postgresql://…``, driven by psycopg2). On PostgreSQL the ``events`` table lives in a
schema of its own, ``rasa``, so the app's migrations never meet it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.agent import Agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import Query, Session

from ntsa_rasa.sealing import Sealer

logger = logging.getLogger(__name__)

SECRET_ENV = "TRACKER_STORE_SECRET"
POSTGRES_SCHEMA = "rasa"
# A database that does not answer must not hold Rasa's event loop (the store is
# synchronous) for long; the readiness check reports it instead.
CONNECT_TIMEOUT_SECONDS = 5


class TrackerStoreConfigurationError(RuntimeError):
    """Raised instead of ImportError/AttributeError: Rasa would swallow those and quietly
    keep conversations in memory."""


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """:class:`SQLTrackerStore` whose ``data`` column is encrypted; see the module doc."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            self._setup(host)
        except (ImportError, AttributeError) as error:
            raise TrackerStoreConfigurationError(
                f"the encrypted SQL tracker store could not be set up: {error}"
            ) from error
        # Not SQLTrackerStore.__init__: it retries for ever while the database is down,
        # before Rasa even listens, so nothing could say why Rasa is not ready.
        TrackerStore.__init__(self, domain, event_broker, **kwargs)
        self._known: tuple[int, frozenset[str], frozenset[str]] | None = None
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            self._prepare_schema()

    def _setup(self, url: str | None) -> None:
        if not url or "://" not in url:
            raise TrackerStoreConfigurationError(
                "tracker_store.url in endpoints.yml must be an SQLAlchemy URL "
                "(TRACKER_STORE_URL, e.g. sqlite:///var/rasa-trackers.db)"
            )
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise TrackerStoreConfigurationError(f"{SECRET_ENV} is not set")
        try:
            self._sealer = Sealer(secret)
        except ValueError as error:
            raise TrackerStoreConfigurationError(f"{SECRET_ENV}: {error}") from None
        self._warned_other_key = False
        self._schema_ready = False
        self._warned_unusable = False  # until the database answers again
        self.engine = _create_engine(sa.engine.make_url(url))
        self._probe = _create_engine(sa.engine.make_url(url), probe=True)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    # --- schema -------------------------------------------------------------------------

    def _prepare_schema(self) -> None:
        """Creates the schema and table when missing (replicas may race: try twice)."""
        try:
            for attempt in (1, 2):
                try:
                    self._create_tables()
                    break
                except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                    if attempt == 2:
                        raise
        except sqlalchemy.exc.SQLAlchemyError as error:
            if not self._warned_unusable:
                self._warned_unusable = True
                logger.warning(
                    "The tracker database cannot be used yet (%s: %s); Rasa is not ready.",
                    type(error).__name__,
                    getattr(error, "orig", None) or "",
                )
            raise
        self._schema_ready = True
        self._warned_unusable = False

    def _create_tables(self) -> None:
        if self.engine.dialect.name == "sqlite":
            # Readers (the readiness check, other workers) then never block the writer. The
            # mode stays with the file; a worker that finds it locked leaves it to the other.
            with contextlib.suppress(sqlalchemy.exc.OperationalError), self.engine.connect() as c:
                c.exec_driver_sql("PRAGMA journal_mode=WAL")
        with self.engine.begin() as connection:
            postgres = self.engine.dialect.name == "postgresql"
            if postgres and POSTGRES_SCHEMA not in sa.inspect(connection).get_schema_names():
                connection.execute(sa.schema.CreateSchema(POSTGRES_SCHEMA))
            self.Base.metadata.create_all(connection)

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Session, None, None]:
        if not self._schema_ready:
            self._prepare_schema()
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()

    def check_connection(self) -> None:
        """Raises unless a new connection can read the table now (readiness endpoint)."""
        if not self._schema_ready:
            self._prepare_schema()
        with self._probe.connect() as connection:
            connection.execute(sa.select(self.SQLEvent.id).limit(1)).all()

    # --- reading ------------------------------------------------------------------------

    def _event_query(
        self, session: Session, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Query:
        """Rasa's query, limited to rows sealed with the current key.

        Both reading and counting (``_additional_events`` decides what is new by counting
        rows) go through here, so rows under another key never count.
        """
        event = self.SQLEvent
        ours = event.data.like(self._sealer.prefix + "%")
        session_start = (
            session.query(sa.func.max(event.timestamp).label("session_start"))
            .filter(
                event.sender_id == sender_id,
                event.type_name == SessionStarted.type_name,
                ours,
            )
            .subquery()
        )
        query = session.query(event).filter(event.sender_id == sender_id, ours)
        if not fetch_events_from_all_sessions:
            query = query.filter(
                sa.or_(
                    event.timestamp >= session_start.c.session_start,
                    session_start.c.session_start.is_(None),
                )
            )
        return query.order_by(event.id)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions).all()
            events = []
            for row in rows:
                text = self._sealer.open(row.data)
                if text is None:  # our key id but not our MAC: altered in the database
                    logger.error("A tracker event failed authentication and was skipped.")
                    continue
                events.append(json.loads(text))
            if not events:
                self._warn_once_about_other_keys(session, sender_id)
                return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _warn_once_about_other_keys(self, session: Session, sender_id: str) -> None:
        if self._warned_other_key:
            return
        event = self.SQLEvent
        others = session.query(
            sa.exists().where(
                event.sender_id == sender_id, ~event.data.like(self._sealer.prefix + "%")
            )
        ).scalar()
        if others:
            self._warned_other_key = True
            logger.warning(
                "The tracker store holds conversations sealed with another %s; they are "
                "ignored and those chats start afresh (logged once).",
                SECRET_ENV,
            )

    # --- writing ------------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's ``SQLTrackerStore.save`` with the payload sealed.

        The new events go to the event broker once they are stored, from the list this save
        computes anyway: Rasa's ``stream_events`` would read and unseal the whole
        conversation a second time to find them.
        """
        intents, names = self._known_names()
        with self.session_scope() as session:
            new_events = list(self._additional_events(session, tracker))
            for event in new_events:
                data = event.as_dict()
                intent = (data.get("parse_data") or {}).get("intent") or {}
                intent_name = intent.get(INTENT_NAME_KEY)
                action_name = data.get("name")
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent_name if intent_name in intents else None,
                        action_name=action_name if action_name in names else None,
                        data=self._sealer.seal(json.dumps(data)),
                    )
                )
            session.commit()
        if self.event_broker is not None and new_events:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    def _known_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """The domain's intents; its actions, slots and forms (cached per domain)."""
        domain = self.domain
        if self._known is None or self._known[0] != id(domain):
            names: Iterable[str] = (
                *domain.action_names_or_texts,
                *(slot.name for slot in domain.slots),
                *domain.form_names,
            )
            self._known = (id(domain), frozenset(domain.intents), frozenset(names))
        return self._known[1], self._known[2]


def _reraise(error: Exception) -> None:
    raise error


def _fail_closed(store: TrackerStore | None, domain: Domain) -> TrackerStore:
    """Rasa wraps every tracker store in a FailSafeTrackerStore, which answers a failed
    read with "no conversation" (a blank one is started: a form in progress is forgotten
    and its answers read as new questions) and a failed save by keeping the tracker in
    memory, where nothing reads it. Ours fails instead: the turn is not handled (the REST
    channel answers 503, the gateway apologises) and the stored conversation goes on after."""
    wrapped = _create_fail_safe(store, domain)
    if isinstance(store, EncryptedSQLTrackerStore) and isinstance(wrapped, FailSafeTrackerStore):
        wrapped._on_tracker_store_error = _reraise
    return wrapped


_create_fail_safe = Agent._create_tracker_store
Agent._create_tracker_store = staticmethod(_fail_closed)


def _create_engine(url: sa.engine.URL, probe: bool = False) -> sa.engine.Engine:
    """The store's engine; with ``probe``, one that opens a new connection for each use, so
    a readiness check sees whether the database can be reached now, not a pooled link."""
    backend = url.get_backend_name()
    pool: dict[str, Any] = {"poolclass": sa.pool.NullPool} if probe else {}
    if backend == "postgresql":
        kwargs: dict[str, Any] = {} if probe else create_engine_kwargs(str(url))  # Rasa's pool
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        kwargs["execution_options"] = {"schema_translate_map": {None: POSTGRES_SCHEMA}}
        # A connection the server (or the network) dropped is noticed before use.
        return sa.create_engine(url, pool_pre_ping=True, **pool, **kwargs)
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Connections stay open (a pool, used from the readiness thread too): closing the
        # last one checkpoints the WAL, which made each save cost ~25 ms instead of ~6 ms.
        engine = sa.create_engine(
            url,
            **(pool or {"poolclass": sa.pool.QueuePool}),
            connect_args={"check_same_thread": False},
        )

        @sa.event.listens_for(engine, "connect")
        def _durable_enough(dbapi_connection: Any, _record: Any) -> None:
            # With WAL, NORMAL loses no commit when Rasa is killed; only a power cut may
            # undo the last few, and then those people repeat one answer.
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    raise TrackerStoreConfigurationError(
        f"tracker store: {backend} is not supported (use sqlite or postgresql)"
    )
