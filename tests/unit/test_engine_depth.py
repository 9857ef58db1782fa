"""Depth snapshots and diffs, consistent as Binance's `lastUpdateId` / `U` / `u` are.

A client buffers the diff stream, fetches a snapshot and applies the diffs by
Binance's procedure (`LocalBook` in conftest).
"""

import pytest
from castle.book import DepthSnapshot
from castle.orders import Side

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3


def script(desk):
    """A few commands that add, trade, cancel and amend on both sides."""
    yield lambda: desk.buy(P - 1, 100, account=BOB)
    yield lambda: desk.sell(P + 1, 200, account=BOB)
    yield lambda: desk.buy(P - 2, 300, account=CAROL)
    yield lambda: desk.cancel(404)  # a rejected command: no book change
    yield lambda: desk.sell(P - 1, 150)  # takes P-1, rests 50 at P-1
    yield lambda: desk.sell(P + 3, 1000, account=CAROL, iceberg_qty=100)
    yield lambda: desk.amend(2, 120, account=BOB)
    yield lambda: desk.buy(P + 3, 250)  # takes P+1 then iceberg slices
    yield lambda: desk.cancel(3, account=CAROL)
    yield lambda: desk.market(Side.SELL, 20, account=BOB)


@pytest.fixture
def diffs(desk):
    """Run the script, taking a diff after every command, and a snapshot half way."""
    out, snapshots = [], []
    for i, step in enumerate(script(desk)):
        step()
        diff = desk.engine.book.take_diff()
        if diff is not None:
            out.append(diff)
        if i == 4:
            snapshots.append(desk.engine.depth())
    return out, snapshots[0]


def test_snapshot_last_update_id_is_the_last_command_seq(desk):
    desk.buy(P, 100)
    desk.buy(P - 1, 100)
    assert desk.engine.depth().last_update_id == 2 == desk.engine.seq


def test_snapshot_limit_keeps_the_best_levels(desk):
    for i in range(5):
        desk.buy(P - i, 100)
        desk.sell(P + 1 + i, 100)
    snap = desk.engine.depth(limit=2)
    assert (snap.bids, snap.asks) == ([(P, 100), (P - 1, 100)], [(P + 1, 100), (P + 2, 100)])


def test_take_diff_with_no_change_returns_none(desk):
    assert desk.engine.book.take_diff() is None


def test_take_diff_after_a_rejected_command_returns_none(desk):
    desk.buy(P, 100)
    desk.engine.book.take_diff()
    desk.cancel(404)
    assert desk.engine.book.take_diff() is None


def test_diff_lists_changed_levels_with_their_new_quantity(desk):
    desk.buy(P, 100)
    desk.buy(P - 1, 100)
    diff = desk.engine.book.take_diff()
    assert (diff.first_update_id, diff.last_update_id, diff.bids, diff.asks) == (1, 2, [(P, 100), (P - 1, 100)], [])


def test_diff_reports_a_removed_level_with_quantity_zero(desk):
    placed = desk.sell(P, 100)
    desk.engine.book.take_diff()
    desk.cancel(placed.order_id)
    assert desk.engine.book.take_diff().asks == [(P, 0)]


def test_diff_after_a_trade_reports_the_makers_level(desk):
    desk.sell(P, 300, account=BOB)
    desk.engine.book.take_diff()
    desk.buy(P, 100)
    diff = desk.engine.book.take_diff()
    assert (diff.bids, diff.asks) == ([], [(P, 200)])


def test_each_diff_starts_right_after_the_previous_one(diffs):
    stream, _ = diffs
    assert all(b.first_update_id == a.last_update_id + 1 for a, b in zip(stream, stream[1:], strict=False))


def test_diffs_cover_every_update_id_from_the_first(diffs):
    stream, _ = diffs
    assert stream[0].first_update_id == 1


def test_snapshot_plus_diffs_reproduces_the_book(desk, diffs, local_book):
    stream, snapshot = diffs
    local = local_book(snapshot)
    for diff in stream:
        local.apply(diff)
    assert local.depth() == desk.depth()


def test_all_diffs_from_an_empty_book_reproduce_the_book(desk, diffs, local_book):
    stream, _ = diffs
    local = local_book(DepthSnapshot(0, [], []))
    for diff in stream:
        local.apply(diff)
    assert local.depth() == desk.depth()


def test_every_event_carries_its_commands_seq(desk):
    seqs = []
    for step in script(desk):
        seqs.append({e.seq for e in step().events})
    assert seqs == [{i} for i in range(1, len(seqs) + 1)]


def test_book_is_not_crossed_after_a_crossing_order(desk):
    desk.sell(P, 100, account=BOB)
    desk.buy(P + 2, 300)
    assert not desk.engine.book.is_crossed()
