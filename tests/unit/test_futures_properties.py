"""Invariants of the futures engine over random journals: money, reduce-only, margin, the book, the bookkeeping."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from castle.futures.accounts import order_value
from castle.futures.commands import (
    FuturesCancel,
    SetLeverage,
    SetMarginType,
    SettleFunding,
    TransferOut,
)
from castle.futures.events import OrderRejected, OrderUpdated, PositionChanged, WalletPosting
from castle.futures.margin import MarginType
from tests.futures_world import World, u

ACCOUNTS = (1, 2, 3, 4)
PRICES = [u(p) for p in ("49500", "49900", "50000", "50000", "50100", "50500")]
QTYS = [u(q) for q in ("0.002", "0.01", "0.05", "0.1", "0.3")]

order_cmd = st.fixed_dictionaries({
    "account": st.sampled_from(ACCOUNTS),
    "side": st.sampled_from(["BUY", "SELL"]),
    "qty": st.sampled_from(QTYS),
    "price": st.sampled_from(PRICES),
    "kind": st.sampled_from(["LIMIT", "LIMIT", "MARKET", "IOC", "GTX", "STOP_MARKET", "TAKE_PROFIT",
                             "TRAILING_STOP_MARKET"]),
    "reduce_only": st.booleans(),
    "working": st.sampled_from(["CONTRACT_PRICE", "MARK_PRICE"]),
})
orders = order_cmd.map(lambda d: ("order", d))
others = st.one_of(
    st.tuples(st.just("mark"), st.sampled_from(PRICES)),
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(1, 60)),
    st.tuples(st.just("funding"), st.sampled_from([-30_000, -10_000, 10_000, 75_000])),
    st.tuples(st.just("leverage"), st.sampled_from(ACCOUNTS), st.sampled_from([1, 5, 20, 50, 125])),
    st.tuples(st.just("isolated"), st.sampled_from(ACCOUNTS)),
    st.tuples(st.just("withdraw"), st.sampled_from(ACCOUNTS), st.sampled_from(QTYS)),
)
crossing = st.tuples(st.just("cross"), st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.sampled_from(
    ["BUY", "SELL"]), st.sampled_from(QTYS), st.sampled_from(PRICES), st.booleans())
# Mostly orders, and a third of them a maker with a taker that meets it: a property that never trades proves nothing.
command = st.integers(0, 9).flatmap(lambda i: crossing if i < 3 else orders if i < 8 else others)


def run(world: World, step) -> list:
    kind = step[0]
    if kind == "order":
        d = step[1]
        k = d["kind"]
        side = d["side"]
        if k in ("LIMIT", "GTX", "IOC"):
            tif = {"LIMIT": "GTC", "GTX": "GTX", "IOC": "IOC"}[k]
            return world.order(d["account"], side, str_units(d["qty"]), str_units(d["price"]), tif=tif,
                               reduce_only=d["reduce_only"])
        if k == "MARKET":
            return world.order(d["account"], side, str_units(d["qty"]), reduce_only=d["reduce_only"])
        extra = {"callback": "1"} if k == "TRAILING_STOP_MARKET" else {"stop": str_units(d["price"])}
        price = str_units(d["price"]) if k == "TAKE_PROFIT" else None
        return world.order(d["account"], side, str_units(d["qty"]), price, type=k, working=d["working"],
                           reduce_only=d["reduce_only"], **extra)
    if kind == "cross":
        _, maker, taker, side, qty, price, reduce_only = step
        world.order(maker, side, str_units(qty), str_units(price))
        return world.order(taker, "SELL" if side == "BUY" else "BUY", str_units(qty), reduce_only=reduce_only)
    if kind == "mark":
        return world.mark("BTCUSDT", str_units(step[1]))
    if kind == "cancel":
        return world.submit(FuturesCancel("BTCUSDT", step[2], step[1], world.ts))
    if kind == "funding":
        world.ts += 1
        return world.submit(SettleFunding("BTCUSDT", step[1], world.ts))
    if kind == "leverage":
        return world.submit(SetLeverage(step[1], "BTCUSDT", step[2]))
    if kind == "isolated":
        return world.submit(SetMarginType(step[1], "BTCUSDT", MarginType.ISOLATED))
    return world.submit(TransferOut(step[1], 10_000 + len(world.log), step[2] * 1000, world.ts))


def str_units(value: int) -> str:
    whole, frac = divmod(value, 10**8)
    return f"{whole}.{frac:08d}"


def fresh_world() -> World:
    world = World()
    for account in ACCOUNTS:
        world.fund(account, "3000")
    world.mark("BTCUSDT", "50000")
    return world


def funded(world: World) -> int:
    return sum(e.amount for _, evs in world.log for e in evs if isinstance(e, WalletPosting) and e.kind == "TRANSFER")


journals = st.lists(command, min_size=1, max_size=60)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(journals)
def test_usdt_is_conserved_across_wallets_fees_and_open_positions(steps):
    world = fresh_world()
    for step in steps:
        run(world, step)
        engine = world.engine
        postings = [e for _, evs in world.log for e in evs if isinstance(e, WalletPosting)]
        fees = -sum(e.amount for e in postings if e.kind == "COMMISSION")
        realized = sum(e.amount for e in postings if e.kind == "REALIZED_PNL")
        wallets = sum(a.wallet for a in engine.accounts.values())
        assert wallets + fees - realized == funded(world)  # each wallet is its postings; funding nets to zero
        # the clearing identity: what positions realized equals what the open ones still carry at cost
        assert realized == sum(leg.position.signed_cost() for a in engine.accounts.values()
                               for leg in a.legs.values())


@fast
@given(journals)
def test_a_reduce_only_order_never_increases_a_position(steps):
    world = fresh_world()
    amounts: dict = {}
    for step in steps:
        pending = None
        for e in run(world, step):
            if isinstance(e, OrderUpdated) and e.execution == "TRADE":
                pending = e.order if (e.order.reduce_only or e.order.close_position) else None
            elif isinstance(e, PositionChanged):
                key = (e.account, e.symbol, e.position_side)
                before = amounts.get(key, 0)
                if pending is not None and pending.account == e.account:
                    assert abs(e.amount) <= abs(before) and e.amount * before >= 0
                    pending = None
                amounts[key] = e.amount


@fast
@given(journals)
def test_placing_an_order_never_takes_the_available_balance_below_zero(steps):
    world = fresh_world()
    for step in steps:
        account = step[1]["account"] if step[0] == "order" else step[2] if step[0] == "cross" else None
        before = world.available(account) if account else None
        events = run(world, step)
        if account is None or any(isinstance(e, OrderRejected) for e in events):
            continue
        if before >= 0 and (step[0] == "cross" or step[1]["kind"] in ("LIMIT", "GTX", "IOC", "MARKET")):
            assert world.available(account) >= 0


@fast
@given(journals)
def test_the_book_never_crosses_and_each_leg_adds_up_its_working_orders(steps):
    world = fresh_world()
    for step in steps:
        run(world, step)
        engine = world.engine
        book = engine.books["BTCUSDT"].book
        bid, ask = book.bids.best_price(), book.asks.best_price()
        assert bid is None or ask is None or bid < ask
        for account in engine.accounts.values():
            for (symbol, side), leg in account.legs.items():
                mine = [w for w in engine.orders.values()
                        if w.cmd.account == account.id and w.cmd.symbol == symbol and w.cmd.position_side is side]
                assert leg.orders == len(mine)
                assert leg.bids == sum(order_value(w.remaining, w.cmd.price) for w in mine if w.cmd.side == "BUY")
                assert leg.asks == sum(order_value(w.remaining, w.cmd.price) for w in mine if w.cmd.side == "SELL")
                assert leg.closing_qty == sum(w.remaining for w in mine if w.closing)
                assert leg.closing_qty <= leg.position.qty


def test_a_property_run_uses_orders_that_fill():
    """The strategies reach fills at all (a property that never trades proves nothing)."""
    world = fresh_world()
    run(world, ("order", {"account": 1, "side": "SELL", "qty": QTYS[1], "price": PRICES[3], "kind": "LIMIT",
                          "reduce_only": False, "working": "CONTRACT_PRICE"}))
    events = run(world, ("order", {"account": 2, "side": "BUY", "qty": QTYS[1], "price": PRICES[3],
                                   "kind": "MARKET", "reduce_only": False, "working": "CONTRACT_PRICE"}))
    assert any(isinstance(e, PositionChanged) for e in events)
    assert order_value(QTYS[1], PRICES[3]) == u("500")


@fast
@given(journals, st.integers(0, 60))
def test_a_snapshot_restores_an_engine_that_behaves_as_the_original(steps, cut):
    from castle.futures.brackets import default_brackets
    from castle.futures.contracts import default_contracts
    from castle.futures.snapshot import restore, take_snapshot

    world = fresh_world()
    for step in steps[:cut]:
        run(world, step)
    data = json.loads(json.dumps(take_snapshot(world.engine)))  # as it is stored: JSON
    restored = World()
    restored.engine = restore(default_contracts(), default_brackets(), data)
    restored.ids, restored.ts = world.ids, world.ts
    assert restored.engine.state_hash() == world.engine.state_hash()
    for step in steps[cut:]:
        mark = len(world.log)
        run(world, step)
        for command, events in world.log[mark:]:  # the same commands, as a replay of the journal sends them
            assert restored.engine.submit(command) == events
    assert restored.engine.state_hash() == world.engine.state_hash()
