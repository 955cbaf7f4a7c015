"""PostgreSQL notifications between nodes (issue #18): what one node wrote, the others hear.

Two channels, both sent by :class:`~lanfax.store.sql.SqlStore` inside the writing transaction
(so they are delivered exactly when it commits, and never for one rolled back):

* :data:`EVENTS`: new events were committed; a node's event bus reads the store again, so a
  client following ``/api/v1/events`` on any node sees every node's events;
* :data:`SETTINGS`: a settings namespace changed (payload: its name); caches built over it
  (users and tokens, for one) are dropped, so a token revoked on one node is refused by
  every node within the notification's delay (milliseconds);
* :data:`ABORTS`: a job on a call was canceled on a node that does not hold the call (sent by
  :func:`tell_nodes` after the CANCELING state is committed); the node on the call aborts it.

:class:`PgListener` is the receiving end: a thread with its own connection that LISTENs and
hands each notification to a callback (which must be thread-safe: the service's posts it to
its event loop). It reconnects after the database went away, and then reports a ``None``
payload on every channel: "something may have changed while we were not listening".
SQLite serves one node: nothing to send, nothing to hear.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import sqlalchemy as sa

log = logging.getLogger("lanfax.init")

EVENTS = "lanfax_events"
SETTINGS = "lanfax_settings"
#: A job on a call was canceled through another node (payload: the job id): its owner aborts.
ABORTS = "lanfax_abort"
#: The advisory lock every PostgreSQL write transaction takes first (see SqlStore): commits
#: happen one at a time across nodes, so event cursors are handed out in commit order.
PG_WRITE_ORDER_LOCK = 0x1A4FA9

Callback = Callable[[str, str | None], None]


def notify(conn: sa.Connection, channel: str, payload: str = "") -> None:
    """Queue a notification in ``conn``'s transaction (sent when it commits)."""
    conn.execute(sa.select(sa.func.pg_notify(channel, payload)))


class PgListener:
    """LISTENs on ``channels`` of the database at ``url`` (a SQLAlchemy URL string) in a
    thread, calling ``callback(channel, payload)`` for each notification."""

    def __init__(self, url: str, channels: Sequence[str], callback: Callback) -> None:
        self._dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        self._channels = tuple(channels)
        self._callback = callback
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the first LISTEN is in place (or ``timeout``)."""
        self._thread = threading.Thread(target=self._run, name="lanfax-listen", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            log.warning("the database's notifications are not heard yet (still connecting)")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        import psycopg

        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    for ch in self._channels:
                        conn.execute(f'LISTEN "{ch}"')
                    self._ready.set()
                    if not first:  # missed while away: everything may have changed
                        for ch in self._channels:
                            self._callback(ch, None)
                    first = False
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5, stop_after=100):
                            self._callback(n.channel, n.payload)
            except psycopg.Error as exc:
                log.warning("listening for other nodes' changes: %s; again in 1 s", exc)
                self._stop.wait(1.0)


def listen_url(store: object) -> str | None:
    """The URL to LISTEN on for ``store``: its database's, when it is a PostgreSQL store
    (several nodes may share it); None otherwise (SQLite, memory: one node)."""
    from lanfax.store.sql import SqlStore

    if isinstance(store, SqlStore) and not store._is_sqlite:
        return store._url.render_as_string(hide_password=False)
    return None


def tell_nodes(store: object, channel: str, payload: str) -> bool:
    """Send a notification to every node of ``store``'s database now (its own transaction);
    False when there are no other nodes to tell (not PostgreSQL)."""
    from lanfax.store.sql import SqlStore

    if not isinstance(store, SqlStore) or store._is_sqlite:
        return False
    with store._write("notify nodes") as conn:
        notify(conn, channel, payload)
    return True
