"""What every request asks of the Redis store — is this task revoked, is this agent suspended —
answered from memory, kept current by a thread per process.

Every change bumps a version counter and publishes it on a channel. The thread listens on the
channel (a change is pushed to every replica within milliseconds) and, at least every
``refresh_interval`` seconds, reads the counter (the safety net for a lost message or a lost
subscription); whenever the counter moved, or every ``full_reload`` seconds anyway, it reloads
both sets. Each successful read of the counter confirms the view.

The view is *current* while it was confirmed within ``current_for`` seconds. Past that, Redis is
unreachable or too slow, and the store follows its degraded rule (``RedisStore.view``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class View:
    revoked: frozenset[str]
    suspended: frozenset[str]
    version: int
    confirmed: float  # time.monotonic() of the last successful read of the version counter


EMPTY = View(frozenset(), frozenset(), -1, float("-inf"))

Loader = Callable[[], tuple[int, frozenset[str], frozenset[str]]]


class ViewKeeper:
    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        version_key: str,
        load: Loader,
        *,
        refresh_interval: float = 0.25,
        full_reload: float = 30.0,
    ) -> None:
        self._client, self._channel, self._version_key, self._load = client, channel, version_key, load
        self._interval, self._full_reload = refresh_interval, full_reload
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one refresh at a time (the thread, or a writer in-process)
        self.view = EMPTY
        self._next_full = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load once in the caller's thread (a store that cannot be read fails at start-up), then
        keep the view current in the background."""
        self.refresh(force=True)
        self._thread = threading.Thread(target=self._run, name="redis-view", daemon=True)
        self._thread.start()

    def refresh(self, force: bool = False) -> None:
        """Read the version counter; reload the sets if it moved (or ``force``, or it is time)."""
        with self._lock:
            now = time.monotonic()
            raw = self._client.get(self._version_key)
            version = int(raw or 0)
            view = self.view
            if force or version != view.version or now >= self._next_full:
                version, revoked, suspended = self._load()
                self._next_full = now + self._full_reload
                self.view = View(revoked, suspended, version, now)
            else:
                self.view = View(view.revoked, view.suspended, view.version, now)

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                self.refresh(force=True)  # changes made while unsubscribed
                while not self._stop.is_set():
                    pubsub.get_message(timeout=self._interval)  # a change, or the interval
                    self.refresh()
            except (redis.RedisError, OSError, ValueError) as exc:
                log.warning("state store: %s; the view is not confirmed until Redis answers", exc)
                self._stop.wait(self._interval)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
