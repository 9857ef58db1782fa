"""AccountsTable: generic PK/SK items under PK ACCOUNT#<id>.

DynamoAccountDirectory reads what the fraud check needs: SK PROFILE
(CreatedAt, ms) and the address book, SK ADDRESS#<network>#<address>
(Address, Network, AddedAt). DynamoAccounts keeps profiles, the account id
counter and API keys (below).
"""

from __future__ import annotations

from collections import OrderedDict

import boto3
from boto3.dynamodb.conditions import Key

from castle.accounts import DEFAULT_MAKER, DEFAULT_TAKER, FIRST_ACCOUNT_ID, AccountProfile, Commission
from castle.adapters.kms_envelope import KmsEnvelope, Sealed
from castle.auth import ApiKeyRecord, KeyType, Permission
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


# ------------------------------------------------------------ accounts and API keys
# More items in AccountsTable (castle.auth, castle.accounts):
# - `COUNTER` / `ACCOUNT_ID`: `Next`, the last account id handed out (an atomic ADD);
# - `ACCOUNT#<id>` / `PROFILE`: also MakerCommission, TakerCommission (1e-8 units),
#   CanTrade, CanWithdraw, CanDeposit, UpdateTime;
# - `APIKEY#<apiKey>` / `APIKEY`: AccountId, Permissions, IpAllowList, KeyType,
#   CreatedAt, and either the sealed HMAC secret (EncryptedKey, Nonce,
#   Ciphertext: castle.adapters.kms_envelope) or the Ed25519 PublicKey (raw).
#   `ACCOUNT#<id>` / `APIKEY#<apiKey>` lists an account's keys.
COUNTER_KEY = {"PK": "COUNTER", "SK": "ACCOUNT_ID"}
APIKEY_SK = "APIKEY"


def api_key_pk(api_key: str) -> str:
    return f"APIKEY#{api_key}"


def secret_context(account_id: int, api_key: str) -> dict[str, str]:
    """The KMS encryption context of a key's secret: it opens only for this account and key."""
    return {"castle:account": str(account_id), "castle:apiKey": api_key}


class DynamoAccounts:
    """Account profiles, the id counter and API keys. HMAC secrets go through a KmsEnvelope."""

    def __init__(self, table_name: str, envelope: KmsEnvelope, dynamodb=None) -> None:
        self.table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)
        self.envelope = envelope

    def next_account_id(self) -> int:
        result = self.table.update_item(
            Key=COUNTER_KEY,
            UpdateExpression="SET #next = if_not_exists(#next, :start) + :one",
            ExpressionAttributeNames={"#next": "Next"},
            ExpressionAttributeValues={":start": FIRST_ACCOUNT_ID - 1, ":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["Next"])

    def create_account(self, created_at: int, commission: Commission | None = None) -> AccountProfile:
        profile = AccountProfile(self.next_account_id(), created_at, commission or Commission(), update_time=created_at)
        self.table.put_item(
            Item={
                "PK": account_key(str(profile.account_id)),
                "SK": PROFILE,
                "CreatedAt": created_at,
                "MakerCommission": profile.commission.maker,
                "TakerCommission": profile.commission.taker,
                "CanTrade": True,
                "CanWithdraw": True,
                "CanDeposit": True,
                "UpdateTime": created_at,
            },
            ConditionExpression="attribute_not_exists(PK)",
        )
        return profile

    def profile(self, account_id: int) -> AccountProfile | None:
        item = self.table.get_item(Key={"PK": account_key(str(account_id)), "SK": PROFILE}).get("Item")
        if item is None:
            return None
        created = int(item["CreatedAt"])
        return AccountProfile(
            account_id,
            created,
            Commission(int(item.get("MakerCommission", DEFAULT_MAKER)), int(item.get("TakerCommission", DEFAULT_TAKER))),
            bool(item.get("CanTrade", True)),
            bool(item.get("CanWithdraw", True)),
            bool(item.get("CanDeposit", True)),
            int(item.get("UpdateTime", created)),
        )

    def put_key(
        self,
        api_key: str,
        account_id: int,
        permissions: frozenset[Permission],
        created_at: int,
        *,
        secret: bytes | None = None,
        public_key: bytes | None = None,
        ip_allowlist: tuple[str, ...] = (),
    ) -> None:
        """Store a key: an HMAC secret (sealed here, never stored in plain) or an Ed25519 public key."""
        if (secret is None) == (public_key is None):
            raise ValueError("a key has either a secret (HMAC) or a public key (Ed25519)")
        item = {
            "PK": api_key_pk(api_key),
            "SK": APIKEY_SK,
            "AccountId": account_id,
            "Permissions": sorted(str(p) for p in permissions),
            "IpAllowList": list(ip_allowlist),
            "CreatedAt": created_at,
        }
        if secret is not None:
            sealed = self.envelope.seal(secret, secret_context(account_id, api_key))
            item |= {
                "KeyType": str(KeyType.HMAC_SHA256),
                "EncryptedKey": sealed.encrypted_key,
                "Nonce": sealed.nonce,
                "Ciphertext": sealed.ciphertext,
            }
        else:
            item |= {"KeyType": str(KeyType.ED25519), "PublicKey": public_key}
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        self.table.put_item(Item={"PK": account_key(str(account_id)), "SK": api_key_pk(api_key), "CreatedAt": created_at})

    def get(self, api_key: str) -> ApiKeyRecord | None:
        """castle.auth.ApiKeys: the key with its secret opened and its account's commission."""
        item = self.table.get_item(Key={"PK": api_key_pk(api_key), "SK": APIKEY_SK}).get("Item")
        if item is None:
            return None
        account_id = int(item["AccountId"])
        key_type = KeyType(item["KeyType"])
        secret = public_key = None
        if key_type is KeyType.HMAC_SHA256:
            sealed = Sealed(bytes(item["EncryptedKey"]), bytes(item["Nonce"]), bytes(item["Ciphertext"]))
            secret = self.envelope.open(sealed, secret_context(account_id, api_key))
        else:
            public_key = bytes(item["PublicKey"])
        profile = self.profile(account_id)
        return ApiKeyRecord(
            api_key=api_key,
            account_id=account_id,
            permissions=frozenset(Permission(p) for p in item.get("Permissions", [])),
            key_type=key_type,
            created_at=int(item["CreatedAt"]),
            ip_allowlist=tuple(item.get("IpAllowList", [])),
            secret=secret,
            public_key=public_key,
            commission=profile.commission if profile else Commission(),
        )


class CachedApiKeys:
    """castle.auth.ApiKeys in front of another: decrypted keys kept in memory for a warm Lambda.

    Bounded (oldest out first) and short-lived, so a revoked key or a changed
    commission takes effect within `ttl_ms`. Unknown keys are not cached.
    """

    def __init__(self, inner, clock_ms, ttl_ms: int = 30_000, max_entries: int = 1024) -> None:
        self.inner = inner
        self.clock_ms = clock_ms
        self.ttl_ms = ttl_ms
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[int, ApiKeyRecord]] = OrderedDict()

    def get(self, api_key: str) -> ApiKeyRecord | None:
        now = self.clock_ms()
        hit = self._entries.get(api_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._entries.pop(api_key, None)
        record = self.inner.get(api_key)
        if record is not None:
            self._entries[api_key] = (now + self.ttl_ms, record)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return record
