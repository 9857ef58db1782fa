"""The market-data publisher: `python -m matching_container.publisher`.

Engine output in, Binance's stream messages out, each encoded once onto the
frame bus (see the end of this docstring):

- trades, aggTrades and klines: a consumer group (`publisher`, castle.adapters.redis_consumer) on every
  symbol's events stream, through castle.marketdata's projection (the same code
  as the REST projector, so ids and candles agree). Its state is stored with
  the XACK in one MULTI: after kill -9 it resumes from its group position, and
  what a restart re-reads but is older than STALE_MS is not sent again.
- depth (`@depth`, `@depth@100ms`, `@depth5/10/20`): consistent reads of the
  engine's depth mirror every 100 ms (and 1 s), diffed against the publisher's
  replicas (`BookReplica`). The replicas follow the book whether or not anyone
  listens: a diff is always against the book as last read, so a new listener
  hears only what changes after it came (nothing on connect), and the change
  that follows is never swallowed by loading a replica. `U`/`u` are the
  engine's update ids, the ids `/api/v3/depth` reports: a client following
  Binance's "manage a local order book" procedure ends with the engine's book.
  A restart starts new replicas, so its first diff begins after a gap: clients
  resync, as Binance's procedure tells them to, and never hold a wrong book.
- `@bookTicker`: Binance pushes every change of the best bid or ask, price or
  quantity. The engine marks each command that changed its top with the new
  top (the events entry's `top` field), so each change goes out, in order, and
  a top that moves and comes back between two depth reads is not lost.
- `@miniTicker`, `@ticker`, `!miniTicker@arr`: every second, when changed,
  from the projector's 1m candles (the numbers of `/api/v3/ticker/24hr`).

- the user data stream: the `executionReport`s settlement appends to each
  symbol's `castle:{SYMBOL}:userdata` (and the wallet's `balanceUpdate`s),
  read with the same consumer group, go to the report's account; each read
  ends with an `outboundAccountPosition` per account, of the assets its
  reports moved, read from the ledger then.

Each message is encoded once and published to its stream's channel on the
frame bus (castle.adapters.redis_frames); the stream gateways
(matching_container.gateway) hold the client connections. Who listens comes
from the bus itself (PUBSUB CHANNELS), so only what someone receives is
encoded. It is read after each read of events and each read of the book, and
before the messages they make are built: a gateway answers a SUBSCRIBE (or a
connect) only once Redis confirmed its subscription, so whatever happens after
the answer is read after the subscription exists, and reaches the client, on
the first connection as on the hundredth.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import redis

from castle import user_data
from castle.adapters.redis_consumer import RedisConsumer
from castle.adapters.redis_frames import RedisFrameBus
from castle.adapters.redis_keys import (
    WALLET_SHARD,
    depth_update_id_key,
    events_key,
    market_channel,
    publisher_state_key,
    user_channel,
    user_data_key,
)
from castle.adapters.redis_marketdata import RedisMarketDataReader
from castle.adapters.redis_streams import RedisBookMirror, connect
from castle.marketdata import stream_messages as msg
from castle.marketdata import views
from castle.marketdata.intervals import INTERVALS, close_time
from castle.marketdata.projection import MarketDataProjection, ProjectionState, parse_entry_id
from castle.symbols import Symbol, default_symbols
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.publisher")
GROUP = "publisher"
STALE_MS = 5_000  # a restart re-reads entries; older ones are history, not news
FULL_BOOK = 1_000_000
COMPACT = (",", ":")


class Routes:
    """The market streams and the accounts someone listens to, as last read from the bus."""

    def __init__(self, streams: set[str] | None = None, users: set[int] | None = None) -> None:
        self.streams = streams or set()
        self.users = users or set()

    def any(self, names: Iterable[str]) -> bool:
        return any(n in self.streams for n in names)


class SymbolFeed:
    """One symbol's publishing state."""

    def __init__(self, symbol: Symbol, state: ProjectionState) -> None:
        self.symbol = symbol
        self.prefix = symbol.name.lower()
        self.projection = MarketDataProjection(state)
        self.fast = msg.BookReplica()  # advanced every 100 ms
        self.slow = msg.BookReplica()  # advanced every 1 s
        self.ticker_sent: tuple | None = None
        self.kline_closed: dict[str, int] = {}  # interval -> open time of the last candle sent closed


class Publisher:
    def __init__(self, client: redis.Redis, symbols: Iterable[Symbol], clock: Callable[[], float] = time.time,
                 consumer: str = "publisher", block_ms: int = 100, count: int = 1000,
                 balances: Callable[[int], Mapping[str, tuple[int, int]]] = lambda _: {},
                 listening: Callable[[], Routes] | None = None) -> None:
        self.client = client
        self.bus = RedisFrameBus(client)
        # Who listens, read again before each batch of messages is built (tests pass a fixed set).
        self.listening = listening or (lambda: Routes(*self.bus.listening()))
        self.outbox: list[tuple[str, str]] = []  # (channel, frame), published at the end of each step
        self.balances = balances  # account -> asset -> (free, locked), for outboundAccountPosition
        self.clock = clock
        self.block_ms = block_ms
        self.mirror = RedisBookMirror(client)
        self.market = RedisMarketDataReader(client)
        self.symbols = {s.name: s for s in symbols}
        self.symbol_of = {events_key(s): s for s in self.symbols}
        self.user_keys = [user_data_key(s) for s in self.symbols] + [user_data_key(WALLET_SHARD)]
        # The events from their start (the projection's state says what was sent); user data from the group's
        # creation on: before the publisher's first start, no one can have listened.
        starts = dict.fromkeys(self.symbol_of, "0") | dict.fromkeys(self.user_keys, "$")
        self.reader = RedisConsumer(client, GROUP, consumer, starts, count=count)
        self.feeds: dict[str, SymbolFeed] = {}
        self.routes = Routes()
        self.next_fast = 0.0
        self.next_slow = 0.0

    # ------------------------------------------------------------ plumbing
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def refresh_routes(self) -> None:
        """Who listens now: after the input a batch is built from was read, so no subscription made before it
        happened is missed."""
        self.routes = self.listening()

    def emit(self, stream: str, payload: dict | list) -> None:
        """Queue one message for the listeners of a market stream (encoded once, whoever listens)."""
        if stream in self.routes.streams:
            self.outbox.append((market_channel(stream), json.dumps(payload, separators=COMPACT)))

    def emit_user(self, account: int, payload: dict) -> None:
        self.outbox.append((user_channel(account), json.dumps(payload, separators=COMPACT)))

    def flush(self) -> None:
        outbox, self.outbox = self.outbox, []
        self.bus.publish(outbox)

    # -------------------------------------------------------------- events
    def recover(self) -> None:
        self.reader.create_groups()
        for name in self.symbol_of.values():
            raw = self.client.get(publisher_state_key(name))
            state = ProjectionState() if raw is None else ProjectionState.from_dict(json.loads(raw))
            self.feeds[name] = SymbolFeed(self.symbols[name], state)
        self.reader.reclaim()
        for feed in self.feeds.values():  # the replicas start from the book as it is now: the next change is news
            book = self.mirror.depth(feed.symbol.name, FULL_BOOK)
            feed.fast.advance(book)
            feed.slow.advance(book)
        while self._read("0", block=None):
            self.flush()
        log.info("recovered: %s", ", ".join(f"{s}@{f.projection.state.cursor}" for s, f in self.feeds.items()))

    def _read(self, position: str, block: int | None) -> int:
        """One read: this consumer's pending entries (`position` "0") or new ones (">")."""
        batches = self.reader.read(pending=position == "0", block_ms=block)
        if batches:
            self.refresh_routes()
        handled = 0
        for batch in batches:
            if batch.stream in self.symbol_of:
                self.apply(self.symbol_of[batch.stream], batch.entries)
            else:
                self.apply_user_data(batch.stream, batch.entries)
            handled += len(batch.entries)
        return handled

    def apply_user_data(self, key: str, entries: list) -> None:
        """Reports to their accounts' listenKey connections, then each account's position once."""
        users = self.routes.users
        moved: dict[int, set[str]] = {}
        updated = 0
        for entry_id, fields in entries:
            if fields is None:
                continue
            try:
                account, event = int(fields["account"]), json.loads(fields["event"])
            except (KeyError, ValueError):
                log.error("malformed user data %s on %s", entry_id, key)
                continue
            if account not in users:
                continue
            self.emit_user(account, event)
            moved.setdefault(account, set()).update(a for a in fields.get("assets", "").split(",") if a)
            updated = max(updated, parse_entry_id(entry_id)[0])
        now = self.now_ms()
        for account, assets in moved.items():
            if not assets:
                continue
            try:
                position = user_data.account_position(self.balances(account), assets, now, updated)
            except Exception:
                log.exception("could not read the balances of account %s", account)
                continue
            self.emit_user(account, position)
        self.reader.commit(key, [e[0] for e in entries])

    def apply(self, name: str, entries: list) -> None:
        feed = self.feeds[name]
        projection = feed.projection
        tops = []  # (update id, bid, ask) of each command that changed the book's top, in order
        for entry_id, fields in entries:
            if fields is None:
                continue
            try:
                event = json.loads(fields["event"])
                if "top" in fields:
                    tops.append((int(fields["seq"]), *json.loads(fields["top"])))
            except (KeyError, ValueError, TypeError):
                log.error("malformed event %s on %s", entry_id, name)
                continue
            projection.apply(entry_id, event)
        changes = projection.take_changes()
        state = json.dumps(projection.state.to_dict(), separators=COMPACT)
        self.reader.commit(events_key(name), [e[0] for e in entries],
                           lambda pipe: pipe.set(publisher_state_key(name), state))
        now = self.now_ms()
        fresh_from = now - STALE_MS
        if parse_entry_id(entries[-1][0])[0] < fresh_from:
            return
        symbol, prefix = feed.symbol, feed.prefix
        for update_id, bid, ask in tops:
            self.emit(f"{prefix}@bookTicker", msg.book_ticker(symbol, update_id, _level(bid), _level(ask)))
        for trade in changes.trades:
            self.emit(f"{prefix}@trade", msg.trade(symbol, trade, now))
        for agg in changes.aggs.values():
            self.emit(f"{prefix}@aggTrade", msg.agg_trade(symbol, agg, now))
        for interval, candles in changes.klines.items():
            stream = f"{prefix}@kline_{interval}"
            if stream in self.routes.streams:
                for candle in candles.values():
                    self.emit(stream, msg.kline(symbol, interval, candle, now, close_time(interval, candle.open_time) < now))

    # --------------------------------------------------------------- depth
    def tick_depth(self, slow: bool) -> None:
        """Advance every replica the book moved past (listened to or not), then send the diffs someone hears."""
        now = self.now_ms()
        moved: list[tuple[SymbolFeed, msg.BookReplica, tuple | None, str]] = []
        for feed in self.feeds.values():
            last = int(self.client.get(depth_update_id_key(feed.symbol.name)) or 0)
            replicas = [(feed.fast, "@100ms")] + ([(feed.slow, "")] if slow else [])
            behind = [(r, speed) for r, speed in replicas if last > r.last_update_id]
            if not behind:
                continue
            book = self.mirror.depth(feed.symbol.name, FULL_BOOK)
            moved.extend((feed, replica, replica.advance(book), speed) for replica, speed in behind)
        if not moved:
            return
        self.refresh_routes()
        for feed, replica, diff, speed in moved:
            self._publish_depth(feed, replica, diff, speed, now)

    def _publish_depth(self, feed: SymbolFeed, replica: msg.BookReplica, diff: tuple | None, speed: str,
                       now: int) -> None:
        if diff is None:
            return
        first, last, bids, asks = diff
        self.emit(f"{feed.prefix}@depth{speed}", msg.depth_update(feed.symbol, now, first, last, bids, asks))
        for n in msg.PARTIAL_DEPTHS:
            stream = f"{feed.prefix}@depth{n}{speed}"
            if stream in self.routes.streams:
                self.emit(stream, msg.partial_depth(feed.symbol, replica.snapshot(n), n))

    # ------------------------------------------------------------- tickers
    def tick_tickers(self) -> None:
        now = self.now_ms()
        self.refresh_routes()
        minis = []
        want_all = "!miniTicker@arr" in self.routes.streams
        for feed in self.feeds.values():
            p = feed.prefix
            self._close_klines(feed, now)
            if not (want_all or self.routes.any((f"{p}@miniTicker", f"{p}@ticker"))):
                continue
            opened, _ = views.ticker_window(now)
            minutes, before = self.market.klines(feed.symbol.name, "1m", opened, now)
            stats = views.day_stats(minutes, now, before, self.market.last_trade(feed.symbol.name))
            key = (stats.last_id, stats.count, stats.open, stats.volume)
            if key == feed.ticker_sent:
                continue
            feed.ticker_sent = key
            mini = msg.mini_ticker(feed.symbol, stats, now)
            minis.append(mini)
            self.emit(f"{p}@miniTicker", mini)
            bid, ask = feed.fast.top() if feed.fast.loaded else self.market.book_top(feed.symbol.name)
            self.emit(f"{p}@ticker", msg.ticker(feed.symbol, stats, bid, ask, now))
        if minis:
            self.emit("!miniTicker@arr", minis)

    def _close_klines(self, feed: SymbolFeed, now: int) -> None:
        """Binance sends a candle once more when it closes (`x: true`)."""
        for interval in INTERVALS:
            stream = f"{feed.prefix}@kline_{interval}"
            candle = feed.projection.state.klines.get(interval)
            if candle is None:
                continue
            if close_time(interval, candle.open_time) < now and feed.kline_closed.get(interval) != candle.open_time:
                feed.kline_closed[interval] = candle.open_time  # listened to or not: a close is news once
                if stream in self.routes.streams:
                    self.emit(stream, msg.kline(feed.symbol, interval, candle, now, True))

    # ---------------------------------------------------------------- loop
    def step(self) -> None:
        now = self.clock()
        wait_ms = max(1, min(self.block_ms, int((self.next_fast - now) * 1000)))
        self._read(">", block=wait_ms)
        self.flush()
        now = self.clock()
        if now >= self.next_fast:
            slow = now >= self.next_slow
            self.tick_depth(slow)
            self.next_fast = now + 0.1
            if slow:
                self.tick_tickers()
                self.next_slow = now + 1.0
            self.flush()

    def run(self, stop: threading.Event) -> None:
        self.recover()
        log.info("ready: %s", ", ".join(self.feeds))
        while not stop.is_set():
            try:
                self.step()
            except redis.RedisError:
                log.exception("redis error; resuming from the pending entries")
                stop.wait(1.0)
                if not stop.is_set():
                    self.recover()
        log.info("stopped")


def _level(pair: list | None) -> tuple[int, int] | None:
    return None if pair is None else (int(pair[0]), int(pair[1]))


def bootstrap(settings: EngineSettings) -> Publisher:
    from castle.adapters.bootstrap import Adapters

    listed = default_symbols()
    ledger = Adapters(settings.stack).ledger
    return Publisher(connect(settings.redis_url), [listed[s] for s in settings.symbols],
                     balances=lambda account: ledger.balances(str(account)))


def main() -> int:
    return run_process("market-data publisher", run, required_env=("BALANCES_TABLE",))


def run(settings: EngineSettings, stop: threading.Event) -> None:
    bootstrap(settings).run(stop)


if __name__ == "__main__":
    sys.exit(main())
