"""Accounts and API keys in DynamoDB, secrets sealed with KMS: moto, tables from template.yaml."""

from __future__ import annotations

import boto3
import pytest
from castle.accounts import FIRST_ACCOUNT_ID, Commission
from castle.adapters.dynamo_accounts import CachedApiKeys, DynamoAccountDirectory, DynamoAccounts, api_key_pk
from castle.adapters.kms_envelope import KmsEnvelope
from castle.auth import KeyType, Permission
from moto import mock_aws

from tests.tables import create_table_from_template

SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
RW = frozenset({Permission.READ, Permission.TRADE})


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        create_table_from_template(boto3.client("dynamodb"), "AccountsTable", "accounts")
        yield


@pytest.fixture
def kms(aws):
    return boto3.client("kms")


@pytest.fixture
def envelope(kms) -> KmsEnvelope:
    return KmsEnvelope(kms, kms.create_key(Description="test")["KeyMetadata"]["Arn"])


@pytest.fixture
def accounts(envelope) -> DynamoAccounts:
    return DynamoAccounts("accounts", envelope, boto3.resource("dynamodb"))


def raw_item(api_key: str) -> dict:
    return boto3.resource("dynamodb").Table("accounts").get_item(Key={"PK": api_key_pk(api_key), "SK": "APIKEY"})["Item"]


def test_envelope_round_trips_and_refuses_another_context(envelope):
    sealed = envelope.seal(SECRET, {"castle:account": "1", "castle:apiKey": "k"})
    assert SECRET not in sealed.ciphertext and len(sealed.nonce) == 12
    assert envelope.open(sealed, {"castle:account": "1", "castle:apiKey": "k"}) == SECRET
    with pytest.raises(Exception):  # noqa: B017 (KMS's InvalidCiphertextException, or AES-GCM's InvalidTag)
        envelope.open(sealed, {"castle:account": "2", "castle:apiKey": "k"})


def test_account_ids_are_integers_from_an_atomic_counter(accounts):
    first, second = accounts.create_account(1), accounts.create_account(2)
    assert (first.account_id, second.account_id) == (FIRST_ACCOUNT_ID, FIRST_ACCOUNT_ID + 1)
    assert accounts.profile(first.account_id).commission == Commission(100_000, 100_000)
    assert accounts.profile(999) is None


def test_the_profile_stays_readable_by_the_fraud_checks_directory(accounts):
    profile = accounts.create_account(1_700_000_000_000)
    facts = DynamoAccountDirectory("accounts", boto3.resource("dynamodb")).facts(str(profile.account_id))
    assert facts.created_at == 1_700_000_000_000


def test_an_hmac_secret_is_stored_sealed_and_opens_on_read(accounts):
    account = accounts.create_account(1).account_id
    accounts.put_key("key-1", account, RW, 5, secret=SECRET, ip_allowlist=("1.2.3.4",))
    item = raw_item("key-1")
    assert SECRET.decode() not in str(item) and item["KeyType"] == "HMAC_SHA256"
    record = accounts.get("key-1")
    assert (record.account_id, record.secret, record.key_type, record.permissions) == (
        account, SECRET, KeyType.HMAC_SHA256, RW,
    )
    assert record.ip_allowlist == ("1.2.3.4",) and record.commission == Commission()


def test_a_sealed_secret_copied_to_another_key_does_not_open(accounts):
    account = accounts.create_account(1).account_id
    accounts.put_key("key-1", account, RW, 5, secret=SECRET)
    stolen = {**raw_item("key-1"), "PK": api_key_pk("key-2")}
    boto3.resource("dynamodb").Table("accounts").put_item(Item=stolen)
    with pytest.raises(Exception):  # noqa: B017
        accounts.get("key-2")


def test_an_ed25519_key_stores_only_its_public_key(accounts):
    account = accounts.create_account(1).account_id
    accounts.put_key("ed", account, frozenset({Permission.READ}), 5, public_key=b"\x01" * 32)
    record = accounts.get("ed")
    assert (record.key_type, record.public_key, record.secret) == (KeyType.ED25519, b"\x01" * 32, None)


def test_a_key_id_is_never_reused(accounts):
    accounts.put_key("dup", 1, RW, 5, secret=SECRET)
    with pytest.raises(Exception):  # noqa: B017 (ConditionalCheckFailedException)
        accounts.put_key("dup", 2, RW, 5, secret=SECRET)
    assert accounts.get("nope") is None


def test_the_cache_serves_a_warm_key_until_its_ttl_and_forgets_the_oldest():
    class Counting:
        calls = 0

        def get(self, api_key):
            self.calls += 1
            return None if api_key == "none" else f"record-{api_key}"

    inner, clock = Counting(), [0]
    cache = CachedApiKeys(inner, lambda: clock[0], ttl_ms=1000, max_entries=2)
    assert cache.get("a") == cache.get("a") == "record-a" and inner.calls == 1
    clock[0] = 1000
    cache.get("a")
    assert inner.calls == 2
    cache.get("b"), cache.get("c")  # "a" is the oldest: out
    cache.get("a")
    assert inner.calls == 5
    cache.get("none"), cache.get("none")
    assert inner.calls == 7  # unknown keys are not cached
