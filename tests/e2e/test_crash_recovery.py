"""Crash recovery under load: kill -9 the matching engine 10 times (and settlement once) while clients trade.

Three python-binance clients place and cancel signed orders through the edge
on BNBUSDT (a book no other test touches) while the test kills the engine
process at random moments; the launcher restarts it, and it recovers from its
latest snapshot (S3, KMS) plus the journal after it. Afterwards:

- every acknowledged order is found by GET /api/v3/order with a status that
  agrees with its fills and with any acknowledged cancel; an order whose
  answer was -1007 (status unknown) is looked up by its client order id;
- no trade id appears twice, neither in an account's myTrades nor in the
  engine's events;
- /api/v3/depth equals the engine's book (rebuilt from snapshot + journal,
  as the next restart would) and the sum of the accounts' open orders;
- `castle audit` balances to the unit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from castle.adapters.kms_envelope import KmsEnvelope
from castle.adapters.redis_streams import RedisCommandStream, RedisEventLog, connect, events_key
from castle.adapters.s3_snapshots import S3Snapshots
from castle.symbols import default_symbols
from matching_container.shard import ShardRunner
from tests.e2e.conftest import eventually

SYMBOL = "BNBUSDT"
KILLS = 10
WORKERS = 3
SEED = int(os.environ.get("CASTLE_CRASH_SEED", "20261125"))
CASTLE = str(Path(sys.executable).parent / "castle")
FINAL = {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"}


def castle(cloud, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CASTLE, *args, "--url", cloud.edge_url, f"--token={cloud.info.admin_token}"],
                          capture_output=True, text=True, timeout=60)


def health(cloud) -> dict:
    try:
        with urllib.request.urlopen(f"{cloud.edge_url}/health", timeout=10) as response:
            return json.loads(response.read())["components"]
    except urllib.error.HTTPError as e:  # 503 while a component restarts: the body still lists them
        return json.loads(e.read())["components"]


def kill(cloud, name: str) -> float:
    """kill -9 the component; the seconds until the launcher has it running again."""
    pid = health(cloud)[name]["pid"]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def back() -> bool:
        c = health(cloud)[name]
        return c["status"] == "ok" and c["pid"] != pid

    eventually(back, timeout_s=20, interval_s=0.05)
    return time.monotonic() - t0


def client_for(cloud, account: dict) -> Client:
    client = Client(account["apiKey"], account["secretKey"], ping=False, requests_params={"timeout": 15})
    client.API_URL = f"{cloud.edge_url}/api"
    return client


@dataclass
class Ledger:
    """What the clients were told."""

    acked: dict[int, tuple[int, str]] = field(default_factory=dict)  # orderId -> (worker, clientOrderId)
    canceled: set[int] = field(default_factory=set)  # cancels answered 200
    unknown: list[tuple[int, str]] = field(default_factory=list)  # (worker, clientOrderId): -1007 or no answer
    errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def trade(client: Client, worker: int, rng: random.Random, stop: threading.Event, book: Ledger) -> None:
    """Bounded: about 5 requests a second, until `stop`."""
    mine: list[int] = []
    while not stop.is_set():
        time.sleep(rng.uniform(0.1, 0.3))
        if mine and rng.random() < 0.3:
            order_id = mine.pop(rng.randrange(len(mine)))
            try:
                client.cancel_order(symbol=SYMBOL, orderId=order_id)
                with book.lock:
                    book.canceled.add(order_id)
            except BinanceAPIException as e:
                book.errors[e.code] += 1  # -2011: it filled first; -1007: unknown, checked below anyway
            except requests.RequestException:
                book.errors["io"] += 1
            continue
        side = rng.choice(["BUY", "SELL"])
        price = Decimal("300.00") + Decimal(rng.randint(-5, 5)) / 100
        qty = Decimal(rng.randint(20, 60)) / 1000
        client_id = f"crash{worker}{uuid.uuid4().hex[:20]}"
        try:
            order = client.create_order(symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC",
                                        quantity=str(qty), price=str(price), newClientOrderId=client_id)
        except BinanceAPIException as e:
            book.errors[e.code] += 1
            if e.code == -1007:
                with book.lock:
                    book.unknown.append((worker, client_id))
            continue
        except requests.RequestException:
            book.errors["io"] += 1
            with book.lock:
                book.unknown.append((worker, client_id))
            continue
        with book.lock:
            book.acked[order["orderId"]] = (worker, client_id)
        mine.append(order["orderId"])


def retrying(call, attempts: int = 5):
    for attempt in range(attempts):
        try:
            return call()
        except BinanceAPIException as e:
            if e.status_code not in (429, 503) or attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)


def consistent(order: dict, cancel_acked: bool, unknown: bool = False) -> bool:
    executed, orig = Decimal(order["executedQty"]), Decimal(order["origQty"])
    status = order["status"]
    if unknown and status == "REJECTED":  # the reconciler's verdict on a command the engine never saw
        return executed == 0
    if status not in FINAL:
        return False
    if cancel_acked and status != "CANCELED":
        return False
    return {
        "NEW": executed == 0,
        "PARTIALLY_FILLED": 0 < executed < orig,
        "FILLED": executed == orig,
    }.get(status, executed < orig)


class CheckpointOnly:
    """A ResultSink that knows the real checkpoint and stores nothing: recovery without side effects."""

    def __init__(self, log: RedisEventLog) -> None:
        self.log = log

    def checkpoint(self, symbol: str) -> str | None:
        return self.log.checkpoint(symbol)

    def commit(self, batch) -> None:
        pass


def engine_book(cloud) -> tuple[list, list]:
    """The book the engine holds: recovered exactly as a restarted engine would (snapshot + journal)."""
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    kms, s3 = (session.client(s, endpoint_url=cloud.info.endpoint) for s in ("kms", "s3"))
    store = S3Snapshots(s3, KmsEnvelope(kms, cloud.outputs["SnapshotsKeyArn"]), cloud.outputs["SnapshotsBucketName"])
    client = connect(cloud.redis_url)
    symbol = default_symbols()[SYMBOL]
    runner = ShardRunner([symbol], RedisCommandStream(client, [SYMBOL]), CheckpointOnly(RedisEventLog(client)), store)
    runner.recover()
    assert runner.recoveries[SYMBOL].snapshot_seq is not None, "the engine never snapshotted"
    depth = runner.engines[SYMBOL].depth()
    fmt = lambda levels: [[symbol.format_price(p), symbol.format_qty(q)] for p, q in levels]  # noqa: E731
    return fmt(depth.bids), fmt(depth.asks)


@pytest.fixture(scope="module")
def traders(local_cloud) -> Iterator[list[dict]]:
    accounts = []
    for _ in range(WORKERS):
        out = castle(local_cloud, "account", "create", "--fund", "USDT=1000000", "--fund", "BNB=10000")
        assert out.returncode == 0, out.stderr
        accounts.append(json.loads(out.stdout))
    yield accounts
    # The book as it was found: the other modules' BNBUSDT expectations start from an empty book.
    for account in accounts:
        try:
            retrying(lambda a=account: client_for(local_cloud, a).cancel_all_open_orders(symbol=SYMBOL))
        except BinanceAPIException as e:
            assert e.code == -2011, e  # nothing open


@pytest.mark.timeout(360)  # the session cloud may be deployed inside this test's setup
def test_kill_9_under_load_loses_no_order_duplicates_no_trade_and_balances(local_cloud, traders):
    rng = random.Random(SEED)
    clients = [client_for(local_cloud, a) for a in traders]
    book, stop = Ledger(), threading.Event()
    workers = [threading.Thread(target=trade, args=(c, i, random.Random(SEED + i), stop, book), daemon=True)
               for i, c in enumerate(clients)]
    for w in workers:
        w.start()
    restarts = []
    try:
        for k in range(KILLS):
            time.sleep(rng.uniform(1.5, 4.0))
            restarts.append(kill(local_cloud, "matching"))
            if k == KILLS // 2:
                restarts.append(kill(local_cloud, "settlement"))
        time.sleep(2)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    print(f"\nseed {SEED}: {len(book.acked)} orders acked, {len(book.canceled)} cancels acked, "
          f"{len(book.unknown)} unknown, errors {dict(book.errors)}; restarts took "
          f"{min(restarts):.2f}-{max(restarts):.2f}s")
    assert len(book.acked) >= 30 and health(local_cloud)["matching"]["restarts"] >= KILLS

    # Every acknowledged order is there, settled, and its status agrees with its fills and its cancel.
    by_worker = {i: c for i, c in enumerate(clients)}

    def settled(order_id: int) -> dict:
        client = by_worker[book.acked[order_id][0]]

        def query() -> dict | None:
            order = retrying(lambda: client.get_order(symbol=SYMBOL, orderId=order_id))
            return order if order["status"] != "PENDING_NEW" else None

        return eventually(query, timeout_s=30)

    with ThreadPoolExecutor(4) as pool:
        orders = dict(zip(book.acked, pool.map(settled, list(book.acked)), strict=True))
    bad = {oid: o for oid, o in orders.items() if not consistent(o, oid in book.canceled)}
    assert not bad, f"inconsistent orders: {list(bad.values())[:3]}"

    # Orders whose answer was lost: if the engine took them, they are settled like any other.
    for worker, client_id in book.unknown:
        try:
            order = retrying(lambda w=worker, c=client_id: by_worker[w].get_order(symbol=SYMBOL,
                                                                                  origClientOrderId=c))
        except BinanceAPIException as e:
            assert e.code == -2013, e
            continue
        eventually(lambda w=worker, c=client_id: consistent(
            retrying(lambda: by_worker[w].get_order(symbol=SYMBOL, origClientOrderId=c)), False, unknown=True),
            timeout_s=90)
        orders[order["orderId"]] = order

    # No trade twice: not in any account's myTrades, not in the engine's events.
    trade_sides: Counter = Counter()
    for client in clients:
        ids = [t["id"] for t in retrying(lambda c=client: c.get_my_trades(symbol=SYMBOL, limit=1000))]
        assert len(ids) == len(set(ids)), "a trade listed twice in myTrades"
        trade_sides.update(ids)
    assert trade_sides and set(trade_sides.values()) == {2}  # a buyer and a seller each, no self-trades
    redis = connect(local_cloud.redis_url)
    executed = [json.loads(f["event"])["trade_id"] for _, f in redis.xrange(events_key(SYMBOL))
                if f["type"] == "TradeExecuted"]
    assert len(executed) == len(set(executed)), "the engine published a trade twice"
    assert set(executed) == set(trade_sides)

    # The public book is the engine's, and the accounts' open orders.
    bids, asks = engine_book(local_cloud)
    depth = retrying(lambda: clients[0].get_order_book(symbol=SYMBOL, limit=1000))
    assert (depth["bids"], depth["asks"]) == (bids, asks)
    resting: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for client in clients:
        for o in retrying(lambda c=client: c.get_open_orders(symbol=SYMBOL)):
            resting[(o["side"], Decimal(o["price"]))] += Decimal(o["origQty"]) - Decimal(o["executedQty"])
    assert sorted((p, q) for (s, p), q in resting.items() if s == "BUY") == sorted(
        (Decimal(p), Decimal(q)) for p, q in bids)
    assert sorted((p, q) for (s, p), q in resting.items() if s == "SELL") == sorted(
        (Decimal(p), Decimal(q)) for p, q in asks)

    # And the ledger balances to the unit.
    def audit_balances() -> dict | None:
        out = castle(local_cloud, "audit")
        return json.loads(out.stdout) if out.returncode == 0 else None

    report = eventually(audit_balances, timeout_s=60, interval_s=1)
    assert report["balanced"] and {"USDT", "BNB"} <= {a["asset"] for a in report["assets"]}
