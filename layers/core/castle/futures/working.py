"""A futures order the engine is working on: its fills so far and its footprint on its leg's margin."""

from __future__ import annotations

from dataclasses import dataclass

from castle.futures.commands import FuturesOrder, FuturesOrderType
from castle.futures.contracts import RATE_ONE
from castle.futures.events import OrderView


def fee_for(notional: int, rate: int) -> int:
    """Commission on a fill's notional, rounded up to the unit (the trader owes it)."""
    return -((-notional * rate) // RATE_ONE)


@dataclass(slots=True)
class Working:
    cmd: FuturesOrder
    orig_type: FuturesOrderType
    qty: int  # the order's quantity now (reduce-only orders may be reduced), base units
    closing: bool  # counted in its leg's closing quantity: reduce-only, closePosition, a hedge close
    time: int
    executed: int = 0
    cum_quote: int = 0
    realized: int = 0
    status: str = "NEW"
    value: int = 0  # what its remaining quantity adds to its leg's bids or asks while booked
    update_time: int = 0
    market: bool = False

    @property
    def remaining(self) -> int:
        return self.qty - self.executed

    def view(self, status: str, update_time: int | None = None) -> OrderView:
        """The order's state now; enum fields stay StrEnum members (they are str, and JSON writes them as such)."""
        cmd = self.cmd
        return OrderView(
            cmd.symbol, cmd.order_id, cmd.account, cmd.client_order_id, cmd.side, cmd.position_side,
            cmd.type, self.orig_type, cmd.tif, self.qty, cmd.price or 0, cmd.stop_price or 0,
            cmd.reduce_only, cmd.close_position, cmd.working_type, cmd.activation_price or 0,
            cmd.callback_rate or 0, cmd.price_protect, status, self.executed, self.cum_quote, self.realized,
            self.time, self.update_time if update_time is None else update_time)
