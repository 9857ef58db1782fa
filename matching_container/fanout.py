"""Fan-out to WebSocket connections: a bounded queue per connection, drained by a few threads.

The publisher's loop only appends to queues, so a slow client (or a slow
@connections call) never holds it up. Each connection's frames go out in order
(one drainer per connection at a time). A connection whose queue overflows is
closed, as Binance drops a consumer that falls behind; a gone one is forgotten.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("castle.publisher")


class RawPoster(Protocol):
    def post_raw(self, connection_id: str, data: bytes) -> bool: ...

    def delete(self, connection_id: str) -> None: ...


class Fanout:
    def __init__(self, poster: RawPoster, on_gone: Callable[[str], None] = lambda _: None, workers: int = 8,
                 limit: int = 1000) -> None:
        self.poster = poster
        self.on_gone = on_gone
        self.limit = limit
        self.queues: dict[str, deque[bytes]] = {}
        self.scheduled: set[str] = set()
        self.dropped: set[str] = set()
        self.lock = threading.Lock()
        self.ready: queue.SimpleQueue = queue.SimpleQueue()
        self.sent = 0
        self.threads = [threading.Thread(target=self._drain, name=f"fanout-{i}", daemon=True) for i in range(workers)]
        for t in self.threads:
            t.start()

    def send(self, connection_id: str, data: bytes) -> None:
        with self.lock:
            if connection_id in self.dropped:
                return
            q = self.queues.setdefault(connection_id, deque())
            if len(q) >= self.limit:
                self.dropped.add(connection_id)
                q.clear()
                self.ready.put(("drop", connection_id))
                return
            q.append(data)
            if connection_id not in self.scheduled:
                self.scheduled.add(connection_id)
                self.ready.put(connection_id)

    def forget(self, live: set[str]) -> None:
        """Drop the bookkeeping of connections that no longer exist."""
        with self.lock:
            self.dropped &= live
            for gone in [c for c in self.queues if c not in live and c not in self.scheduled]:
                del self.queues[gone]

    def idle(self) -> bool:
        with self.lock:
            return not self.scheduled

    def close(self) -> None:
        for _ in self.threads:
            self.ready.put(None)
        for t in self.threads:
            t.join(timeout=2)

    def _drain(self) -> None:
        while True:
            item = self.ready.get()
            if item is None:
                return
            if isinstance(item, tuple):
                self._drop(item[1])
                continue
            self._drain_one(item)

    def _drain_one(self, connection_id: str) -> None:
        while True:
            with self.lock:
                q = self.queues.get(connection_id)
                if not q:
                    self.scheduled.discard(connection_id)
                    return
                data = q.popleft()
            try:
                alive = self.poster.post_raw(connection_id, data)
            except Exception:
                log.exception("post to %s failed", connection_id)
                alive = True  # transient (throttling, network): the next frame tries again
            if alive:
                self.sent += 1
                continue
            with self.lock:
                self.dropped.add(connection_id)
                self.queues.pop(connection_id, None)
                self.scheduled.discard(connection_id)
            self._gone(connection_id)
            return

    def _drop(self, connection_id: str) -> None:
        log.warning("closing %s: it fell %d frames behind", connection_id, self.limit)
        try:
            self.poster.delete(connection_id)
        except Exception:
            log.exception("could not close %s", connection_id)
        self._gone(connection_id)

    def _gone(self, connection_id: str) -> None:
        try:
            self.on_gone(connection_id)
        except Exception:
            log.exception("could not forget %s", connection_id)
