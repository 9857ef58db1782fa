"""The ledger in DynamoDB: one entry = one conditional transaction.

Item layout in the balances table:
- `ACCOUNT#<id>` / `BALANCE#<asset>`: `free`, `locked` (integer units);
- `ENTRY#<entryId>` / `ENTRY`: the entry itself (kind, ts, postings as JSON) —
  its existence is the idempotency key, and its INSERT on the table's stream
  feeds the running totals;
- `TOTALS` / `ASSET#<asset>` and `TOTALS` / `APPLIED#<entryId>`: the running
  totals and the markers that make applying a stream record idempotent (a
  stream batch is counted in one transaction with all its markers);
- `AUDIT` / `LATEST`: the last audit's result.

A user account's bucket may never go below zero (the condition is in the same
transaction), so an entry applies whole or not at all.
"""

from __future__ import annotations

import json
from botocore.exceptions import ClientError

from castle.adapters.dynamo import paginate

from castle import errors
from castle.futures.records import WALLET_PREFIX  # the futures engine is the authority on these
from castle.ledger import SYSTEM_ACCOUNTS, Bucket, LedgerEntry

ENTRY_SK = "ENTRY"
# Some of these are DynamoDB reserved words ("free" is), so expressions always use names.
NAMES = {"#free": "free", "#locked": "locked", "#account": "account", "#asset": "asset"}


def balance_key(account: str, asset: str) -> dict:
    return {"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": f"BALANCE#{asset}"}}


def entry_key(entry_id: str) -> dict:
    return {"PK": {"S": f"ENTRY#{entry_id}"}, "SK": {"S": ENTRY_SK}}


class DynamoLedger:
    def __init__(self, client, table: str) -> None:
        self.client = client
        self.table = table

    def apply(self, entry: LedgerEntry | None, extra_items: list[dict] = ()) -> bool:
        """Apply the entry once, with `extra_items` (e.g. the order record) in the same transaction.

        False if it was applied before (the entry's item, the first of the
        transaction, already exists); raises -2010 if a balance would go
        negative; anything else propagates.
        """
        items = (self.entry_items(entry) if entry is not None else []) + list(extra_items)
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as e:
            if e.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            if entry is not None and "ConditionalCheckFailed" in reasons[: len(self.entry_items(entry))]:
                raise errors.insufficient_balance() from None
            raise
        return True

    def entry_items(self, entry: LedgerEntry) -> list[dict]:
        """The transaction items of one entry: its idempotency record, then one update per balance."""
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **entry_key(entry.entry_id),
                        "kind": {"S": str(entry.kind)},
                        "ts": {"N": str(entry.ts)},
                        "postings": {"S": json.dumps([p.to_dict() for p in entry.postings])},
                    },
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        for (account, asset), change in sorted(entry.changes().items()):
            items.append({"Update": self._balance_update(account, asset, change)})
        return items

    def _balance_update(self, account: str, asset: str, change: dict[Bucket, int]) -> dict:
        free, locked = change[Bucket.FREE], change[Bucket.LOCKED]
        values = {":f": {"N": str(free)}, ":l": {"N": str(locked)}, ":a": {"S": account}, ":s": {"S": asset}}
        update = {
            "TableName": self.table,
            "Key": balance_key(account, asset),
            "UpdateExpression": "ADD #free :f, #locked :l SET #account = :a, #asset = :s",
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": values,
        }
        conditions = []
        if account not in SYSTEM_ACCOUNTS and not account.startswith(WALLET_PREFIX):
            if free < 0:
                conditions.append("#free >= :nf")
                values[":nf"] = {"N": str(-free)}
            if locked < 0:
                conditions.append("#locked >= :nl")
                values[":nl"] = {"N": str(-locked)}
        if conditions:
            update["ConditionExpression"] = " AND ".join(["attribute_exists(PK)", *conditions])
        return update

    def balances(self, account: str) -> dict[str, tuple[int, int]]:
        """asset -> (free, locked) for one account."""
        out: dict[str, tuple[int, int]] = {}
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :b)",
            "ExpressionAttributeValues": {":pk": {"S": f"ACCOUNT#{account}"}, ":b": {"S": "BALANCE#"}},
        }
        for item in paginate(self.client.query, kwargs):
            out[item["asset"]["S"]] = (int(item.get("free", {"N": "0"})["N"]), int(item.get("locked", {"N": "0"})["N"]))
        return out

    def all_balances(self) -> dict[tuple[str, str], int]:
        """(account, asset) -> free + locked, over every account: the audit's scan."""
        out: dict[tuple[str, str], int] = {}
        kwargs = {
            "TableName": self.table,
            "FilterExpression": "begins_with(SK, :b)",
            "ExpressionAttributeValues": {":b": {"S": "BALANCE#"}},
        }
        for item in paginate(self.client.scan, kwargs):
            key = (item["account"]["S"], item["asset"]["S"])
            out[key] = int(item.get("free", {"N": "0"})["N"]) + int(item.get("locked", {"N": "0"})["N"])
        return out

    def has_entry(self, entry_id: str) -> bool:
        return "Item" in self.client.get_item(TableName=self.table, Key=entry_key(entry_id))


class DynamoLedgerTotals:
    """Running per-asset totals of user and fee postings, kept from the entry stream."""

    def __init__(self, client, table: str) -> None:
        self.client = client
        self.table = table

    def add(self, entry: LedgerEntry) -> bool:
        """Count the entry once. False if it was counted before (a redelivered stream record)."""
        return self._count([entry])

    def add_all(self, entries: list[LedgerEntry]) -> tuple[int, int]:
        """Count each entry once: (counted, repeated), in as few transactions as fit.

        A stream batch becomes one transaction per MAX_TRANSACT_ITEMS: a marker per entry and
        one ADD per asset over all of them, rather than a transaction per entry. If any marker
        exists already (a redelivered record), that transaction changes nothing and its entries
        go one by one, so each is counted exactly once either way.
        """
        counted = repeated = 0
        unique: dict[str, LedgerEntry] = {}
        for entry in entries:
            if entry.entry_id in unique:
                repeated += 1  # the same record twice in one batch: one transaction may not touch an item twice
            else:
                unique[entry.entry_id] = entry
        for batch in _batches(list(unique.values())):
            if len(batch) > 1 and self._count(batch):
                counted += len(batch)
                continue
            for entry in batch:
                if self._count([entry]):
                    counted += 1
                else:
                    repeated += 1
        return counted, repeated

    def _count(self, entries: list[LedgerEntry]) -> bool:
        """One transaction: the entries' markers and their summed amounts. False if a marker existed."""
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"PK": {"S": "TOTALS"}, "SK": {"S": f"APPLIED#{entry.entry_id}"}},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for entry in entries
        ]
        for asset, amount in sorted(_held(entries).items()):
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"PK": {"S": "TOTALS"}, "SK": {"S": f"ASSET#{asset}"}},
                        "UpdateExpression": "ADD #held :h SET #asset = :s",
                        "ExpressionAttributeNames": {"#held": "held", "#asset": "asset"},
                        "ExpressionAttributeValues": {":h": {"N": str(amount)}, ":s": {"S": asset}},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            if e.response["Error"]["Code"] == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons[
                : len(entries)
            ]:
                return False
            raise
        return True

    def totals(self) -> dict[str, int]:
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :a)",
            "ExpressionAttributeValues": {":pk": {"S": "TOTALS"}, ":a": {"S": "ASSET#"}},
        }
        return {item["asset"]["S"]: int(item["held"]["N"]) for item in paginate(self.client.query, kwargs)}

    def mark_fault(self, entry_id: str) -> bool:
        """Record a one-time injected fault; True the first time (the caller then fails once)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"PK": {"S": f"FAULT#{entry_id}"}, "SK": {"S": "FAULT"}},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as e:
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_audit(self, report: dict) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "PK": {"S": "AUDIT"},
                "SK": {"S": "LATEST"},
                "report": {"S": json.dumps(report)},
                "ts": {"N": str(report["ts"])},
            },
        )

    def latest_audit(self) -> dict | None:
        item = self.client.get_item(TableName=self.table, Key={"PK": {"S": "AUDIT"}, "SK": {"S": "LATEST"}}).get("Item")
        return None if item is None else json.loads(item["report"]["S"])


MAX_TRANSACT_ITEMS = 100  # DynamoDB's limit on the actions of one TransactWriteItems


def _held(entries: list[LedgerEntry]) -> dict[str, int]:
    """What the entries move into or out of the exchange, per asset (EXTERNAL is the outside world)."""
    held: dict[str, int] = {}
    for entry in entries:
        for p in entry.postings:
            if p.account != "EXTERNAL":
                held[p.asset] = held.get(p.asset, 0) + p.amount
    return held


def _batches(entries: list[LedgerEntry]) -> list[list[LedgerEntry]]:
    """Consecutive runs of entries whose markers and asset updates fit one transaction."""
    out: list[list[LedgerEntry]] = []
    batch: list[LedgerEntry] = []
    assets: set[str] = set()
    for entry in entries:
        mine = set(_held([entry]))
        if batch and len(batch) + 1 + len(assets | mine) > MAX_TRANSACT_ITEMS:
            out.append(batch)
            batch, assets = [], set()
        batch.append(entry)
        assets |= mine
    if batch:
        out.append(batch)
    return out
