"""resting_order, the one constructor of a resting Order: its fields, and what the book shows of it."""

from __future__ import annotations

import pytest
from castle.orders import Side, resting_order


@pytest.mark.parametrize(
    ("qty", "remaining", "iceberg", "visible"),
    [(10, 10, 0, 10), (10, 4, 0, 4), (10, 10, 3, 3), (10, 2, 3, 2), (10, 3, 3, 3)],
    ids=["whole", "partly-filled", "iceberg", "iceberg-tail-below-slice", "iceberg-tail-equal-slice"],
)
def test_a_resting_order_shows_all_it_has_left_or_its_iceberg_slice(qty, remaining, iceberg, visible):
    order = resting_order(7, 42, Side.SELL, 5_000_000, qty, remaining, iceberg, 1_700_000_000_000, "my-id")
    assert (order.id, order.account, order.side, order.price, order.time, order.client_id) == (
        7, 42, Side.SELL, 5_000_000, 1_700_000_000_000, "my-id"
    )
    assert (order.qty, order.remaining, order.iceberg, order.visible) == (qty, remaining, iceberg, visible)
    assert order.filled == qty - remaining
