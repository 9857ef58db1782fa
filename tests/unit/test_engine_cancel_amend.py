"""Cancel, cancel-all, cancel-replace, amend-keep-priority, and duplicate orders."""

import pytest
from castle.events import OrderAccepted, OrderAmended, OrderCanceled, OrderRejected, TradeExecuted
from castle.orders import CancelReplaceMode, OrderType, Side

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
DUPLICATE = (-2010, "Duplicate order sent.")
AMEND_INCREASE = (-2038, "Order amend (quantity increase) is not supported.")


def code_msg(event):
    return (event.code, event.msg)


@pytest.fixture
def resting(desk):
    """ALICE bids 300 at P."""
    return desk.buy(P, 300)


# --- cancel ----------------------------------------------------------------------


def test_cancel_removes_the_order_and_reports_its_remaining(desk, resting):
    canceled = desk.cancel(resting.order_id).one(OrderCanceled)
    assert (canceled.order_id, canceled.account, canceled.canceled_qty) == (resting.order_id, ALICE, 300)
    assert desk.depth() == ([], [])


def test_cancel_of_a_partially_filled_order_cancels_only_the_rest(desk, resting):
    desk.sell(P, 100, account=BOB)
    assert desk.cancel(resting.order_id).one(OrderCanceled).canceled_qty == 200


def test_cancel_of_an_unknown_order_is_rejected_with_2011(desk):
    rejected = desk.cancel(404).one(OrderRejected)
    assert (rejected.order_id, code_msg(rejected)) == (404, UNKNOWN_ORDER)


def test_cancel_of_another_accounts_order_is_rejected_as_unknown(desk, resting):
    assert code_msg(desk.cancel(resting.order_id, account=BOB).one(OrderRejected)) == UNKNOWN_ORDER


def test_cancel_of_another_accounts_order_leaves_it_in_the_book(desk, resting):
    desk.cancel(resting.order_id, account=BOB)
    assert desk.depth() == ([(P, 300)], [])


def test_second_cancel_of_the_same_order_is_unknown(desk, resting):
    desk.cancel(resting.order_id)
    assert code_msg(desk.cancel(resting.order_id).one(OrderRejected)) == UNKNOWN_ORDER


def test_cancel_of_a_filled_order_is_unknown(desk, resting):
    desk.sell(P, 300, account=BOB)
    assert code_msg(desk.cancel(resting.order_id).one(OrderRejected)) == UNKNOWN_ORDER


def test_canceled_order_is_never_matched(desk, resting):
    desk.cancel(resting.order_id)
    assert not desk.sell(P, 100, account=BOB).of(TradeExecuted)


def test_cancel_keeps_the_others_at_the_level_in_order(desk):
    first = desk.buy(P, 100, account=BOB)
    second = desk.buy(P, 100, account=CAROL)
    third = desk.buy(P, 100, account=BOB)
    desk.cancel(second.order_id, account=CAROL)
    taken = desk.sell(P, 200)
    assert [t.maker_order_id for t in taken.of(TradeExecuted)] == [first.order_id, third.order_id]


def test_cancel_all_cancels_every_open_order_and_stop_of_the_account(desk, resting):
    other = desk.sell(P + 5, 100)
    stop = desk.stop(Side.BUY, OrderType.STOP_LOSS, P + 50)
    desk.buy(P - 1, 100, account=BOB)
    canceled = desk.cancel_all(ALICE).of(OrderCanceled)
    assert sorted(e.order_id for e in canceled) == [resting.order_id, other.order_id, stop.order_id]
    assert desk.open_ids() == [4]


def test_cancel_all_with_nothing_open_is_rejected_as_unknown(desk):
    assert code_msg(desk.cancel_all(ALICE).one(OrderRejected)) == UNKNOWN_ORDER


# --- cancel-replace ------------------------------------------------------------


def test_cancel_replace_cancels_then_places(desk, resting):
    new = desk.place_order(Side.BUY, price=P - 1, qty=50)
    result = desk.cancel_replace(resting.order_id, new)
    assert result.kinds() == ["OrderCanceled", "OrderAccepted"]
    assert desk.depth() == ([(P - 1, 50)], [])


def test_cancel_replace_stop_on_failure_places_nothing_when_the_cancel_fails(desk, resting):
    new = desk.place_order(Side.BUY, price=P - 1, qty=50)
    result = desk.cancel_replace(404, new, CancelReplaceMode.STOP_ON_FAILURE)
    assert result.kinds() == ["OrderRejected"]
    assert desk.open_ids() == [resting.order_id]


def test_cancel_replace_allow_failure_places_even_when_the_cancel_fails(desk, resting):
    new = desk.place_order(Side.BUY, price=P - 1, qty=50)
    result = desk.cancel_replace(404, new, CancelReplaceMode.ALLOW_FAILURE)
    assert result.kinds() == ["OrderRejected", "OrderAccepted"]
    assert desk.open_ids() == [resting.order_id, new.order_id]


def test_cancel_replace_keeps_the_cancel_when_the_new_order_is_rejected(desk, resting):
    desk.sell(P + 1, 100, account=BOB)
    new = desk.place_order(Side.BUY, price=P + 1, qty=50, type=OrderType.LIMIT_MAKER)
    result = desk.cancel_replace(resting.order_id, new)
    assert result.kinds() == ["OrderCanceled", "OrderRejected"]
    assert desk.open_ids() == [2]


def test_cancel_replace_new_order_can_trade(desk, resting):
    desk.sell(P + 1, 100, account=BOB)
    new = desk.place_order(Side.BUY, price=P + 1, qty=100)
    assert desk.cancel_replace(resting.order_id, new).one(TradeExecuted).qty == 100


# --- amend ---------------------------------------------------------------------


def test_amend_down_reduces_the_quantity(desk, resting):
    amended = desk.amend(resting.order_id, 100).one(OrderAmended)
    assert (amended.old_qty, amended.new_qty, amended.remaining) == (300, 100, 100)
    assert desk.depth() == ([(P, 100)], [])


def test_amend_down_keeps_queue_priority(desk):
    first = desk.sell(P, 300, account=BOB)
    desk.sell(P, 100, account=CAROL)
    desk.amend(first.order_id, 200, account=BOB)
    assert desk.buy(P, 50).one(TradeExecuted).maker_order_id == first.order_id


def test_amend_of_a_partially_filled_order_keeps_what_filled(desk, resting):
    desk.sell(P, 100, account=BOB)
    amended = desk.amend(resting.order_id, 250).one(OrderAmended)
    assert amended.remaining == 150
    (order,) = desk.engine.open_orders(ALICE)
    assert (order.qty, order.remaining, order.filled) == (250, 150, 100)


@pytest.mark.parametrize("new_qty", [301, 1000])
def test_amend_up_is_rejected_with_2038(desk, resting, new_qty):
    assert code_msg(desk.amend(resting.order_id, new_qty).one(OrderRejected)) == AMEND_INCREASE


def test_rejected_amend_leaves_the_order_as_it_was(desk, resting):
    desk.amend(resting.order_id, 301)
    assert desk.depth() == ([(P, 300)], [])


@pytest.mark.parametrize("new_qty", [0, -5])
def test_amend_to_zero_or_less_is_an_invalid_quantity(desk, resting, new_qty):
    assert desk.amend(resting.order_id, new_qty).one(OrderRejected).code == -1013


def test_amend_down_to_the_filled_quantity_finishes_the_order(desk, resting):
    desk.sell(P, 100, account=BOB)
    amended = desk.amend(resting.order_id, 100).one(OrderAmended)
    assert amended.remaining == 0
    assert desk.open_ids() == []
    assert desk.depth() == ([], [])


def test_amend_of_an_unknown_order_is_rejected_as_unknown(desk):
    assert code_msg(desk.amend(404, 1).one(OrderRejected)) == UNKNOWN_ORDER


def test_amend_of_another_accounts_order_is_rejected_as_unknown(desk, resting):
    assert code_msg(desk.amend(resting.order_id, 100, account=BOB).one(OrderRejected)) == UNKNOWN_ORDER


def test_amend_of_an_iceberg_below_its_slice_shrinks_the_visible_part(desk):
    iceberg = desk.sell(P, 1000, iceberg_qty=200)
    desk.amend(iceberg.order_id, 150)
    assert desk.depth() == ([], [(P, 150)])


def test_amend_of_a_parked_stop_changes_the_quantity_it_will_trade(desk):
    desk.trade_at(P)
    stop = desk.stop(Side.SELL, OrderType.STOP_LOSS, P - 10, qty=300)
    desk.amend(stop.order_id, 120)
    desk.buy(P - 10, 1000, account=BOB)
    result = desk.sell(P - 10, 100, account=CAROL)
    assert sum(t.qty for t in result.of(TradeExecuted) if t.taker_order_id == stop.order_id) == 120


# --- duplicates ----------------------------------------------------------------


def test_order_with_the_id_of_an_open_order_is_a_duplicate(desk, resting):
    rejected = desk.sell(P + 5, 100, order_id=resting.order_id).one(OrderRejected)
    assert code_msg(rejected) == DUPLICATE


def test_limit_order_with_the_id_of_a_parked_stop_is_a_duplicate(desk):
    stop = desk.stop(Side.BUY, OrderType.STOP_LOSS, P + 50)
    rejected = desk.buy(P - 5, 100, order_id=stop.order_id).one(OrderRejected)
    assert code_msg(rejected) == DUPLICATE


def test_stop_order_with_the_id_of_a_parked_stop_is_a_duplicate(desk):
    stop = desk.stop(Side.BUY, OrderType.STOP_LOSS, P + 50)
    rejected = desk.stop(Side.BUY, OrderType.STOP_LOSS, P + 60, order_id=stop.order_id).one(OrderRejected)
    assert code_msg(rejected) == DUPLICATE


def test_duplicate_client_order_id_of_an_open_order_is_rejected(desk):
    desk.buy(P, 100, client_order_id="abc")
    assert code_msg(desk.buy(P - 1, 100, client_order_id="abc").one(OrderRejected)) == DUPLICATE


def test_same_client_order_id_on_another_account_is_fine(desk):
    desk.buy(P, 100, client_order_id="abc")
    assert desk.buy(P - 1, 100, account=BOB, client_order_id="abc").of(OrderAccepted)


def test_client_order_id_is_free_again_once_its_order_is_canceled(desk):
    first = desk.buy(P, 100, client_order_id="abc")
    desk.cancel(first.order_id)
    assert desk.buy(P - 1, 100, client_order_id="abc").of(OrderAccepted)


def test_client_order_id_of_a_parked_stop_is_taken(desk):
    desk.stop(Side.BUY, OrderType.STOP_LOSS, P + 50, client_order_id="abc")
    assert code_msg(desk.buy(P - 1, 100, client_order_id="abc").one(OrderRejected)) == DUPLICATE


def test_amend_below_the_filled_quantity_never_records_less_than_filled(desk, resting):
    desk.sell(P, 100, account=BOB)
    result = desk.amend(resting.order_id, 50)
    amended = result.of(OrderAmended)
    # Either rejected, or finished as FILLED at what executed (FIX: "filled takes precedence").
    assert not amended or amended[0].new_qty >= 100
