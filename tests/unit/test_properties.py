"""Invariants of the matching engine over random command sequences (hypothesis).

Three accounts trade around one price, so self-trade prevention happens; the
sequences mix LIMIT (GTC/IOC/FOK, iceberg), LIMIT_MAKER, MARKET by quantity
and by quote budget, the four stop types, cancels, cancel-all, amends and
cancel-replace. Commands are generated as plain tuples and built into fresh
command objects for every run, so a replay never shares objects with the
original run. Examples are derandomized and no database is kept, so CI is
repeatable.
"""

from dataclasses import dataclass, field

from castle import events as ev
from castle.matching import MatchingEngine
from castle.orders import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    CancelReplaceMode,
    OrderType,
    PlaceOrder,
    Side,
    StpMode,
    TimeInForce,
)
from hypothesis import given, settings
from hypothesis import strategies as st

P = 3_000_000
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)

accounts = st.sampled_from([1, 2, 3])
sides = st.sampled_from([Side.BUY, Side.SELL])
offsets = st.integers(-4, 4)
lots = st.integers(1, 6).map(lambda n: n * 50)
stps = st.sampled_from(list(StpMode))
tifs = st.sampled_from(list(TimeInForce))
icebergs = st.one_of(st.none(), st.sampled_from([20, 60]))
stop_types = st.sampled_from(
    [OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT]
)
target = st.tuples(st.integers(0, 1000), st.booleans())  # which earlier order, and whether its owner asks

ops = st.one_of(
    st.tuples(st.just("limit"), accounts, sides, offsets, lots, tifs, icebergs, stps),
    st.tuples(st.just("maker"), accounts, sides, offsets, lots),
    st.tuples(st.just("market"), accounts, sides, lots, stps),
    st.tuples(st.just("quote"), accounts, sides, st.integers(1, 400), stps),
    st.tuples(st.just("stop"), accounts, sides, stop_types, offsets, offsets, lots),
    st.tuples(st.just("cancel"), target),
    st.tuples(st.just("amend"), target, st.integers(1, 300)),
    st.tuples(st.just("cancel_all"), accounts),
    st.tuples(st.just("replace"), target, st.sampled_from(list(CancelReplaceMode)), offsets, lots),
)
sequences = st.lists(ops, min_size=20, max_size=80)


def build(sequence) -> list:
    """Fresh command objects for a generated sequence (order ids are 1, 2, ... by position)."""
    commands, owners = [], {}

    def pick(which):
        index, own = which
        ids = sorted(owners)
        if not ids:
            return 999_999, 1
        oid = ids[index % len(ids)]
        return oid, owners[oid] if own else owners[oid] % 3 + 1

    for i, op in enumerate(sequence):
        oid, ts, kind = i + 1, i * 7_000, op[0]
        if kind == "limit":
            _, account, side, off, qty, tif, iceberg, stp = op
            iceberg = iceberg if tif is TimeInForce.GTC else None  # Binance: icebergs are GTC
            cmd = PlaceOrder(oid, account, side, price=P + off, qty=qty, tif=tif, iceberg_qty=iceberg, stp=stp, ts=ts)
        elif kind == "maker":
            _, account, side, off, qty = op
            cmd = PlaceOrder(oid, account, side, OrderType.LIMIT_MAKER, price=P + off, qty=qty, ts=ts)
        elif kind == "market":
            _, account, side, qty, stp = op
            cmd = PlaceOrder(oid, account, side, OrderType.MARKET, qty=qty, stp=stp, ts=ts)
        elif kind == "quote":
            _, account, side, budget, stp = op
            cmd = PlaceOrder(oid, account, side, OrderType.MARKET, quote_qty=P * budget + 7, stp=stp, ts=ts)
        elif kind == "stop":
            _, account, side, type, stop_off, limit_off, qty = op
            price = P + limit_off if type in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT) else None
            cmd = PlaceOrder(oid, account, side, type, price=price, qty=qty, stop_price=P + stop_off, ts=ts)
        elif kind == "cancel":
            commands.append(CancelOrder(*pick(op[1]), ts=ts))
            continue
        elif kind == "amend":
            target_id, account = pick(op[1])
            commands.append(AmendOrder(target_id, account, op[2], ts=ts))
            continue
        elif kind == "cancel_all":
            commands.append(CancelAllOrders(op[1], ts=ts))
            continue
        else:  # replace
            _, which, mode, off, qty = op
            target_id, account = pick(which)
            side = Side.BUY if off < 0 else Side.SELL
            new = PlaceOrder(oid, account, side, price=P + off, qty=qty, ts=ts)
            owners[oid] = account
            commands.append(CancelReplace(CancelOrder(target_id, account, ts=ts), new, mode))
            continue
        owners[oid] = cmd.account
        commands.append(cmd)
    return commands


def steps(sequence, symbol):
    """Run a sequence, yielding the engine and each command's events."""
    engine = MatchingEngine(symbol)
    for command in build(sequence):
        yield engine, engine.submit(command)


@dataclass
class Ledger:
    """Per-order quantities reconstructed from events alone."""

    qty: dict = field(default_factory=dict)
    filled: dict = field(default_factory=dict)
    expired: dict = field(default_factory=dict)
    canceled: dict = field(default_factory=dict)

    def record(self, events) -> None:
        for e in events:
            if isinstance(e, ev.OrderAccepted) and e.qty is not None:
                self.qty[e.order_id] = e.qty
                self.filled[e.order_id] = self.expired[e.order_id] = self.canceled[e.order_id] = 0
            elif isinstance(e, ev.TradeExecuted):
                for oid in (e.maker_order_id, e.taker_order_id):
                    if oid in self.qty:
                        self.filled[oid] += e.qty
            elif isinstance(e, ev.OrderExpired) and e.order_id in self.qty:
                self.expired[e.order_id] += e.expired_qty
            elif isinstance(e, ev.OrderCanceled) and e.order_id in self.qty:
                self.canceled[e.order_id] += e.canceled_qty
            elif isinstance(e, ev.OrderAmended):
                # Amending below the executed quantity finishes the order at what filled
                # (see test_amend_below_the_filled_quantity_never_records_less_than_filled).
                self.qty[e.order_id] = max(e.new_qty, self.filled[e.order_id])


def remaining(engine: MatchingEngine, oid: int) -> int:
    if oid in engine.orders:
        return engine.orders[oid].remaining
    if oid in engine.stops:
        return engine.stops[oid].qty
    return 0


@SETTINGS
@given(sequence=sequences)
def test_book_is_never_crossed(btcusdt, sequence):
    for engine, _ in steps(sequence, btcusdt):
        assert not engine.book.is_crossed()


@SETTINGS
@given(sequence=sequences)
def test_no_order_fills_more_than_its_quantity(btcusdt, sequence):
    ledger = Ledger()
    for _, events in steps(sequence, btcusdt):
        ledger.record(events)
        assert all(ledger.filled[oid] <= ledger.qty[oid] for oid in ledger.qty)


@SETTINGS
@given(sequence=sequences)
def test_every_orders_quantity_is_filled_remaining_expired_or_canceled(btcusdt, sequence):
    ledger = Ledger()
    for engine, events in steps(sequence, btcusdt):
        ledger.record(events)
        for oid, qty in ledger.qty.items():
            accounted = ledger.filled[oid] + remaining(engine, oid) + ledger.expired[oid] + ledger.canceled[oid]
            assert accounted == qty, f"order {oid}"


@SETTINGS
@given(sequence=sequences)
def test_depth_is_the_sum_of_live_orders_visible_quantities(btcusdt, sequence):
    for engine, _ in steps(sequence, btcusdt):
        expected = {Side.BUY: {}, Side.SELL: {}}
        for order in engine.open_orders():
            assert 0 < order.visible <= order.remaining
            levels = expected[order.side]
            levels[order.price] = levels.get(order.price, 0) + order.visible
        snap = engine.depth()
        assert snap.bids == sorted(expected[Side.BUY].items(), reverse=True)
        assert snap.asks == sorted(expected[Side.SELL].items())


@SETTINGS
@given(sequence=sequences, snapshot_at=st.integers(0, 60))
def test_snapshot_plus_diffs_reproduces_the_book(btcusdt, local_book, sequence, snapshot_at):
    diffs, local = [], None
    for i, (engine, _) in enumerate(steps(sequence, btcusdt)):
        diff = engine.book.take_diff()
        if diff is not None:
            diffs.append(diff)
        if i == min(snapshot_at, len(sequence) - 1):
            local = local_book(engine.depth())
    for diff in diffs:
        local.apply(diff)
    assert local.depth() == (engine.depth().bids, engine.depth().asks)


@SETTINGS
@given(sequence=sequences)
def test_replay_gives_identical_events_and_state_hash(btcusdt, sequence):
    runs = []
    for _ in range(2):
        log, engine = [], MatchingEngine(btcusdt)
        for command in build(sequence):
            log.extend(ev.to_dict(e) for e in engine.submit(command))
        runs.append((log, engine.state_hash()))
    assert runs[0] == runs[1]


@SETTINGS
@given(sequence=sequences)
def test_every_event_carries_its_commands_seq(btcusdt, sequence):
    for seq, (_, events) in enumerate(steps(sequence, btcusdt), start=1):
        assert {e.seq for e in events} <= {seq}


@SETTINGS
@given(sequence=sequences)
def test_trades_never_cross_the_takers_limit_price(btcusdt, sequence):
    commands = {}
    for command in build(sequence):
        place = command.place if isinstance(command, CancelReplace) else command
        if isinstance(place, PlaceOrder):
            commands[place.order_id] = place
    for _, events in steps(sequence, btcusdt):
        for t in events:
            if isinstance(t, ev.TradeExecuted) and commands[t.taker_order_id].price is not None:
                limit = commands[t.taker_order_id].price
                assert t.price <= limit if t.taker_side is Side.BUY else t.price >= limit
