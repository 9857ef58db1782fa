"""S3Snapshots against moto: sealed under KMS with the symbol and seq as context, found through LATEST."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from castle.adapters.kms_envelope import KmsEnvelope
from castle.journal import StoredSnapshot
from castle.adapters.s3_snapshots import S3Snapshots, pointer_key, snapshot_key
from castle.matching import MatchingEngine
from castle.orders import PlaceOrder, Side
from castle.snapshot import restore, take_snapshot
from castle.symbols import default_symbols

BUCKET = "castle-snapshots"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3) -> S3Snapshots:
    kms = boto3.client("kms")
    return S3Snapshots(s3, KmsEnvelope(kms, kms.create_key()["KeyMetadata"]["Arn"]), BUCKET)


def engine_after(n: int) -> MatchingEngine:
    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    for i in range(1, n + 1):
        engine.submit(PlaceOrder(i, i % 3, Side.BUY if i % 2 else Side.SELL, price=100 + i % 7, qty=10 + i))
    return engine


def snap(engine: MatchingEngine, last_id: str) -> StoredSnapshot:
    return StoredSnapshot("BTCUSDT", engine.seq, last_id, take_snapshot(engine))


def test_latest_snapshot_restores_the_same_engine(store):
    store.save(snap(engine_after(5), "5-0"))
    engine = engine_after(12)
    store.save(snap(engine, "12-0"))

    latest = store.latest("BTCUSDT")

    assert (latest.seq, latest.last_command_id) == (12, "12-0")
    assert restore(default_symbols()["BTCUSDT"], latest.state).state_hash() == engine.state_hash()


def test_no_snapshot_is_none(store):
    assert store.latest("ETHUSDT") is None


def test_the_state_is_not_readable_in_the_bucket(store, s3):
    store.save(snap(engine_after(3), "3-0"))
    body = s3.get_object(Bucket=BUCKET, Key=snapshot_key("BTCUSDT", 3))["Body"].read()
    assert b"orders" not in body and json.loads(body)["lastCommandId"] == "3-0"


def test_a_snapshot_renamed_to_another_seq_does_not_open(store, s3):
    store.save(snap(engine_after(3), "3-0"))
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=snapshot_key("BTCUSDT", 3))["Body"].read())
    body["seq"] = 4  # the encryption context {"symbol", "seq"} no longer matches the data key's
    s3.put_object(Bucket=BUCKET, Key=snapshot_key("BTCUSDT", 4), Body=json.dumps(body).encode())
    with pytest.raises(Exception, match="InvalidCiphertext"):
        store.load("BTCUSDT", snapshot_key("BTCUSDT", 4))


def test_a_damaged_latest_falls_back_to_the_previous_snapshot(store, s3):
    store.save(snap(engine_after(5), "5-0"))
    store.save(snap(engine_after(9), "9-0"))
    key = snapshot_key("BTCUSDT", 9)
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body["ciphertext"] = body["ciphertext"][:-8] + "AAAAAAA="
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())

    assert store.latest("BTCUSDT").seq == 5


def test_pointer_names_the_newest_snapshot(store, s3):
    store.save(snap(engine_after(2), "2-0"))
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key=pointer_key("BTCUSDT"))["Body"].read())
    assert pointer == {"key": snapshot_key("BTCUSDT", 2), "seq": 2, "lastCommandId": "2-0"}
