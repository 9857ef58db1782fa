"""Engine snapshots in S3, envelope-encrypted under KMS (castle.adapters.kms_envelope).

Keys, one folder per symbol:

    snapshots/BTCUSDT/00000000000000012345.snap   one snapshot per seq (zero-padded: keys sort by seq)
    snapshots/BTCUSDT/LATEST                      {"key", "seq", "lastCommandId"}: the newest one

A snapshot object is JSON: its symbol, seq and journal position in clear (to
find it), and the engine state, zlib-compressed and sealed with a fresh data
key under the encryption context {"symbol", "seq"}: a snapshot copied under
another symbol's or seq's name does not open. The pointer is written after
the snapshot, so a crash between the two leaves the previous pointer, which
still names a whole snapshot. `latest` falls back to the newest snapshot that
opens when the pointer's does not.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib

from botocore.exceptions import ClientError

from castle.adapters.kms_envelope import KmsEnvelope, Sealed
from castle.journal import StoredSnapshot

FORMAT = 1
PREFIX = "snapshots/"
FALLBACK_TRIES = 5  # older snapshots tried when the newest does not open

log = logging.getLogger("castle.snapshots")


def snapshot_key(symbol: str, seq: int) -> str:
    return f"{PREFIX}{symbol}/{seq:020d}.snap"


def pointer_key(symbol: str) -> str:
    return f"{PREFIX}{symbol}/LATEST"


def context(symbol: str, seq: int) -> dict[str, str]:
    return {"symbol": symbol, "seq": str(seq)}


class S3Snapshots:
    """A SnapshotStore on one bucket."""

    def __init__(self, s3_client, envelope: KmsEnvelope, bucket: str) -> None:
        self.s3 = s3_client
        self.envelope = envelope
        self.bucket = bucket

    def save(self, snapshot: StoredSnapshot) -> None:
        plaintext = zlib.compress(json.dumps(snapshot.state, separators=(",", ":")).encode(), 1)
        sealed = self.envelope.seal(plaintext, context(snapshot.symbol, snapshot.seq))
        key = snapshot_key(snapshot.symbol, snapshot.seq)
        body = {
            "format": FORMAT,
            "symbol": snapshot.symbol,
            "seq": snapshot.seq,
            "lastCommandId": snapshot.last_command_id,
            "encryptedKey": _b64(sealed.encrypted_key),
            "nonce": _b64(sealed.nonce),
            "ciphertext": _b64(sealed.ciphertext),
        }
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(body).encode(),
                           ContentType="application/json")
        pointer = {"key": key, "seq": snapshot.seq, "lastCommandId": snapshot.last_command_id}
        self.s3.put_object(Bucket=self.bucket, Key=pointer_key(snapshot.symbol), Body=json.dumps(pointer).encode(),
                           ContentType="application/json")

    def latest(self, symbol: str) -> StoredSnapshot | None:
        pointed = self._pointer(symbol)
        if pointed is not None:
            try:
                return self.load(symbol, pointed)
            except Exception as e:  # a damaged or missing snapshot: older ones may still serve
                log.error("snapshot %s does not open (%s); trying older ones", pointed, e)
        for key in self._keys(symbol)[:FALLBACK_TRIES]:
            if key == pointed:
                continue
            try:
                return self.load(symbol, key)
            except Exception as e:
                log.error("snapshot %s does not open (%s)", key, e)
        return None

    def load(self, symbol: str, key: str) -> StoredSnapshot:
        body = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        if body.get("format") != FORMAT or body.get("symbol") != symbol:
            raise ValueError(f"{key} is not a format-{FORMAT} snapshot of {symbol}")
        seq = int(body["seq"])
        sealed = Sealed(_unb64(body["encryptedKey"]), _unb64(body["nonce"]), _unb64(body["ciphertext"]))
        state = json.loads(zlib.decompress(self.envelope.open(sealed, context(symbol, seq))))
        return StoredSnapshot(symbol, seq, body["lastCommandId"], state)

    def _pointer(self, symbol: str) -> str | None:
        try:
            raw = self.s3.get_object(Bucket=self.bucket, Key=pointer_key(symbol))["Body"].read()
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(raw)["key"]

    def _keys(self, symbol: str) -> list[str]:
        """The symbol's snapshot keys, newest first."""
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{PREFIX}{symbol}/"):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".snap"))
        return sorted(keys, reverse=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
