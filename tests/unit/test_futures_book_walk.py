"""The lazy best-first walk over a book side's heap gives exactly the sorted levels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from castle.book import OrderBook
from castle.futures.book_walk import levels_best_first
from castle.orders import Side

moves = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 40), st.booleans()), max_size=120)


@given(moves)
def test_the_walk_yields_each_live_level_once_best_first(steps):
    book = OrderBook()
    for side, price, remove in steps:
        book_side = book.bids if side is Side.BUY else book.asks
        if remove:
            book_side.levels.pop(price, None)  # a level gone: its heap key goes stale
        else:
            book_side.level_for(price)
    assert [lv.price for lv in levels_best_first(book.asks)] == sorted(book.asks.levels)
    assert [lv.price for lv in levels_best_first(book.bids)] == sorted(book.bids.levels, reverse=True)
