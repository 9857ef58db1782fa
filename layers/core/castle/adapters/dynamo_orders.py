"""Orders and trades in DynamoDB, written with the ledger in one transaction.

Orders table: `ACCOUNT#<id>` / `ORDER#<symbol>#<orderId, 12 digits>`; an open
order also carries `OpenPK`/`OpenSK`, so the sparse `OpenOrdersByAccount`
index lists only open orders. A client order id maps to its order with
`ACCOUNT#<id>` / `CLIENT#<symbol>#<clientOrderId>`.

Trades table: `SYMBOL#<symbol>` / `TRADE#<tradeId, 12 digits>#<BUY|SELL>`, one
item per side, each with `AccountPK = ACCOUNT#<id>#<symbol>` for myTrades.

Every settlement write is conditional on what it has already seen (the order's
`lastTradeId`, its status, the ledger entry id), so redelivered events change
nothing.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from castle.adapters.dynamo import paginate

from castle.adapters.dynamo_ledger import DynamoLedger
from castle.ledger import LedgerEntry
from castle.order_records import OrderRecord
from castle.orders import FINAL_STATUSES, OrderStatus, OrderType, Side, StpMode, TimeInForce
from castle.settle_events import OrderChange, SettlementStep

N = "N"
S = "S"
INT_FIELDS = (
    "order_id", "account", "price", "qty", "quote_qty", "stop_price", "iceberg_qty", "time", "executed",
    "cum_quote", "update_time", "working_time", "hold_amount", "hold_used", "last_trade_id", "prevented_qty",
)
STR_FIELDS = ("symbol", "client_order_id", "hold_asset")
ENUM_FIELDS = {"side": Side, "type": OrderType, "tif": TimeInForce, "stp": StpMode, "status": OrderStatus}


def order_key(account: int, symbol: str, order_id: int) -> dict:
    return {"PK": {S: f"ACCOUNT#{account}"}, "SK": {S: f"ORDER#{symbol}#{order_id:012d}"}}


def client_key(account: int, symbol: str, client_order_id: str) -> dict:
    return {"PK": {S: f"ACCOUNT#{account}"}, "SK": {S: f"CLIENT#{symbol}#{client_order_id}"}}


def to_item(record: OrderRecord) -> dict:
    item = order_key(record.account, record.symbol, record.order_id)
    for name in INT_FIELDS:
        item[name] = {N: str(getattr(record, name))}
    for name in STR_FIELDS:
        item[name] = {S: getattr(record, name)}
    for name in ENUM_FIELDS:
        item[name] = {S: str(getattr(record, name))}
    if record.is_open:
        item["OpenPK"] = {S: f"ACCOUNT#{record.account}"}
        item["OpenSK"] = {S: f"{record.symbol}#{record.order_id:012d}"}
    if record.status is OrderStatus.PENDING_NEW:
        item["PendingPK"] = {S: f"PENDING#{record.symbol}"}
        item["PendingSince"] = {N: str(record.time)}
    return item


def from_item(item: dict) -> OrderRecord:
    kwargs = {name: int(item[name][N]) for name in INT_FIELDS}
    kwargs.update({name: item[name][S] for name in STR_FIELDS})
    kwargs.update({name: enum(item[name][S]) for name, enum in ENUM_FIELDS.items()})
    return OrderRecord(**kwargs)


class DynamoOrders:
    def __init__(self, client, orders_table: str, trades_table: str, ledger: DynamoLedger) -> None:
        self.client = client
        self.orders_table = orders_table
        self.trades_table = trades_table
        self.ledger = ledger

    # ------------------------------------------------------------ the gateway
    def create_pending(self, record: OrderRecord, hold: LedgerEntry | None) -> None:
        """The outbox step: the order as PENDING_NEW and its hold, in one transaction (-2010 if unaffordable)."""
        items = [{"Put": {"TableName": self.orders_table, "Item": to_item(record),
                          "ConditionExpression": "attribute_not_exists(PK)"}}]
        items.append(
            {"Put": {"TableName": self.orders_table,
                     "Item": {**client_key(record.account, record.symbol, record.client_order_id),
                              "order_id": {N: str(record.order_id)}}}}
        )
        if hold is None:
            self.client.transact_write_items(TransactItems=items)
        elif not self.ledger.apply(hold, items):
            raise RuntimeError(f"hold {hold.entry_id} already exists: order ids must be unique")

    def pending_before(self, symbol: str, before_ms: int) -> list[tuple[int, int]]:
        """(account, order id) of orders still PENDING_NEW that were created before `before_ms`."""
        kwargs = {
            "TableName": self.orders_table,
            "IndexName": "PendingOrders",
            "KeyConditionExpression": "PendingPK = :p AND PendingSince < :t",
            "ExpressionAttributeValues": {":p": {S: f"PENDING#{symbol}"}, ":t": {N: str(before_ms)}},
        }
        out = []
        for item in paginate(self.client.query, kwargs):
            _, symbol_part, order_part = item["SK"][S].split("#")
            out.append((int(item["PK"][S].removeprefix("ACCOUNT#")), int(order_part)))
        return out

    # ----------------------------------------------------------------- reads
    def get(self, account: int, symbol: str, order_id: int) -> OrderRecord | None:
        item = self.client.get_item(
            TableName=self.orders_table, Key=order_key(account, symbol, order_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else from_item(item)

    def find_by_client_id(self, account: int, symbol: str, client_order_id: str) -> OrderRecord | None:
        item = self.client.get_item(
            TableName=self.orders_table, Key=client_key(account, symbol, client_order_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else self.get(account, symbol, int(item["order_id"][N]))

    def open_orders(self, account: int, symbol: str | None = None) -> list[OrderRecord]:
        condition = "OpenPK = :pk"
        values = {":pk": {S: f"ACCOUNT#{account}"}}
        if symbol is not None:
            condition += " AND begins_with(OpenSK, :s)"
            values[":s"] = {S: f"{symbol}#"}
        kwargs = {"TableName": self.orders_table, "IndexName": "OpenOrdersByAccount",
                  "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
        return [from_item(i) for i in paginate(self.client.query, kwargs) if i.get("status", {}).get(S)]

    def all_orders(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[OrderRecord]:
        kwargs = {
            "TableName": self.orders_table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {S: f"ACCOUNT#{account}"},
                ":lo": {S: f"ORDER#{symbol}#{from_id:012d}"},
                ":hi": {S: f"ORDER#{symbol}#~"},
            },
            "Limit": limit,
        }
        return [from_item(item) for item in self.client.query(**kwargs).get("Items", [])]

    def my_trades(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[dict]:
        kwargs = {
            "TableName": self.trades_table,
            "IndexName": "TradesByAccount",
            "KeyConditionExpression": "AccountPK = :a AND SK >= :from",
            "ExpressionAttributeValues": {":a": {S: f"ACCOUNT#{account}#{symbol}"}, ":from": {S: f"TRADE#{from_id:012d}"}},
            "Limit": limit,
        }
        return [_plain(item) for item in self.client.query(**kwargs).get("Items", [])]

    # ------------------------------------------------------------ settlement
    def write(self, step: SettlementStep) -> bool:
        """Settlement's port: the step's ledger entry, order changes and trade rows in one transaction, once."""
        items = [self._change_item(change) for change in step.changes]
        if step.trades:
            items += self._trade_items(step.trades)
        return self._settle(step.entry, items)

    def _settle(self, entry: LedgerEntry | None, items: list[dict]) -> bool:
        try:
            return self.ledger.apply(entry, items)
        except ClientError as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons and "ValidationError" not in reasons:
                return False  # a record already moved past this event
            raise

    def _change_item(self, change: OrderChange) -> dict:
        if change.trade_id:
            return self._fill_update(change.after, change.trade_id, change.delta("executed"),
                                     change.delta("cum_quote"), change.delta("hold_used"))
        return self._status_update(change.after, change.from_statuses, change.settings(),
                                   change.delta("prevented_qty"))

    def _fill_update(self, after: OrderRecord, trade_id: int, qty: int, quote: int, used: int) -> dict:
        """The order's update for one fill, applied only if it has not seen this trade yet."""
        update = {
            "TableName": self.orders_table,
            "Key": order_key(after.account, after.symbol, after.order_id),
            "UpdateExpression": "ADD executed :q, cum_quote :c, hold_used :u "
            "SET #status = :st, update_time = :ts, last_trade_id = :t",
            "ConditionExpression": "last_trade_id < :t",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":q": {N: str(qty)}, ":c": {N: str(quote)}, ":u": {N: str(used)}, ":st": {S: str(after.status)},
                ":ts": {N: str(after.update_time)}, ":t": {N: str(trade_id)},
            },
        }
        update["UpdateExpression"] += " REMOVE PendingPK, PendingSince" + (
            ", OpenPK, OpenSK" if after.status in FINAL_STATUSES else "")
        return {"Update": update}

    def _status_update(self, after: OrderRecord, from_statuses, settings: dict[str, int], prevented: int) -> dict:
        """A status change, conditional on the order still being open (or in `from_statuses`)."""
        status = after.status
        sets = ["#status = :st", "update_time = :ts"]
        values = {":st": {S: str(status)}, ":ts": {N: str(after.update_time)}}
        for name, value in settings.items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = {N: str(value)}
        expression = "SET " + ", ".join(sets)
        if prevented:
            expression += " ADD prevented_qty :p"
            values[":p"] = {N: str(prevented)}
        # Any status change means the engine has seen the order: it leaves the reconciler's index.
        expression += " REMOVE PendingPK, PendingSince" + (", OpenPK, OpenSK" if status in FINAL_STATUSES else "")
        allowed = from_statuses or [s for s in OrderStatus if s not in FINAL_STATUSES]
        placeholders = []
        for i, s in enumerate(allowed):
            values[f":from{i}"] = {S: str(s)}
            placeholders.append(f":from{i}")
        return {"Update": {
            "TableName": self.orders_table,
            "Key": order_key(after.account, after.symbol, after.order_id),
            "UpdateExpression": expression,
            "ConditionExpression": f"#status IN ({', '.join(placeholders)})",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }}

    def _trade_items(self, sides) -> list[dict]:
        """One item per side of a trade (myTrades), created once."""
        items = []
        for side in sides:
            fields = {name: getattr(side, name) for name in side.__slots__}
            item = {
                "PK": {S: f"SYMBOL#{side.symbol}"},
                "SK": {S: f"TRADE#{side.id:012d}#{side.side}"},
                "AccountPK": {S: f"ACCOUNT#{side.account}#{side.symbol}"},
            }
            for name, value in fields.items():
                item[name] = {N: str(value)} if isinstance(value, int) and not isinstance(value, bool) else {
                    S: str(value)}
            items.append({"Put": {"TableName": self.trades_table, "Item": item,
                                  "ConditionExpression": "attribute_not_exists(PK)"}})
        return items


def _plain(item: dict) -> dict:
    out = {}
    for name, value in item.items():
        if N in value:
            out[name] = int(value[N])
        elif S in value:
            out[name] = value[S]
    return out
