"""The spot trading service: Binance's order endpoints over the order path.

    validate (order entry) -> hold funds + PENDING_NEW (one transaction)
    -> command to the engine's journal -> wait for its reply -> Binance's answer

The service talks to the world only through the small ports below, so the
handler wires real adapters and tests wire fakes or moto. Settlement (a
separate writer) keeps the order records and balances; the service answers
from the engine's reply, which is the truth at that moment.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from castle import errors
from castle.accounts import Commission
from castle.book import DepthSnapshot
from castle.codec import command_to_dict, event_from_dict
from castle.errors import CastleError
from castle.events import OrderCanceled, OrderExpired, OrderRejected, QuoteOrderFilled, TradeExecuted
from castle.ledger import hold
from castle.order_entry import parse_client_order_id, parse_new_order, parse_order_ref
from castle.order_records import OrderRecord
from castle.orders import CancelAllOrders, CancelOrder, CancelReplace, CancelReplaceMode, OrderStatus, Side
from castle.holds import hold_for
from castle.settlement import fee
from castle.symbols import Symbol, lookup


class OrderStore(Protocol):
    def create_pending(self, record: OrderRecord, hold_entry) -> None: ...
    def get(self, account: int, symbol: str, order_id: int) -> OrderRecord | None: ...
    def find_by_client_id(self, account: int, symbol: str, client_order_id: str) -> OrderRecord | None: ...
    def open_orders(self, account: int, symbol: str | None = None) -> list[OrderRecord]: ...
    def all_orders(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[OrderRecord]: ...
    def my_trades(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[dict]: ...
    def pending_before(self, symbol: str, before_ms: int) -> list[tuple[int, int]]: ...


class Engine(Protocol):
    def next_order_id(self, symbol: str) -> int: ...
    def depth(self, symbol: str, limit: int) -> DepthSnapshot: ...
    def call(self, symbol: str, command: dict, timeout_s: float) -> dict | None: ...


def timeout_error() -> CastleError:
    return CastleError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                              "execution status unknown.", 503)


def random_client_id() -> str:
    """Binance assigns a 22-character id when the client sends none."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(22))


@dataclass(slots=True)
class Outcome:
    """What the engine did with one order, from its reply."""

    status: OrderStatus
    executed: int = 0  # lots
    cum_quote: int = 0  # tick*lot
    fills: list = None
    working: bool = True


class Trading:
    def __init__(self, symbols: dict[str, Symbol], orders: OrderStore, engine: Engine, clock: Callable[[], int],
                 reply_timeout_s: float = 5.0, client_ids: Callable[[], str] = random_client_id) -> None:
        self.symbols = symbols
        self.orders = orders
        self.engine = engine
        self.clock = clock
        self.reply_timeout_s = reply_timeout_s
        self.client_ids = client_ids

    # -------------------------------------------------------------- place
    def test_order(self, account: int, params: dict, commission: Commission) -> dict:
        symbol = lookup(self.symbols, params.get("symbol"))
        parse_new_order(symbol, params, 0, account, self.clock(), "test")
        if params.get("computeCommissionRates") == "true":
            rates = commission.rates()
            return {"standardCommissionForOrder": {"maker": rates["maker"], "taker": rates["taker"]},
                    "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
                    "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                                 "discount": "0.00000000"}}
        return {}

    def place(self, account: int, params: dict, commission: Commission) -> dict:
        symbol = lookup(self.symbols, params.get("symbol"))
        ts = self.clock()
        new = parse_new_order(symbol, params, 0, account, ts, self.client_ids())  # validate before an id is spent
        new.command.order_id = self.engine.next_order_id(symbol.name)
        record = self._hold_and_record(symbol, new.command, new.client_order_id)
        reply = self.engine.call(symbol.name, command_to_dict(new.command), self.reply_timeout_s)
        if reply is None:
            raise timeout_error()
        outcome = self._outcome(symbol, new.command.order_id, reply, commission)
        return self._new_order_response(symbol, record, outcome, new.resp_type, ts)

    def _hold_and_record(self, symbol: Symbol, cmd, client_order_id: str) -> OrderRecord:
        reference = self._reference_price(symbol, cmd)
        held = hold_for(symbol, cmd, reference)
        if held.engine_budget is not None:
            cmd.quote_qty = held.engine_budget
        record = OrderRecord.pending(cmd, symbol.name, client_order_id, held.asset, held.amount)
        entry = hold(f"hold:{symbol.name}:{cmd.order_id}", str(cmd.account), held.asset, held.amount, cmd.ts) \
            if held.amount else None
        self.orders.create_pending(record, entry)
        return record

    def _reference_price(self, symbol: Symbol, cmd) -> int | None:
        """The book's worst price the order would reach now: what a MARKET order's hold is priced at."""
        if cmd.price is not None and cmd.type.value in ("LIMIT", "LIMIT_MAKER"):
            return None
        book = self.engine.depth(symbol.name, 5000)
        levels = book.asks if cmd.side is Side.BUY else book.bids
        if not levels:
            return None
        if cmd.qty is None:
            return levels[0][0]
        needed, worst = cmd.qty, levels[0][0]
        for level_price, qty in levels:
            worst = level_price
            needed -= qty
            if needed <= 0:
                break
        return worst

    def _outcome(self, symbol: Symbol, order_id: int, reply: dict, commission: Commission) -> Outcome:
        if "error" in reply:
            raise CastleError(reply["error"]["code"], reply["error"]["msg"])
        events = [event_from_dict(e) for e in reply["events"]]
        outcome = Outcome(OrderStatus.NEW, fills=[])
        remaining = None
        for e in events:
            if isinstance(e, OrderRejected) and e.order_id == order_id:
                raise CastleError(e.code, e.msg)
            if isinstance(e, TradeExecuted) and e.taker_order_id == order_id:
                outcome.executed += e.qty
                outcome.cum_quote += e.price * e.qty
                remaining = e.taker_remaining
                outcome.fills.append(self._fill(symbol, e, commission))
            elif isinstance(e, OrderExpired) and e.order_id == order_id:
                outcome.status = e.status
            elif isinstance(e, QuoteOrderFilled) and e.order_id == order_id:
                outcome.status = OrderStatus.FILLED
        if outcome.status is OrderStatus.NEW and outcome.executed:
            outcome.status = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
        return outcome

    @staticmethod
    def _fill(symbol: Symbol, t: TradeExecuted, commission: Commission) -> dict:
        buyer = t.taker_side is Side.BUY
        amount = symbol.qty_units(t.qty) if buyer else symbol.quote_units(t.price * t.qty)
        return {
            "price": symbol.format_price(t.price),
            "qty": symbol.format_qty(t.qty),
            "commission": symbol.base.format(fee(amount, commission.taker)),
            "commissionAsset": symbol.base.name if buyer else symbol.quote.name,
            "tradeId": t.trade_id,
        }

    def _new_order_response(self, symbol: Symbol, record: OrderRecord, outcome: Outcome, resp_type: str,
                            ts: int) -> dict:
        ack = {"symbol": symbol.name, "orderId": record.order_id, "orderListId": -1,
               "clientOrderId": record.client_order_id, "transactTime": ts}
        if resp_type == "ACK":
            return ack
        record.status, record.executed, record.cum_quote = outcome.status, outcome.executed, outcome.cum_quote
        view = record.to_binance(symbol)
        result = {**ack, **{k: view[k] for k in (
            "price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status",
            "timeInForce", "type", "side")}}
        if record.type.is_stop:
            result["stopPrice"] = view["stopPrice"]
        if record.iceberg_qty:
            result["icebergQty"] = view["icebergQty"]
        result["workingTime"] = -1 if record.type.is_stop else ts
        result["selfTradePreventionMode"] = view["selfTradePreventionMode"]
        if resp_type == "FULL":
            result["fills"] = outcome.fills
        return result

    # ------------------------------------------------------------- cancel
    def _find(self, account: int, symbol: Symbol, params: dict) -> OrderRecord | None:
        order_id, client_id = parse_order_ref(params)
        if order_id is not None:
            return self.orders.get(account, symbol.name, order_id)
        return self.orders.find_by_client_id(account, symbol.name, client_id)

    def cancel(self, account: int, params: dict) -> dict:
        symbol = lookup(self.symbols, params.get("symbol"))
        record = self._find(account, symbol, params)
        if record is None or not record.is_open:
            raise errors.unknown_order()
        new_client_id = parse_client_order_id(params.get("newClientOrderId")) or self.client_ids()
        reply = self._call(symbol, CancelOrder(record.order_id, account, self.clock()))
        canceled = self._canceled(reply, record.order_id)
        return self._cancel_response(symbol, record, canceled, new_client_id)

    def _call(self, symbol: Symbol, command) -> list:
        reply = self.engine.call(symbol.name, command_to_dict(command), self.reply_timeout_s)
        if reply is None:
            raise timeout_error()
        if "error" in reply:
            raise CastleError(reply["error"]["code"], reply["error"]["msg"])
        return [event_from_dict(e) for e in reply["events"]]

    @staticmethod
    def _canceled(events: list, order_id: int) -> OrderCanceled:
        for e in events:
            if isinstance(e, OrderCanceled) and e.order_id == order_id:
                return e
            if isinstance(e, OrderRejected) and e.order_id == order_id:
                raise CastleError(e.code, e.msg)
        raise errors.unknown_order()

    def _cancel_response(self, symbol: Symbol, record: OrderRecord, canceled: OrderCanceled,
                         client_id: str) -> dict:
        view = record.to_binance(symbol)
        executed = max(record.qty - canceled.canceled_qty, record.executed) if record.qty else record.executed
        record.executed = executed
        record.status = OrderStatus.CANCELED
        view = record.to_binance(symbol)
        return {
            "symbol": symbol.name, "origClientOrderId": record.client_order_id, "orderId": record.order_id,
            "orderListId": -1, "clientOrderId": client_id, "transactTime": canceled.ts,
            **{k: view[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                                    "timeInForce", "type", "side")},
            "selfTradePreventionMode": view["selfTradePreventionMode"],
        }

    def cancel_all(self, account: int, params: dict) -> list[dict]:
        symbol = lookup(self.symbols, params.get("symbol"))
        open_records = {r.order_id: r for r in self.orders.open_orders(account, symbol.name)}
        events = self._call(symbol, CancelAllOrders(account, self.clock()))
        out = []
        for e in events:
            if isinstance(e, OrderCanceled) and e.order_id in open_records:
                out.append(self._cancel_response(symbol, open_records[e.order_id], e, self.client_ids()))
        if not out:
            raise errors.unknown_order()
        return out

    def cancel_replace(self, account: int, params: dict, commission: Commission) -> dict:
        symbol = lookup(self.symbols, params.get("symbol"))
        mode = params.get("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise errors.mandatory_param("cancelReplaceMode") if not mode else errors.invalid_parameter(
                "cancelReplaceMode")
        ref = {"orderId": params.get("cancelOrderId"), "origClientOrderId": params.get("cancelOrigClientOrderId")}
        record = self._find(account, symbol, {k: v for k, v in ref.items() if v})
        ts = self.clock()
        new_params = {k: v for k, v in params.items() if not k.startswith("cancel")}
        new = parse_new_order(symbol, new_params, 0, account, ts, self.client_ids())
        if (record is None or not record.is_open) and mode == "STOP_ON_FAILURE":
            error = CastleError(-2022, "Order cancel-replace failed.")
            error.data = {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                          "cancelResponse": errors.unknown_order().to_dict(), "newOrderResponse": None}
            raise error
        new.command.order_id = self.engine.next_order_id(symbol.name)
        new_record = self._hold_and_record(symbol, new.command, new.client_order_id)
        cancel_id = record.order_id if record is not None else 0
        command = CancelReplace(CancelOrder(cancel_id, account, ts), new.command, CancelReplaceMode(mode))
        reply = self.engine.call(symbol.name, command_to_dict(command), self.reply_timeout_s)
        if reply is None:
            raise timeout_error()
        events = [event_from_dict(e) for e in reply.get("events", [])]
        cancel_response = None
        try:
            cancel_response = self._cancel_response(symbol, record, self._canceled(events, cancel_id),
                                                    self.client_ids()) if record is not None else None
            cancel_error = None
        except CastleError as e:
            cancel_error = e
        try:
            outcome = self._outcome(symbol, new.command.order_id, reply, commission)
            new_response, new_error = self._new_order_response(symbol, new_record, outcome, new.resp_type, ts), None
        except CastleError as e:
            new_response, new_error = None, e
        if cancel_error is None and new_error is None:
            return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": cancel_response,
                    "newOrderResponse": new_response}
        body = {
            "cancelResult": "FAILURE" if cancel_error else "SUCCESS",
            "newOrderResult": "FAILURE" if new_error else ("NOT_ATTEMPTED" if new_response is None else "SUCCESS"),
            "cancelResponse": cancel_error.to_dict() if cancel_error else cancel_response,
            "newOrderResponse": new_error.to_dict() if new_error else new_response,
        }
        both = cancel_error is not None and (new_error is not None or new_response is None)
        error = CastleError(-2022, "Order cancel-replace failed.") if both else CastleError(
            -2021, "Order cancel-replace partially failed.")
        error.data = body
        raise error

    # --------------------------------------------------------- reconciler
    def reconcile(self, older_than_ms: int = 60_000) -> list[dict]:
        """Settle orders stuck in PENDING_NEW: their command may never have reached the engine.

        A handler writes the hold, then appends the command within its own
        timeout (10 s), so after a minute a PENDING_NEW order's command either
        was journaled long ago or never will be. A cancel through the journal
        decides which: the engine rejects it (-2011) for an order it never saw,
        and settlement then marks the order REJECTED and releases its hold; an
        order it did see is canceled like any other.
        """
        cutoff = self.clock() - older_than_ms
        out = []
        for symbol in self.symbols.values():
            for account, order_id in self.orders.pending_before(symbol.name, cutoff):
                try:
                    events = self._call(symbol, CancelOrder(order_id, account, self.clock()))
                except CastleError as e:
                    out.append({"symbol": symbol.name, "orderId": order_id, "outcome": f"error {e.code}"})
                    continue
                seen = any(isinstance(e, OrderCanceled) for e in events)
                out.append({"symbol": symbol.name, "orderId": order_id,
                            "outcome": "canceled" if seen else "never reached the engine: rejected"})
        return out

    # -------------------------------------------------------------- reads
    def query(self, account: int, params: dict) -> dict:
        symbol = lookup(self.symbols, params.get("symbol"))
        record = self._find(account, symbol, params)
        if record is None:
            raise errors.order_does_not_exist()
        return record.to_binance(symbol)

    def open_orders(self, account: int, params: dict) -> list[dict]:
        name = params.get("symbol")
        records = self.orders.open_orders(account, None if name is None else lookup(self.symbols, name).name)
        return [r.to_binance(self.symbols[r.symbol]) for r in sorted(records, key=lambda r: (r.symbol, r.order_id))]

    def all_orders(self, account: int, params: dict) -> list[dict]:
        symbol = lookup(self.symbols, params.get("symbol"))
        limit = _limit(params, 500, 1000)
        from_id = int(params["orderId"]) if params.get("orderId", "").isdigit() else 0
        return [r.to_binance(symbol) for r in self.orders.all_orders(account, symbol.name, from_id, limit)]

    def my_trades(self, account: int, params: dict) -> list[dict]:
        symbol = lookup(self.symbols, params.get("symbol"))
        limit = _limit(params, 500, 1000)
        from_id = int(params["fromId"]) if params.get("fromId", "").isdigit() else 0
        order_id = int(params["orderId"]) if params.get("orderId", "").isdigit() else None
        out = []
        for t in self.orders.my_trades(account, symbol.name, from_id, limit):
            if order_id is not None and t["orderId"] != order_id:
                continue
            asset = t["commissionAsset"]
            out.append({
                "symbol": symbol.name, "id": t["id"], "orderId": t["orderId"], "orderListId": -1,
                "price": symbol.format_price(t["price"]), "qty": symbol.format_qty(t["qty"]),
                "quoteQty": symbol.format_quote(t["quoteQty"]),
                "commission": (symbol.base if asset == symbol.base.name else symbol.quote).format(t["commission"]),
                "commissionAsset": asset, "time": t["time"], "isBuyer": t["isBuyer"] == "True",
                "isMaker": t["isMaker"] == "True", "isBestMatch": True,
            })
        return out


def _limit(params: dict, default: int, maximum: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise errors.invalid_parameter("limit")
    return int(raw)
