"""The end-to-end benchmark's clients: signed Binance requests over keep-alive HTTP, in worker processes.

The load runs in processes of its own (spawned), so that it shares no GIL
with the edge, which lives in the benchmark's main process as it lives in
`make up`'s. Each client is a thread with a few keep-alive connections, each
bound to its own loopback address (127.<phase>.x.y): the edge appends the
peer to X-Forwarded-For, so each address is a separate client IP for
REQUEST_WEIGHT (6,000 per IP per minute, Binance's default, left as it is).

Signing is Binance's HMAC-SHA256 over the form body (python-binance sends a
POST's and a DELETE's parameters in the body, as here).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import multiprocessing
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode

SYMBOL = "BTCUSDT"
QTY = "0.00100000"
CROSS_PRICE = "30000.00"


def percentiles(samples_ms: list[float]) -> dict:
    """p50/p90/p99/p99.9/max/mean in ms (nearest rank), rounded to µs."""
    if not samples_ms:
        return {"count": 0}
    s = sorted(samples_ms)
    n = len(s)

    def at(q: float) -> float:
        return round(s[min(n - 1, max(0, int(q * n + 0.5) - 1))], 3)

    return {"count": n, "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "p999_ms": at(0.999),
            "max_ms": round(s[-1], 3), "mean_ms": round(sum(s) / n, 3)}


@dataclass(slots=True)
class Account:
    account_id: int
    api_key: str
    secret: str


@dataclass
class Spec:
    """One load phase, as a worker process receives it (picklable)."""

    kind: str  # "ping" | "noncross" | "cross"
    host: str
    port: int
    path_prefix: str  # "" through the edge, the stage path when straight to API Gateway
    threads: int
    seconds: float
    warmup_s: float
    start_at: float  # time.time() when every process starts its clock
    ip_base: str  # "127.3": connection n (over all clients) binds 127.3.<n // 250>.<n % 250 + 1>
    first_thread: int = 0
    conns_per_thread: int = 8
    accounts: list[list[Account]] = field(default_factory=list)  # per thread
    seed: int = 1
    open_depth: int = 4  # noncross: resting orders a client keeps before it cancels its oldest


class Client:
    """One benchmark client: keep-alive connections round-robin, Binance signing."""

    def __init__(self, spec: Spec, index: int) -> None:
        self.spec = spec
        self.conns = []
        for c in range(spec.conns_per_thread):
            n = (spec.first_thread + index) * spec.conns_per_thread + c
            ip = f"{spec.ip_base}.{n // 250}.{n % 250 + 1}"
            self.conns.append(http.client.HTTPConnection(spec.host, spec.port, timeout=30, source_address=(ip, 0)))
        self.turn = 0

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        """(status, parsed JSON body); one reconnect on a dropped keep-alive."""
        conn = self.conns[self.turn]
        self.turn = (self.turn + 1) % len(self.conns)
        for attempt in (0, 1):
            try:
                conn.request(method, self.spec.path_prefix + path, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
                return response.status, (json.loads(data) if data else None)
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def signed(self, method: str, path: str, account: Account, params: dict):
        params = {**params, "timestamp": str(time.time_ns() // 1_000_000)}
        body = urlencode(params)
        signature = hmac.new(account.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        return self.request(method, path, f"{body}&signature={signature}", {
            "X-MBX-APIKEY": account.api_key, "Content-Type": "application/x-www-form-urlencoded"})

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


class Recorder:
    """Latencies and outcomes of one client, kept only after the warm-up."""

    def __init__(self, measure_from: float) -> None:
        self.measure_from = measure_from
        self.latency: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.orders: list[tuple] = []  # (account, orderId, role, status, executedQty): every acknowledged order
        self.cancels: list[tuple] = []  # (account, orderId) acknowledged cancels

    def record(self, what: str, started: float, ended: float, status: int, body) -> bool:
        ok = status == 200
        if not ok:
            key = f"{what}:{status}:{(body or {}).get('code') if isinstance(body, dict) else body}"
            self.errors[key] = self.errors.get(key, 0) + 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{what} -> {status} {body}")
        if started >= self.measure_from:
            self.latency.setdefault(what, []).append((ended - started) * 1000)
            if ok:
                self.counts[what] = self.counts.get(what, 0) + 1
        return ok


def run_thread(spec: Spec, index: int, out: list) -> None:
    client = Client(spec, index)
    rng = random.Random(spec.seed * 1000 + spec.first_thread + index)
    # The clock: every process sleeps to the same wall-clock start.
    time.sleep(max(0.0, spec.start_at - time.time()))
    t0 = time.perf_counter()
    measure_from, deadline = t0 + spec.warmup_s, t0 + spec.warmup_s + spec.seconds
    rec = Recorder(measure_from)
    accounts = spec.accounts[index] if spec.accounts else []
    turn = 0
    open_orders: deque = deque()
    perf = time.perf_counter
    try:
        while perf() < deadline:
            if spec.kind == "ping":
                start = perf()
                status, body = client.request("GET", "/api/v3/ping")
                rec.record("ping", start, perf(), status, body)
            elif spec.kind == "noncross":
                account = accounts[turn % len(accounts)]
                turn += 1
                if len(open_orders) >= spec.open_depth:
                    _cancel(client, rec, *open_orders.popleft())
                buy = turn % 2 == 0
                price = f"{rng.randrange(20000, 25000) if buy else rng.randrange(35000, 40000)}.{rng.randrange(100):02d}"
                params = {"symbol": SYMBOL, "side": "BUY" if buy else "SELL", "type": "LIMIT",
                          "timeInForce": "GTC", "quantity": QTY, "price": price, "newOrderRespType": "RESULT"}
                start = perf()
                status, body = client.signed("POST", "/api/v3/order", account, params)
                if rec.record("place", start, perf(), status, body):
                    rec.orders.append((account.account_id, body["orderId"], "rest", body["status"],
                                       body["executedQty"]))
                    open_orders.append((account, body["orderId"]))
            else:  # cross: a maker rests a sell, a taker's IOC buy takes the oldest sell at that price
                maker, taker = accounts[turn % len(accounts)], accounts[(turn + 1) % len(accounts)]
                turn += 2
                for account, role, side, tif in ((maker, "maker", "SELL", "GTC"), (taker, "taker", "BUY", "IOC")):
                    params = {"symbol": SYMBOL, "side": side, "type": "LIMIT", "timeInForce": tif,
                              "quantity": QTY, "price": CROSS_PRICE, "newOrderRespType": "RESULT"}
                    start = perf()
                    status, body = client.signed("POST", "/api/v3/order", account, params)
                    if rec.record(role, start, perf(), status, body):
                        rec.orders.append((account.account_id, body["orderId"], role, body["status"],
                                           body["executedQty"]))
        # Leave nothing resting (outside the measured window: these cancels are not timed).
        rec.measure_from = float("inf")
        while open_orders:
            _cancel(client, rec, *open_orders.popleft())
    except Exception as e:  # a dead client is a failure, reported
        rec.error_samples.append(f"client {index} died: {type(e).__name__}: {e}")
        rec.errors["client_died"] = rec.errors.get("client_died", 0) + 1
    finally:
        client.close()
    out[index] = rec


def _cancel(client: Client, rec: Recorder, account: Account, order_id: int) -> None:
    start = time.perf_counter()
    status, body = client.signed("DELETE", "/api/v3/order", account, {"symbol": SYMBOL, "orderId": str(order_id)})
    if rec.record("cancel", start, time.perf_counter(), status, body):
        rec.cancels.append((account.account_id, order_id))


def run_process(spec: Spec) -> dict:
    """A worker process: `spec.threads` clients; their merged records."""
    out: list = [None] * spec.threads
    threads = [threading.Thread(target=run_thread, args=(spec, i, out), daemon=True) for i in range(spec.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = {"latency": {}, "counts": {}, "errors": {}, "error_samples": [], "orders": [], "cancels": []}
    for rec in out:
        for what, samples in rec.latency.items():
            merged["latency"].setdefault(what, []).extend(samples)
        for src, dst in ((rec.counts, merged["counts"]), (rec.errors, merged["errors"])):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        merged["error_samples"] += rec.error_samples
        merged["orders"] += rec.orders
        merged["cancels"] += rec.cancels
    return merged


def run_load(spec: Spec, processes: int, pids: list | None = None) -> dict:
    """Run `spec.threads` clients split over `processes` worker processes; merged results.

    `pids`, when given, receives the workers' pids (for CPU accounting).
    """
    ctx = multiprocessing.get_context("spawn")
    per = [spec.threads // processes + (1 if i < spec.threads % processes else 0) for i in range(processes)]
    specs, first = [], 0
    for n in per:
        if n:
            part = Spec(**{**spec.__dict__, "threads": n, "first_thread": first,
                           "accounts": spec.accounts[first:first + n] if spec.accounts else []})
            specs.append(part)
            first += n
    with ctx.Pool(len(specs)) as pool:
        if pids is not None:
            pids.extend(p.pid for p in pool._pool)
        parts = pool.map(run_process, specs)
    merged = {"latency": {}, "counts": {}, "errors": {}, "error_samples": [], "orders": [], "cancels": []}
    for part in parts:
        for what, samples in part["latency"].items():
            merged["latency"].setdefault(what, []).extend(samples)
        for key in ("counts", "errors"):
            for k, v in part[key].items():
                merged[key][k] = merged[key].get(k, 0) + v
        for key in ("error_samples", "orders", "cancels"):
            merged[key] += part[key]
    return merged
