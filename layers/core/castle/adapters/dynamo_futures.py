"""Futures records in one DynamoDB table (FuturesTable), and the futures wallets in the shared ledger.

    PK ACCOUNT#<id>   SK ORDER#<symbol>#<orderId 12>      an order (OpenPK/OpenSK while open: OpenFuturesOrders)
                      SK CLIENT#<symbol>#<clientOrderId>  -> its order id
                      SK POSITION#<symbol>#<side>         a position leg
                      SK CONFIG#<symbol> ("CONFIG#": the position mode)
                      SK TRADE#<symbol>#<tradeId 12>#<m|t> one side of a fill
                      SK INCOME#<tranId 16>               one wallet change
    PK FUNDING#<symbol>  SK <fundingTime 13>             a settled funding event

Versioned records are written only over an older version (the condition),
rows only once; the wallet is the ledger's `UM:<id>` USDT balance (BalancesTable),
so `castle audit` covers futures money with spot's.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from castle.adapters.dynamo import paginate
from castle.adapters.dynamo_ledger import DynamoLedger
from castle.futures.events import OrderView
from castle.futures.records import (
    MARGIN_ASSET,
    AccountView,
    FundingRecord,
    FuturesOrderRecord,
    IncomeRecord,
    PositionRecord,
    SymbolConfigRecord,
    TradeRecord,
    wallet_account,
)
from castle.futures.settle import FuturesSettlement

OPEN_INDEX = "OpenFuturesOrders"


def _attr(value) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


def _value(attr: dict):
    if "BOOL" in attr:
        return attr["BOOL"]
    if "N" in attr:
        return int(attr["N"])
    return attr["S"]


def _item(pk: str, sk: str, fields: dict) -> dict:
    item = {"PK": {"S": pk}, "SK": {"S": sk}}
    for name, value in fields.items():
        if value is not None:
            item[name] = _attr(value)
    return item


def _fields(item: dict, names) -> dict:
    return {name: _value(item[name]) if name in item else None for name in names}


def _account_pk(account: int) -> str:
    return f"ACCOUNT#{account}"


class DynamoFuturesRecords:
    """`castle.futures.ports.FuturesRecords` and settlement's writes."""

    def __init__(self, client, table: str, ledger: DynamoLedger) -> None:
        self.client = client
        self.table = table
        self.ledger = ledger

    # ---------------------------------------------------------- settlement
    def write(self, s: FuturesSettlement) -> None:
        for r in s.orders:
            o = r.order
            item = _item(_account_pk(o.account), f"ORDER#{o.symbol}#{o.order_id:012d}",
                         {**o._asdict(), "version": r.version})
            if r.is_open:
                item["OpenPK"] = {"S": _account_pk(o.account)}
                item["OpenSK"] = {"S": f"{o.symbol}#{o.order_id:012d}"}
            self._newer(item)
            if o.client_order_id:
                self._once(_item(_account_pk(o.account), f"CLIENT#{o.symbol}#{o.client_order_id}",
                                 {"order_id": o.order_id}))
        for p in s.positions:
            self._newer(_item(_account_pk(p.account), f"POSITION#{p.symbol}#{p.position_side}", _dict(p)))
        for c in s.configs:
            self._newer(_item(_account_pk(c.account), f"CONFIG#{c.symbol}", _dict(c)))
        for t in s.trades:
            self._once(_item(_account_pk(t.account), f"TRADE#{t.symbol}#{t.trade_id:012d}#{'m' if t.maker else 't'}",
                             _dict(t)))
        for i in s.income:
            self._once(_item(_account_pk(i.account), f"INCOME#{i.tran_id:016d}", _dict(i)))
        for f in s.funding:
            self._once(_item(f"FUNDING#{f.symbol}", f"{f.funding_time:013d}", _dict(f)))
        for entry in s.entries:
            self.ledger.apply(entry)

    def _newer(self, item: dict) -> None:
        try:
            self.client.put_item(TableName=self.table, Item=item,
                                 ConditionExpression="attribute_not_exists(PK) OR #v < :v",
                                 ExpressionAttributeNames={"#v": "version"},
                                 ExpressionAttributeValues={":v": item["version"]})
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _once(self, item: dict) -> None:
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # --------------------------------------------------------------- reads
    def _query(self, pk: str, prefix: str, start: str | None = None, limit: int | None = None,
               index: str | None = None) -> list[dict]:
        hash_key, range_key = ("OpenPK", "OpenSK") if index else ("PK", "SK")
        kwargs = {"TableName": self.table, "ConsistentRead": index is None,
                  "ExpressionAttributeNames": {"#pk": hash_key, "#sk": range_key}}
        if start is None and not prefix:
            kwargs["KeyConditionExpression"] = "#pk = :pk"
            kwargs["ExpressionAttributeValues"] = {":pk": {"S": pk}}
            del kwargs["ExpressionAttributeNames"]["#sk"]
        elif start is None:
            kwargs["KeyConditionExpression"] = "#pk = :pk AND begins_with(#sk, :p)"
            kwargs["ExpressionAttributeValues"] = {":pk": {"S": pk}, ":p": {"S": prefix}}
        else:
            kwargs["KeyConditionExpression"] = "#pk = :pk AND #sk BETWEEN :s AND :e"
            kwargs["ExpressionAttributeValues"] = {":pk": {"S": pk}, ":s": {"S": start}, ":e": {"S": prefix + "\uffff"}}
        if index:
            kwargs["IndexName"] = index
            del kwargs["ConsistentRead"]
        out = []
        for item in paginate(self.client.query, kwargs):
            out.append(item)
            if limit is not None and len(out) >= limit:
                break
        return out

    def order(self, account, symbol, order_id):
        got = self.client.get_item(TableName=self.table, ConsistentRead=True, Key={
            "PK": {"S": _account_pk(account)}, "SK": {"S": f"ORDER#{symbol}#{order_id:012d}"}}).get("Item")
        return _order(got) if got else None

    def order_by_client_id(self, account, symbol, client_order_id):
        got = self.client.get_item(TableName=self.table, ConsistentRead=True, Key={
            "PK": {"S": _account_pk(account)}, "SK": {"S": f"CLIENT#{symbol}#{client_order_id}"}}).get("Item")
        return self.order(account, symbol, int(got["order_id"]["N"])) if got else None

    def open_orders(self, account, symbol=None):
        prefix = "" if symbol is None else f"{symbol}#"
        records = [_order(i) for i in self._query(_account_pk(account), prefix, index=OPEN_INDEX)]
        return [r for r in records if r.is_open]

    def all_orders(self, account, symbol, from_id=0, limit=500):
        prefix = f"ORDER#{symbol}#"
        return [_order(i) for i in self._query(_account_pk(account), prefix, f"{prefix}{from_id:012d}", limit)]

    def trades(self, account, symbol, from_id=0, limit=500):
        prefix = f"TRADE#{symbol}#"
        items = self._query(_account_pk(account), prefix, f"{prefix}{from_id:012d}", limit)
        return [TradeRecord(**_fields(i, TradeRecord.__slots__)) for i in items]

    def income(self, account, limit=1000):
        items = self._query(_account_pk(account), "INCOME#", limit=limit)
        return [IncomeRecord(**_fields(i, IncomeRecord.__slots__)) for i in items]

    def account(self, account):
        view = AccountView(wallet=self.ledger.balances(wallet_account(account)).get(MARGIN_ASSET, (0, 0))[0])
        for item in self._query(_account_pk(account), "CONFIG#"):
            record = SymbolConfigRecord(**_fields(item, SymbolConfigRecord.__slots__))
            if record.symbol:
                view.configs[record.symbol] = record
            else:
                view.dual = record.dual
        view.positions = [PositionRecord(**_fields(i, PositionRecord.__slots__))
                          for i in self._query(_account_pk(account), "POSITION#")]
        view.open_orders = self.open_orders(account)
        return view

    def funding_rates(self, symbol, limit=100):
        items = self._query(f"FUNDING#{symbol}", "", limit=limit)
        return [FundingRecord(**_fields(i, FundingRecord.__slots__)) for i in items]


def _dict(record) -> dict:
    return {name: getattr(record, name) for name in record.__slots__}


def _order(item: dict) -> FuturesOrderRecord:
    values = _fields(item, OrderView._fields)
    return FuturesOrderRecord(OrderView(**values), int(item["version"]["N"]))
