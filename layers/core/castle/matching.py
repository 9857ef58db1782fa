"""The matching engine for one symbol: price-time priority, Binance semantics.

Deterministic by construction: the only inputs are the commands (which carry
their own timestamps and ids), so replaying a journal gives the same events,
and `state_hash()` lets a test compare a replay with the original run.

Matching never looks at balances (the risk hold happens before the command
reaches us, as in exchange-core), and the hot loop works on integer ticks and
lots with slotted objects only.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import replace
from heapq import heappop, heappush

from castle import errors
from castle.book import OrderBook
from castle.errors import CastleError
from castle.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PreventedMatch,
    QuoteOrderFilled,
    StopTriggered,
    TradeExecuted,
)
from castle.orders import (
    STOP_TYPES,
    TRIGGERED_TYPE,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    CancelReplaceMode,
    Order,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Side,
    StpMode,
    TimeInForce,
    resting_order,
)
from castle.stats import MINUTE_MS, AveragePrice
from castle.symbols import ONE, Symbol

try:
    import cython

    COMPILED = cython.compiled
except ImportError:  # the Lambda layer has no Cython; the engine is plain Python there
    COMPILED = False

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
STOP_LOSS, STOP_LOSS_LIMIT = OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
STP_NONE, EXPIRE_TAKER = StpMode.NONE, StpMode.EXPIRE_TAKER
EXPIRE_MAKER, EXPIRE_BOTH = StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH
EXPIRED, EXPIRED_IN_MATCH = OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH
NO_LIMIT = 1 << 126


def new_event(cls, fields: tuple):
    """A NamedTuple event from its fields, without the keyword constructor.

    Compiled, this allocates the event and fills it in place (matching.pxd): a fill's event
    cost half what a call through tuple.__new__ does, and a taker emits one per maker.
    """
    if COMPILED:
        return _alloc_event(cls, fields)  # noqa: F821 (a C function, declared in matching.pxd)
    return tuple.__new__(cls, fields)


class MatchingEngine:
    """Owns one symbol's book, its parked stop orders, and the sequence numbers."""

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol
        self.book = OrderBook()
        self.seq = 0
        self.trade_id = 0
        self.prevented_match_id = 0
        self.orders: dict[int, Order] = {}  # resting orders by id
        self.stops: dict[int, PlaceOrder] = {}  # parked stop orders by id
        self._rise: list[tuple[int, int, int]] = []  # triggers when last >= stop
        self._fall: list[tuple[int, int, int]] = []  # triggers when last <= stop (key: -stop)
        self._triggered: deque[PlaceOrder] = deque()
        self.open_count: dict[int, int] = {}  # per account: resting + parked (MAX_NUM_ORDERS)
        self.algo_count: dict[int, int] = {}  # per account: parked stops (MAX_NUM_ALGO_ORDERS)
        self.client_ids: dict[tuple[int, str], int] = {}
        avg_minutes = symbol.percent_price.avg_price_mins if symbol.percent_price else symbol.notional.avg_price_mins
        self.avg_price = AveragePrice(avg_minutes)
        self._max_orders = symbol.max_num_orders
        self._percent_price = pp = symbol.percent_price
        # Read once here: the bounds are recomputed after every trade.
        self._percent_multipliers = None if pp is None else (pp.bid_down, pp.bid_up, pp.ask_down, pp.ask_up)
        # NOTIONAL for MARKET orders, as (min, max) in quote units, or None when neither applies.
        notional = symbol.notional
        low = notional.min_notional if notional.apply_min_to_market else 0
        high = notional.max_notional if notional.max_notional and notional.apply_max_to_market else NO_LIMIT
        self._market_notional = None if (low, high) == (0, NO_LIMIT) else (low, high, symbol.tick * symbol.lot,
                                                                           10**symbol.base.scale)
        self._price_bounds: tuple | None = None

    @property
    def last_price(self) -> int | None:
        return self.avg_price.last_price

    # ------------------------------------------------------------------ commands
    def submit(self, command) -> list[Event]:
        """Apply one command; every event it causes carries its sequence number."""
        self.seq = seq = self.seq + 1
        self.book.update_id = seq
        events: list[Event] = []
        # Dispatch by type: `is` tests cost what a dict of handlers does in CPython, and compile
        # (Cython) to direct calls, which a dict of unbound methods does not.
        kind = type(command)
        if kind is PlaceOrder:
            self._place(command, seq, events)
        elif kind is CancelOrder:
            self._cancel(command, seq, events)
        elif kind is CancelReplace:
            self._cancel_replace(command, seq, events)
        elif kind is AmendOrder:
            self._amend(command, seq, events)
        elif kind is CancelAllOrders:
            self._cancel_all(command, seq, events)
        else:
            raise TypeError(f"not a command: {command!r}")
        triggered = self._triggered
        if triggered:
            ts = command.place.ts if isinstance(command, CancelReplace) else command.ts
            while triggered:
                self._run_triggered(triggered.popleft(), ts, seq, events)
        return events

    def _place(self, cmd: PlaceOrder, seq: int, events: list) -> None:
        oid, account, order_type, side, price = cmd.order_id, cmd.account, cmd.type, cmd.side, cmd.price
        qty, ts, client_id = cmd.qty, cmd.ts, cmd.client_order_id  # each read once: commands are slotted objects
        # Plain LIMIT and MARKET orders are admitted inline (the hot path); everything else, and
        # whatever the inline checks would not admit, goes through `_admit`, which gives the reason.
        admitted = False
        if (
            (order_type is LIMIT or order_type is MARKET and price is None)
            and oid not in self.orders
            and oid not in self.stops
            and client_id is None
            and self.open_count.get(account, 0) < self._max_orders
        ):
            bounds = self._price_bounds  # per minute and trade: PERCENT_PRICE_BY_SIDE's bounds, the average
            if bounds is None or not bounds[0] <= ts < bounds[8]:
                bounds = self._refresh_price_bounds(ts)
            if order_type is LIMIT:
                scaled = price * bounds[1]
                admitted = (bounds[2] <= scaled <= bounds[3]) if side is BUY else (bounds[4] <= scaled <= bounds[5])
            else:
                market_notional = self._market_notional
                if market_notional is None or qty is None or bounds[6] is None:
                    admitted = True
                else:
                    low, high, tick_lot, scale = market_notional
                    notional = bounds[6] * qty // bounds[7] * tick_lot // scale  # Symbol.quote_units
                    admitted = low <= notional <= high
        if not admitted:
            try:
                self._admit(cmd)
            except CastleError as e:
                events.append(OrderRejected(seq, oid, account, e.code, e.msg))
                return
        events.append(new_event(OrderAccepted, (seq, oid, account, side, price, qty, ts)))
        if order_type is LIMIT:
            if cmd.tif is GTC and not cmd.iceberg_qty:
                # A GTC limit that does not cross goes straight to the book.
                if side is BUY:
                    heap, levels = self.book.asks.heap, self.book.asks.levels
                    while heap and heap[0] not in levels:
                        heappop(heap)
                    crosses = bool(heap) and heap[0] <= price
                else:
                    heap, levels = self.book.bids.heap, self.book.bids.levels
                    while heap and -heap[0] not in levels:
                        heappop(heap)
                    crosses = bool(heap) and -heap[0] >= price
                if not crosses:
                    self._rest(resting_order(oid, account, side, price, qty, qty, 0, ts, client_id))
                    return
        elif order_type in STOP_TYPES:
            self.park(cmd, seq)
            return
        self._execute(cmd, order_type, ts, seq, events, oid, account, side, price, qty)

    def _refresh_price_bounds(self, ts: int) -> tuple:
        """(minute's first ms, den*ONE, bid low, bid high, ask low, ask high, average's num, den, next minute's).

        `PercentPriceBySide.check` with its right-hand sides computed once: a price is admitted when
        num*down <= price*den*ONE <= num*up. No division, so no rounding to get right, and a trade
        (which moves the average) costs five multiplications rather than four big divisions.
        """
        start = ts // MINUTE_MS * MINUTE_MS  # valid for ts in [start, end): a compare, not a division, per order
        avg = self.avg_price.value(ts)
        multipliers = self._percent_multipliers
        if avg is None:
            bounds = (start, 0, 0, 0, 0, 0, None, None, start + MINUTE_MS)  # 0 <= price*0 <= 0: every price passes
        elif multipliers is None:
            bounds = (start, 0, 0, 0, 0, 0, avg[0], avg[1], start + MINUTE_MS)
        else:
            num, den = avg
            bid_down, bid_up, ask_down, ask_up = multipliers
            bounds = (
                start,
                den * ONE,
                num * bid_down,
                num * bid_up,
                num * ask_down,
                num * ask_up,
                num,
                den,
                start + MINUTE_MS,
            )
        self._price_bounds = bounds
        return bounds

    def _admit(self, cmd: PlaceOrder) -> None:
        """The checks that need the engine's state; static filters ran at the gateway."""
        account = cmd.account
        if cmd.order_id in self.orders or cmd.order_id in self.stops:
            raise errors.duplicate_order()
        if cmd.client_order_id is not None and (account, cmd.client_order_id) in self.client_ids:
            raise errors.duplicate_order()
        symbol = self.symbol
        if self.open_count.get(account, 0) >= symbol.max_num_orders:
            raise errors.filter_failure("MAX_NUM_ORDERS")
        order_type = cmd.type
        if order_type in STOP_TYPES:
            if self.algo_count.get(account, 0) >= symbol.max_num_algo_orders:
                raise errors.filter_failure("MAX_NUM_ALGO_ORDERS")
            last = self.last_price
            if last is not None and _stop_is_met(cmd, last):
                raise errors.would_trigger()
        avg = None
        if cmd.price is not None and symbol.percent_price is not None:
            avg = self.avg_price.value(cmd.ts)
            if avg is not None:
                symbol.percent_price.check(cmd.side is BUY, cmd.price, avg[0], avg[1])
        notional = symbol.notional
        if order_type is MARKET and cmd.qty is not None and (notional.apply_min_to_market or notional.apply_max_to_market):
            avg = avg or self.avg_price.value(cmd.ts)
            if avg is not None:
                notional.check(symbol.quote_units(avg[0] * cmd.qty // avg[1]), market=True)
        if order_type is LIMIT_MAKER:
            best = self.book.opposite(cmd.side).best_price()
            if best is not None and (cmd.price >= best if cmd.side is BUY else cmd.price <= best):
                raise errors.would_take()

    def _execute(
        self, cmd: PlaceOrder, order_type: OrderType, ts: int, seq: int, events: list, oid, account, side, price, qty
    ) -> None:
        """Take liquidity, then rest or expire what is left, per type and time in force.

        `oid`..`qty` are the command's own fields, passed in because the caller has read them already.
        """
        market = order_type is MARKET
        limit = None if market else price
        tif = GTC if order_type is LIMIT_MAKER else cmd.tif
        if tif is FOK and not market and not self._can_fill(side, limit, qty, account, cmd.stp):
            events.append(OrderExpired(seq, oid, account, qty, EXPIRED))  # Binance: FOK leaves no trace
            return
        # A MARKET order may carry a quote budget: alone (quoteOrderQty), or beside its quantity as
        # the most it may spend, which is what the gateway held; it then never spends more.
        budget = cmd.quote_qty if market else None
        by_quote_only = market and qty is None
        remaining, stp_expired, out_of_liquidity = self._match(
            oid, account, side, limit, NO_LIMIT if by_quote_only else qty, budget, cmd.stp, ts, seq, events
        )
        if by_quote_only:
            traded = False  # a loop, not any(<generator>): Cython compiles no closures in cpdef methods
            for e in events:
                if type(e) is TradeExecuted and e.taker_order_id == oid:
                    traded = True
                    break
            if traded and not out_of_liquidity and not stp_expired:
                events.append(QuoteOrderFilled(seq, oid, account))
            else:
                events.append(OrderExpired(seq, oid, account, 0, EXPIRED_IN_MATCH if stp_expired else EXPIRED))
            return
        if not remaining:
            return
        if stp_expired:
            events.append(OrderExpired(seq, oid, account, remaining, EXPIRED_IN_MATCH, remaining))
        elif market or tif is not GTC:
            events.append(new_event(OrderExpired, (seq, oid, account, remaining, EXPIRED, 0)))
        else:
            self._rest(
                resting_order(oid, account, side, limit, qty, remaining, cmd.iceberg_qty or 0, ts, cmd.client_order_id)
            )

    def _match(self, oid, account, side, limit, qty, budget, stp, ts, seq, events):
        """The hot loop. Returns (remaining, expired by STP, stopped for lack of liquidity)."""
        book = self.book
        if side is BUY:
            opp = book.asks
            bound = NO_LIMIT if limit is None else limit
        else:
            opp = book.bids
            bound = NO_LIMIT if limit is None else -limit
        heap, levels, sign, dirty = opp.heap, opp.levels, opp.sign, opp.dirty
        remaining = qty
        by_qty = qty < NO_LIMIT  # False for a quote-only order: it reports no remaining quantity
        stp_on = stp is not STP_NONE
        stp_expired = False
        trade_id = self.trade_id
        has_stops = bool(self.stops)
        out_of_liquidity = True
        by_id, open_count = self.orders, self.open_count
        notional = volume = 0
        last_price = None
        while remaining:
            while heap:
                key = heap[0]
                level = levels.get(key * sign)
                if level is not None:
                    break
                heappop(heap)
            else:
                break
            if key > bound:
                break
            price = level.price
            orders = level.orders
            dirty.add(price)
            filled = gone = 0
            taker_left = remaining if by_qty else 0
            while remaining and orders:
                maker = orders[0]
                maker_left = maker.remaining
                if not maker_left:
                    orders.popleft()  # canceled earlier; removed lazily
                    continue
                if stp_on and maker.account == account:
                    # A quote-budget order has no quantity left to prevent, only money.
                    level.count -= gone
                    gone = 0
                    stp_expired = self._prevent(maker, level, oid, taker_left, price, stp, seq, events)
                    if stp_expired:
                        break
                    continue
                visible = maker.visible
                if visible == maker_left and maker_left <= remaining and budget is None:
                    # The common case: the whole maker (no iceberg slice left) fills and leaves the book.
                    remaining -= maker_left
                    filled += maker_left
                    trade_id += 1
                    maker_account = maker.account
                    maker_id = maker.id
                    if by_qty:
                        taker_left = remaining
                    maker.remaining = maker.visible = 0
                    events.append(
                        new_event(
                            TradeExecuted,
                            (
                                seq, trade_id, price, maker_left, maker_id, maker_account, 0,
                                oid, account, taker_left, side, ts,
                            ),
                        )
                    )
                    orders.popleft()
                    gone += 1
                    # Drop it from the indexes (inlined `_forget`).
                    del by_id[maker_id]
                    open_count[maker_account] -= 1
                    if maker.client_id is not None:
                        self.client_ids.pop((maker_account, maker.client_id), None)
                    continue
                fill = visible if visible < remaining else remaining
                if budget is not None:
                    affordable = budget // price
                    if affordable < fill:
                        fill = affordable
                        if not fill:
                            out_of_liquidity = False
                            break
                    budget -= fill * price
                remaining -= fill
                if by_qty:
                    taker_left = remaining
                maker_left -= fill
                visible -= fill
                maker.remaining = maker_left
                filled += fill
                trade_id += 1
                events.append(
                    new_event(
                        TradeExecuted,
                        (
                            seq, trade_id, price, fill, maker.id, maker.account, maker_left,
                            oid, account, taker_left, side, ts,
                        ),
                    )
                )
                if not visible:
                    orders.popleft()
                    if maker_left:  # iceberg: show the next slice at the back of the queue
                        visible = maker.iceberg if maker.iceberg < maker_left else maker_left
                        orders.append(maker)
                        level.qty += visible
                    else:
                        gone += 1
                        del by_id[maker.id]
                        open_count[maker.account] -= 1
                        if maker.client_id is not None:
                            self.client_ids.pop((maker.account, maker.client_id), None)
                maker.visible = visible
            if gone:
                level.count -= gone
            if filled:
                level.qty -= filled
                notional += price * filled
                volume += filled
                last_price = price
                if has_stops:
                    self._trigger_stops(price)
            if not level.count:
                del levels[price]
                heappop(heap)  # its key is still the top: drop it now rather than on the next look
            if stp_expired or (budget is not None and not out_of_liquidity):
                break
        if budget is not None and not remaining:
            out_of_liquidity = False
        self.trade_id = trade_id
        if volume:
            self.avg_price.record_trades(ts, notional, volume, last_price)
            self._price_bounds = None
        return remaining, stp_expired, out_of_liquidity

    def _prevent(self, maker: Order, level, taker_id, taker_left, price, stp, seq, events) -> bool:
        """Self-trade prevention by the taker's mode. Returns whether the taker expires."""
        self.prevented_match_id += 1
        maker_prevented = 0
        if stp is EXPIRE_MAKER or stp is EXPIRE_BOTH:
            maker_prevented = maker.remaining
            level.orders.popleft()
            level.count -= 1
            level.qty -= maker.visible
            maker.remaining = maker.visible = 0
            self._forget(maker)
        taker_expires = stp is EXPIRE_TAKER or stp is EXPIRE_BOTH
        events.append(
            PreventedMatch(
                seq, self.prevented_match_id, taker_id, maker.id, price, str(stp),
                taker_left if taker_expires else 0, maker_prevented,
            )
        )
        if maker_prevented:
            events.append(OrderExpired(seq, maker.id, maker.account, maker_prevented, EXPIRED_IN_MATCH, maker_prevented))
        return taker_expires

    def _can_fill(self, side: Side, limit: int, qty: int, account: int, stp: StpMode) -> bool:
        """Dry run for FOK: would the whole quantity fill? Changes nothing."""
        opp = self.book.opposite(side)
        available = 0
        for level in opp.sorted_levels():
            if (level.price > limit) if side is BUY else (level.price < limit):
                break
            for maker in level.orders:
                if not maker.remaining:
                    continue
                if stp is not STP_NONE and maker.account == account:
                    if stp is EXPIRE_MAKER:
                        continue
                    return False
                available += maker.remaining
                if available >= qty:
                    return True
        return False

    def _rest(self, order: Order) -> None:
        side = self.book.bids if order.side is BUY else self.book.asks
        level = side.levels.get(order.price) or side.level_for(order.price)
        level.orders.append(order)
        level.qty += order.visible
        level.count += 1
        side.dirty.add(order.price)
        self.orders[order.id] = order
        account = order.account
        self.open_count[account] = self.open_count.get(account, 0) + 1
        if order.client_id is not None:
            self.client_ids[(account, order.client_id)] = order.id

    def rest(self, order: Order) -> None:
        """Put an order at the back of its level's queue (a restored snapshot's, in queue order)."""
        self._rest(order)

    def _forget(self, order: Order) -> None:
        """Drop a finished order from the indexes (its level was already updated)."""
        del self.orders[order.id]
        account = order.account
        self.open_count[account] -= 1  # zero counts stay: one entry per account that ever traded
        if order.client_id is not None:
            self.client_ids.pop((account, order.client_id), None)

    def _unlink(self, order: Order) -> None:
        """Take a live order out of its level (cancel, amend to zero)."""
        side = self.book.bids if order.side is BUY else self.book.asks
        level = side.levels[order.price]
        level.count -= 1
        level.qty -= order.visible
        order.remaining = order.visible = 0
        side.dirty.add(order.price)
        if not level.count:
            side.drop_level(order.price)
        else:
            # Dead orders at either end go now (cheap); only those in the middle wait, and a
            # level whose queue is mostly dead is compacted once in a while.
            orders = level.orders
            while not orders[-1].remaining:
                orders.pop()
            while not orders[0].remaining:
                orders.popleft()
            if len(orders) > 2 * level.count + 32:
                level.compact()
        self._forget(order)

    # ----------------------------------------------------------------- stops
    def park(self, cmd: PlaceOrder, seq: int) -> None:
        """Park a stop until the last price meets it; `seq` ranks it among stops met by the same trade.

        The one bookkeeping of a parked stop: placing one, and restoring a snapshot's (snapshot.py).
        """
        if _rises(cmd):
            heappush(self._rise, (cmd.stop_price, seq, cmd.order_id))
        else:
            heappush(self._fall, (-cmd.stop_price, seq, cmd.order_id))
        cmd = replace(cmd)  # our own copy: an amend changes it, never the caller's command
        self.stops[cmd.order_id] = cmd
        account = cmd.account
        self.open_count[account] = self.open_count.get(account, 0) + 1
        self.algo_count[account] = self.algo_count.get(account, 0) + 1
        if cmd.client_order_id is not None:
            self.client_ids[(account, cmd.client_order_id)] = cmd.order_id

    def trigger_queues(self) -> tuple[list, list]:
        """The parked stops' live entries (key, seq, order id), rising then falling, in heap order."""
        stops = self.stops
        return [e for e in self._rise if e[2] in stops], [e for e in self._fall if e[2] in stops]

    def _trigger_stops(self, last: int) -> None:
        """Queue stops met by the last price: rising ones lowest first, falling ones highest first."""
        rise, fall, stops, out = self._rise, self._fall, self.stops, self._triggered
        while rise and rise[0][0] <= last:
            cmd = stops.get(heappop(rise)[2])
            if cmd is not None:
                out.append(cmd)
                self._unpark(cmd)
        while fall and -fall[0][0] >= last:
            cmd = stops.get(heappop(fall)[2])
            if cmd is not None:
                out.append(cmd)
                self._unpark(cmd)

    def _unpark(self, cmd: PlaceOrder) -> None:
        del self.stops[cmd.order_id]
        account = cmd.account
        for counts in (self.open_count, self.algo_count):
            left = counts[account] - 1
            if left:
                counts[account] = left
            else:
                del counts[account]
        if cmd.client_order_id is not None:
            self.client_ids.pop((account, cmd.client_order_id), None)

    def _run_triggered(self, cmd: PlaceOrder, ts: int, seq: int, events: list) -> None:
        events.append(StopTriggered(seq, cmd.order_id, cmd.account, self.last_price, ts))
        self._execute(
            cmd, TRIGGERED_TYPE[cmd.type], ts, seq, events, cmd.order_id, cmd.account, cmd.side, cmd.price, cmd.qty
        )

    # --------------------------------------------------------- cancel / amend
    def _cancel(self, cmd: CancelOrder, seq: int, events: list) -> bool:
        oid, account = cmd.order_id, cmd.account
        order = self.orders.get(oid)
        if order is not None and order.account == account:
            left = order.remaining
            self._unlink(order)
            events.append(new_event(OrderCanceled, (seq, oid, account, left, cmd.ts)))
            return True
        stop = self.stops.get(oid)
        if stop is not None and stop.account == account:
            self._unpark(stop)  # its heap entry is skipped lazily
            events.append(OrderCanceled(seq, oid, account, stop.qty or 0, cmd.ts))
            return True
        e = errors.unknown_order()
        events.append(OrderRejected(seq, oid, account, e.code, e.msg))
        return False

    def _cancel_all(self, cmd: CancelAllOrders, seq: int, events: list) -> None:
        mine = [o.id for o in self.orders.values() if o.account == cmd.account]
        mine += [s.order_id for s in self.stops.values() if s.account == cmd.account]
        if not mine:
            e = errors.unknown_order()
            events.append(OrderRejected(seq, 0, cmd.account, e.code, e.msg))
            return
        for oid in sorted(mine):
            self._cancel(CancelOrder(oid, cmd.account, cmd.ts), seq, events)

    def _amend(self, cmd: AmendOrder, seq: int, events: list) -> None:
        """Binance amend-keep-priority: only a decrease, and the order keeps its place."""
        order = self.orders.get(cmd.order_id)
        stop = self.stops.get(cmd.order_id)
        try:
            if (order is None or order.account != cmd.account) and (stop is None or stop.account != cmd.account):
                raise errors.unknown_order()
            if cmd.new_qty <= 0:
                raise errors.invalid_quantity()
            old_qty = order.qty if order is not None else stop.qty
            if old_qty is None or cmd.new_qty >= old_qty:
                raise errors.amend_increase()
        except CastleError as e:
            events.append(OrderRejected(seq, cmd.order_id, cmd.account, e.code, e.msg))
            return
        if order is None:
            stop.qty = cmd.new_qty
            events.append(OrderAmended(seq, cmd.order_id, cmd.account, old_qty, cmd.new_qty, cmd.new_qty, cmd.ts))
            return
        filled = order.qty - order.remaining
        # Amended down to (or below) what already filled: filled takes precedence, the order is FILLED.
        new_qty = max(cmd.new_qty, filled)
        remaining = new_qty - filled
        order.qty = new_qty
        if not remaining:
            self._unlink(order)
        else:
            level = (self.book.bids if order.side is BUY else self.book.asks).levels[order.price]
            visible = min(order.visible, remaining)
            level.qty += visible - order.visible
            order.remaining, order.visible = remaining, visible
            (self.book.bids if order.side is BUY else self.book.asks).dirty.add(order.price)
        events.append(OrderAmended(seq, cmd.order_id, cmd.account, old_qty, new_qty, remaining, cmd.ts))

    def _cancel_replace(self, cmd: CancelReplace, seq: int, events: list) -> None:
        canceled = self._cancel(cmd.cancel, seq, events)
        if canceled or cmd.mode is CancelReplaceMode.ALLOW_FAILURE:
            self._place(cmd.place, seq, events)

    # ------------------------------------------------------------------ reads
    def open_orders(self, account: int | None = None) -> list[Order]:
        return [o for o in self.orders.values() if account is None or o.account == account]

    def depth(self, limit: int | None = None):
        return self.book.snapshot(limit)

    def state_hash(self) -> str:
        """A digest of everything that determines future behaviour."""
        h = hashlib.sha256()
        h.update(repr((self.seq, self.trade_id, self.prevented_match_id, self.avg_price.to_dict())).encode())
        for o in self.book.orders():
            h.update(repr((o.id, o.account, str(o.side), o.price, o.qty, o.remaining, o.visible, o.iceberg, o.client_id)).encode())
        for oid in sorted(self.stops):
            h.update(repr(self.stops[oid]).encode())
        return h.hexdigest()


def _best_key(side) -> int | None:
    """The best heap key of a book side (price, or -price for bids), dropping stale keys."""
    heap, levels, sign = side.heap, side.levels, side.sign
    while heap:
        key = heap[0]
        if key * sign in levels:
            return key
        heappop(heap)
    return None


def _rises(cmd: PlaceOrder) -> bool:
    """Binance: a buy STOP_LOSS and a sell TAKE_PROFIT trigger when the price rises to the stop."""
    return (cmd.side is BUY) == (cmd.type in (STOP_LOSS, STOP_LOSS_LIMIT))


def _stop_is_met(cmd: PlaceOrder, last: int) -> bool:
    return last >= cmd.stop_price if _rises(cmd) else last <= cmd.stop_price
