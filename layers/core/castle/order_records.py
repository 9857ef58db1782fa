"""The order as the account sees it: its record, and Binance's JSON for it.

The engine keeps only what matching needs; this record is what `GET
/api/v3/order`, `openOrders` and `allOrders` answer, kept by settlement from
the engine's events. Prices stay in ticks, quantities in lots, quote amounts
in tick*lot units, until `to_binance` formats them with the symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle.orders import FINAL_STATUSES, OrderStatus, OrderType, PlaceOrder, Side, StpMode, TimeInForce
from castle.symbols import Symbol

NO_TIF_TYPES = {OrderType.MARKET, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT}


@dataclass(slots=True)
class OrderRecord:
    symbol: str
    order_id: int
    account: int
    client_order_id: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int  # ticks; 0 for MARKET
    qty: int  # lots; 0 for a MARKET order by quote amount
    quote_qty: int  # tick*lot units; 0 unless by quote amount
    stop_price: int
    iceberg_qty: int
    stp: StpMode
    time: int
    status: OrderStatus = OrderStatus.PENDING_NEW
    executed: int = 0  # lots
    cum_quote: int = 0  # tick*lot units
    update_time: int = 0
    working_time: int = -1
    hold_asset: str = ""
    hold_amount: int = 0  # units of hold_asset still held for this order (after amends)
    hold_used: int = 0  # units of the hold consumed by fills
    last_trade_id: int = 0
    prevented_qty: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def pending(cls, cmd: PlaceOrder, symbol: str, client_order_id: str, hold_asset: str, hold_amount: int):
        return cls(
            symbol=symbol,
            order_id=cmd.order_id,
            account=cmd.account,
            client_order_id=client_order_id,
            side=cmd.side,
            type=cmd.type,
            tif=cmd.tif,
            price=cmd.price or 0,
            qty=cmd.qty or 0,
            quote_qty=cmd.quote_qty if cmd.qty is None and cmd.quote_qty else 0,
            stop_price=cmd.stop_price or 0,
            iceberg_qty=cmd.iceberg_qty or 0,
            stp=cmd.stp,
            time=cmd.ts,
            update_time=cmd.ts,
            hold_asset=hold_asset,
            hold_amount=hold_amount,
        )

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES

    @property
    def is_stop(self) -> bool:
        return self.type.is_stop

    def to_binance(self, symbol: Symbol) -> dict:
        """Binance's order shape (GET /api/v3/order, openOrders, allOrders)."""
        working = self.working_time if self.working_time >= 0 else (self.time if not self.is_stop else -1)
        orig_qty = self.qty if self.qty else self.executed
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": symbol.format_price(self.price),
            "origQty": symbol.format_qty(orig_qty),
            "executedQty": symbol.format_qty(self.executed),
            "cummulativeQuoteQty": symbol.format_quote(self.cum_quote),
            "status": str(self.status if self.status is not OrderStatus.PENDING_NEW else OrderStatus.NEW),
            "timeInForce": str(self.tif),
            "type": str(self.type),
            "side": str(self.side),
            "stopPrice": symbol.format_price(self.stop_price),
            "icebergQty": symbol.format_qty(self.iceberg_qty),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": working >= 0 and self.is_open,
            "workingTime": working,
            "origQuoteOrderQty": symbol.format_quote(self.quote_qty),
            "selfTradePreventionMode": str(self.stp),
        }
