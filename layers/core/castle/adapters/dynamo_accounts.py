"""AccountsTable: generic PK/SK items under PK ACCOUNT#<id>.

This adapter reads what the fraud check needs: SK PROFILE (CreatedAt, ms) and
the address book, SK ADDRESS#<network>#<address> (Address, Network, AddedAt).
Other kinds of item (API keys, ...) share the partition under their own SK
prefix and are never read here.
"""

from __future__ import annotations

import boto3
from boto3.dynamodb.conditions import Key

from castle.risk.fraud import AccountFacts, KnownAddress

PROFILE = "PROFILE"
ADDRESS_PREFIX = "ADDRESS#"


def account_key(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


class DynamoAccountDirectory:
    """Implements castle.risk.withdrawals.AccountDirectory."""

    def __init__(self, table_name: str, dynamodb=None) -> None:
        self.table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    def put_profile(self, account_id: str, created_at: int) -> None:
        self.table.put_item(Item={"PK": account_key(account_id), "SK": PROFILE, "CreatedAt": created_at})

    def add_address(self, account_id: str, network: str, address: str, added_at: int) -> None:
        """Add to the address book; adding it again keeps the first AddedAt (the cooling period never restarts early)."""
        self.table.update_item(
            Key={"PK": account_key(account_id), "SK": f"{ADDRESS_PREFIX}{network}#{address}"},
            UpdateExpression="SET Address = :address, Network = :network, AddedAt = if_not_exists(AddedAt, :at)",
            ExpressionAttributeValues={":address": address, ":network": network, ":at": added_at},
        )

    def facts(self, account_id: str) -> AccountFacts | None:
        pk = account_key(account_id)
        profile = self.table.get_item(Key={"PK": pk, "SK": PROFILE}, ConsistentRead=True).get("Item")
        if profile is None:
            return None
        items: list[dict] = []
        query = {"KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(ADDRESS_PREFIX)}
        while True:
            page = self.table.query(ConsistentRead=True, **query)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        book = tuple(KnownAddress(i["Address"], i["Network"], int(i["AddedAt"])) for i in items)
        return AccountFacts(created_at=int(profile["CreatedAt"]), known_addresses=book)
