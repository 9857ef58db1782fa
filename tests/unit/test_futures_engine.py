"""The futures engine: the risk stage around each contract's book, with exact vectors (BTCUSDT, 20x default)."""

from __future__ import annotations

import pytest

from castle.futures.brackets import default_brackets
from castle.futures.commands import (
    AdjustIsolatedMargin,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
    SettleFunding,
    TransferIn,
    TransferOut,
)
from castle.futures.contracts import default_contracts
from castle.futures.engine import FuturesEngine
from castle.futures.events import FundingSettled, FuturesTrade, OrderUpdated, WalletPosting
from castle.futures.margin import MarginType
from castle.futures.positions import PositionSide
from tests.futures_world import World, order_id, rejected, statuses, u

A, B, C, X, Y = 1, 2, 3, 4, 5


@pytest.fixture
def world() -> World:
    w = World()
    for account in (A, B, C, X, Y):
        w.fund(account, "10000")
    w.mark("BTCUSDT", "50000")
    return w


def open_pair(world: World, long: int = B, short: int = A, qty: str = "0.1", price: str = "50000") -> None:
    world.order(short, "SELL", qty, price)
    world.order(long, "BUY", qty, type="MARKET")


# ------------------------------------------------------------- fills and money
def test_a_fill_opens_both_positions_and_charges_maker_and_taker_fees(world):
    open_pair(world)
    assert (world.position(A), world.position(B)) == (-u("0.1"), u("0.1"))
    assert world.wallet(A) == u("9999")  # 5,000 notional x 0.02%
    assert world.wallet(B) == u("9997.5")  # x 0.05%
    assert world.leg(B).position.entry_price() == u("50000")


def test_a_close_realizes_pnl_and_the_usdt_is_all_accounted_for(world):
    open_pair(world)
    world.mark("BTCUSDT", "51000")
    world.order(A, "BUY", "0.1", "51000")
    events = world.order(B, "SELL", "0.1", type="MARKET")
    pnl = {e.account: e.amount for e in events if isinstance(e, WalletPosting) and e.kind == "REALIZED_PNL"}
    assert pnl == {A: -u("100"), B: u("100")}
    assert world.wallet(A) == u("9897.98")
    assert world.wallet(B) == u("10094.95")
    fees = sum(-e.amount for _, evs in world.log for e in evs if isinstance(e, WalletPosting) and e.kind == "COMMISSION")
    assert fees == u("7.07")
    assert world.wallet(A) + world.wallet(B) + fees == u("20000")


def test_a_trade_reports_one_notional_for_both_sides(world):
    world.order(A, "SELL", "0.003", "50000.1")
    events = world.order(B, "BUY", "0.003", "50000.1")
    trade = next(e for e in events if isinstance(e, FuturesTrade))
    assert trade.quote == u("150.0003")
    assert (trade.buyer_account, trade.seller_account, trade.buyer_is_maker) == (B, A, False)


# --------------------------------------------------------- pre-trade margin
def test_an_order_needs_exactly_its_initial_margin_available():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "250")
    assert rejected(w.order(C, "BUY", "0.1", "50000")) is None  # 5,000 / 20


def test_one_unit_less_than_the_initial_margin_is_rejected_with_2019():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "249.99999999")
    events = w.order(C, "BUY", "0.1", "50000")
    assert rejected(events) == (-2019, "Margin is insufficient.")
    assert w.engine.orders == {} and w.leg(C).bids == 0


def test_a_buy_above_the_mark_also_holds_its_open_loss():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "260.49999999")  # IM 5,010 / 20 = 250.5, open loss 0.1 x (50,100 - 50,000) = 10
    assert rejected(w.order(C, "BUY", "0.1", "50100"))[0] == -2019
    w.fund(C, "0.00000001")
    assert rejected(w.order(C, "BUY", "0.1", "50100")) is None


def test_two_orders_on_both_sides_hold_only_the_larger_side():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "255")
    w.order(C, "BUY", "0.1", "49000")  # 4,900 / 20 = 245
    assert rejected(w.order(C, "SELL", "0.1", "51000")) is None  # max(4,900, 5,100) / 20 = 255: 10 more
    assert w.available(C) == 0


def test_an_order_that_only_closes_needs_no_margin(world):
    open_pair(world)
    available = world.available(A)
    world.submit(TransferOut(A, 999, available, world.ts))
    assert world.available(A) == 0
    assert rejected(world.order(A, "BUY", "0.1", "49000", reduce_only=True)) is None


def test_leverage_changes_what_an_order_holds():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "499.99999999")
    w.submit(SetLeverage(C, "BTCUSDT", 10))
    assert rejected(w.order(C, "BUY", "0.1", "50000"))[0] == -2019


# ----------------------------------------------------------- reduce-only
def test_a_reduce_only_order_on_a_flat_position_is_rejected(world):
    assert rejected(world.order(A, "SELL", "0.1", "50000", reduce_only=True)) == (-2022,
                                                                                   "ReduceOnly Order is rejected.")


def test_a_reduce_only_order_larger_than_the_position_is_reduced_to_it(world):
    open_pair(world)
    events = world.order(B, "SELL", "0.5", "51000", reduce_only=True)
    assert world.engine.orders[order_id(events)].qty == u("0.1")


def test_a_reduce_only_maker_never_fills_past_the_position_its_account_closed_first(world):
    open_pair(world, long=X, short=Y, qty="0.2")
    world.order(X, "SELL", "0.2", "50100")  # a plain order, ahead in price
    ro = order_id(world.order(X, "SELL", "0.2", "50200", reduce_only=True))
    events = world.order(C, "BUY", "0.4", "50200", tif="IOC")
    assert world.position(X) == 0
    assert (ro, "EXPIRED") in statuses(events)
    assert sum(e.qty for e in events if isinstance(e, FuturesTrade)) == u("0.2")


def test_a_position_that_shrinks_trims_its_reduce_only_orders(world):
    open_pair(world, long=X, short=Y, qty="0.2")
    ro = order_id(world.order(X, "SELL", "0.2", "51000", reduce_only=True))
    world.order(A, "BUY", "0.1", "50000")
    world.order(X, "SELL", "0.1", type="MARKET")
    assert world.position(X) == u("0.1")
    assert world.engine.orders[ro].qty == u("0.1")


# ------------------------------------------------------------- hedge mode
def test_hedge_mode_wants_long_or_short(world):
    world.submit(SetPositionMode(C, True))
    assert rejected(world.order(C, "BUY", "0.1", "50000"))[0] == -4061


def test_hedge_mode_refuses_reduce_only_as_binance_does(world):
    world.submit(SetPositionMode(C, True))
    assert rejected(world.order(C, "BUY", "0.1", "50000", position_side="SHORT", reduce_only=True))[0] == -1106


def test_a_hedge_close_larger_than_its_leg_is_rejected(world):
    world.submit(SetPositionMode(C, True))
    world.order(A, "BUY", "0.1", "50000")
    world.order(C, "SELL", "0.1", type="MARKET", position_side="SHORT")
    assert world.position(C, side="SHORT") == -u("0.1")
    assert rejected(world.order(C, "BUY", "0.2", "49000", position_side="SHORT"))[0] == -2022


def test_hedge_legs_are_held_apart(world):
    world.submit(SetPositionMode(C, True))
    world.order(A, "BUY", "0.1", "50000")
    world.order(C, "SELL", "0.1", type="MARKET", position_side="SHORT")
    world.order(A, "SELL", "0.1", "50000")
    world.order(C, "BUY", "0.1", type="MARKET", position_side="LONG")
    assert (world.position(C, side="LONG"), world.position(C, side="SHORT")) == (u("0.1"), -u("0.1"))


# ------------------------------------------------------- time in force
def test_gtx_that_would_take_is_rejected_with_5022(world):
    world.order(A, "SELL", "0.1", "50000")
    assert rejected(world.order(B, "BUY", "0.1", "50000", tif="GTX"))[0] == -5022


def test_gtx_that_would_rest_is_booked(world):
    world.order(A, "SELL", "0.1", "50000")
    events = world.order(B, "BUY", "0.1", "49900", tif="GTX")
    assert order_id(events) in world.engine.orders


def test_an_unfillable_fok_is_rejected_with_5021_and_leaves_no_trace(world):
    events = world.order(B, "BUY", "0.1", "50000", tif="FOK")
    assert rejected(events)[0] == -5021
    assert not [e for e in events if isinstance(e, OrderUpdated)]


def test_a_market_order_fills_no_further_than_mark_plus_the_take_bound(world):
    world.mark("BTCUSDT", "51000")
    world.order(A, "SELL", "0.1", "52500")
    world.order(A, "SELL", "0.1", "52500.1")
    world.mark("BTCUSDT", "50000")  # the bound: 52,500
    events = world.order(B, "BUY", "0.2", type="MARKET")
    assert world.position(B) == u("0.1")
    assert statuses(events)[-1][1] == "EXPIRED"


# ------------------------------------------------------ conditional orders
def test_a_stop_market_fires_on_the_last_price_and_closes(world):
    open_pair(world, long=X, short=Y)
    world.order(X, "SELL", None, type="STOP_MARKET", stop="49000", close_position=True)
    world.order(A, "BUY", "0.2", "48900")
    world.order(B, "SELL", "0.05", "48900")
    assert world.position(X) == 0


def test_a_stop_that_would_trigger_now_is_rejected_with_2021(world):
    open_pair(world)
    assert rejected(world.order(B, "SELL", "0.1", type="STOP_MARKET", stop="50100")) == (
        -2021, "Order would immediately trigger.")


def test_a_conditional_order_holds_no_margin_until_it_fires():
    w = World()
    w.mark("BTCUSDT", "50000")
    w.fund(C, "1")
    assert rejected(w.order(C, "BUY", "1", type="STOP_MARKET", stop="60000", working="MARK_PRICE")) is None
    assert w.available(C) == u("1")


def test_a_take_profit_on_mark_price_fires_when_the_mark_reaches_it(world):
    open_pair(world, long=X, short=Y)
    world.order(X, "SELL", "0.1", type="TAKE_PROFIT_MARKET", stop="52000", working="MARK_PRICE", reduce_only=True)
    world.order(A, "BUY", "0.1", "51990")
    world.mark("BTCUSDT", "52000")
    assert world.position(X) == 0


def test_a_trailing_stop_fires_its_callback_below_the_high(world):
    open_pair(world, long=X, short=Y)
    world.order(X, "SELL", "0.1", type="TRAILING_STOP_MARKET", callback="1", reduce_only=True)
    world.order(A, "SELL", "0.01", "51000")
    world.order(B, "BUY", "0.01", "51000")  # last 51,000: the high
    world.order(A, "BUY", "0.2", "50490")
    assert world.position(X) == u("0.1")
    world.order(C, "SELL", "0.01", "50490")  # 51,000 x 0.99
    assert world.position(X) == 0


def test_a_fired_order_that_fails_its_checks_expires(world):
    world.order(C, "SELL", "0.1", type="STOP_MARKET", stop="49000", reduce_only=True)
    world.order(A, "BUY", "0.1", "48900")
    events = world.order(B, "SELL", "0.1", "48900")
    assert ("EXPIRED" in [s for _, s in statuses(events)])


# ---------------------------------------------------------------- settings
@pytest.mark.parametrize("leverage", [0, 126])
def test_a_leverage_outside_the_brackets_is_rejected_with_4028(world, leverage):
    assert rejected(world.submit(SetLeverage(C, "BTCUSDT", leverage))) == (-4028, f"Leverage {leverage} is not valid")


def test_a_leverage_whose_cap_the_position_exceeds_is_rejected_with_2027(world):
    world.fund(B, "100000")
    open_pair(world, qty="1.1")
    assert rejected(world.submit(SetLeverage(B, "BTCUSDT", 125)))[0] == -2027
    assert world.engine.account(B).settings_for("BTCUSDT").leverage == 20


def test_the_margin_type_cannot_change_with_an_open_order_or_a_position(world):
    assert rejected(world.submit(SetMarginType(C, "BTCUSDT", MarginType.CROSSED)))[0] == -4046
    world.order(C, "BUY", "0.1", "49000")
    assert rejected(world.submit(SetMarginType(C, "BTCUSDT", MarginType.ISOLATED)))[0] == -4047
    open_pair(world)
    assert rejected(world.submit(SetMarginType(B, "BTCUSDT", MarginType.ISOLATED)))[0] == -4048


def test_the_position_mode_cannot_change_with_an_open_order_or_a_position(world):
    assert rejected(world.submit(SetPositionMode(C, False)))[0] == -4059
    world.order(C, "BUY", "0.1", "49000")
    assert rejected(world.submit(SetPositionMode(C, True)))[0] == -4067
    open_pair(world)
    assert rejected(world.submit(SetPositionMode(B, True)))[0] == -4068


# --------------------------------------------------------------- isolated
def test_an_isolated_fill_moves_its_initial_margin_into_the_position(world):
    world.submit(SetMarginType(C, "BTCUSDT", MarginType.ISOLATED))
    world.submit(SetLeverage(C, "BTCUSDT", 10))
    open_pair(world, long=C)
    assert world.leg(C).isolated_wallet == u("500")
    assert world.wallet(C) == u("9997.5")


def test_isolated_margin_can_be_added_and_reduced_within_its_limits(world):
    world.submit(SetMarginType(C, "BTCUSDT", MarginType.ISOLATED))
    world.submit(SetLeverage(C, "BTCUSDT", 10))
    open_pair(world, long=C)
    world.submit(AdjustIsolatedMargin(C, "BTCUSDT", PositionSide.BOTH, u("100"), True))
    assert world.leg(C).isolated_wallet == u("600")
    too_much = AdjustIsolatedMargin(C, "BTCUSDT", PositionSide.BOTH, u("100.00000001"), False)
    assert rejected(world.submit(too_much))[0] == -4051
    world.submit(AdjustIsolatedMargin(C, "BTCUSDT", PositionSide.BOTH, u("100"), False))
    assert world.leg(C).isolated_wallet == u("500")


def test_closing_an_isolated_position_returns_its_margin_and_pnl(world):
    world.submit(SetMarginType(C, "BTCUSDT", MarginType.ISOLATED))
    open_pair(world, long=C)
    world.order(A, "BUY", "0.1", "50500")
    world.order(C, "SELL", "0.1", type="MARKET")
    assert world.leg(C).isolated_wallet == 0
    assert world.wallet(C) == u("10000") - u("2.5") + u("50") - u("2.525")


# ---------------------------------------------------------------- funding
def test_funding_moves_notional_times_rate_from_longs_to_shorts(world):
    open_pair(world)
    events = world.submit(SettleFunding("BTCUSDT", 10_000, 1_700_006_400_000))
    paid = {e.account: e.amount for e in events if isinstance(e, WalletPosting)}
    assert paid == {A: u("0.5"), B: -u("0.5")}
    assert any(isinstance(e, FundingSettled) for e in events)


def test_funding_before_any_mark_is_refused():
    w = World()
    assert rejected(w.submit(SettleFunding("BTCUSDT", 10_000, 1)))[0] == -1000


# -------------------------------------------------------------- transfers
def test_a_transfer_out_above_the_available_balance_is_refused(world):
    open_pair(world)
    too_much = world.available(B) + 1
    assert rejected(world.submit(TransferOut(B, 77, too_much, world.ts))) == (
        -5013, "Asset transfer failed: insufficient balance")


def test_a_resent_transfer_changes_nothing(world):
    world.submit(TransferIn(C, 555, u("1"), world.ts))
    assert world.submit(TransferIn(C, 555, u("1"), world.ts)) == []
    assert world.wallet(C) == u("10001")


# ----------------------------------------------------------- determinism
def test_a_replay_of_the_journal_gives_the_same_state_and_events(world):
    open_pair(world)
    world.order(X, "SELL", "0.1", type="STOP_MARKET", stop="49000")
    world.order(A, "BUY", "0.3", "49000")
    world.mark("BTCUSDT", "48900")
    world.submit(SettleFunding("BTCUSDT", -5_000, 1_700_006_400_000))
    replay = FuturesEngine(default_contracts(), default_brackets())
    for command, events in world.log:
        assert replay.submit(command) == events
    assert replay.state_hash() == world.engine.state_hash()
