"""The engine's fast constructor for resting orders is the Order constructor, field for field."""

from __future__ import annotations

import pytest
from castle.orders import Order, Side, resting_order

FIELDS = ("id", "account", "side", "price", "qty", "remaining", "visible", "iceberg", "time", "client_id")


@pytest.mark.parametrize(
    ("qty", "remaining", "iceberg"),
    [(10, 10, 0), (10, 4, 0), (10, 10, 3), (10, 2, 3), (10, 3, 3)],
    ids=["whole", "partly-filled", "iceberg", "iceberg-tail-below-slice", "iceberg-tail-equal-slice"],
)
def test_resting_order_sets_every_field_as_the_constructor_does(qty, remaining, iceberg):
    args = (7, 42, Side.SELL, 5_000_000, qty, remaining, iceberg, 1_700_000_000_000, "my-id")
    made, constructed = resting_order(*args), Order(*args)
    assert [getattr(made, f) for f in FIELDS] == [getattr(constructed, f) for f in FIELDS]
