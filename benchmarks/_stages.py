"""The end-to-end benchmark's probes: one order's stages in isolation, DynamoDB, WebSocket, CPU by process.

Stages are timed against the same local services the handlers use (the
stack's DynamoDB tables in ministack, the same redis-server, the running
engine), through the same code: a `castle.trading.Trading` wired as
`castle.adapters.bootstrap.trading_service()` wires it for the Lambda, with
its adapters wrapped in timers. What it cannot see (the edge, API Gateway,
the Lambda invoke, Powertools) is the floor's round trip, measured apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from urllib.parse import urlencode

from benchmarks._loadgen import QTY, SYMBOL, Account, percentiles

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ timers
class Timed:
    """A proxy that times the named methods of an adapter into `sink[stage]` (ms)."""

    def __init__(self, inner, stages: dict[str, str], sink: dict[str, list[float]]) -> None:
        self._inner, self._stages, self._sink = inner, stages, sink

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        stage = self._stages.get(name)
        if stage is None:
            return attr
        sink = self._sink.setdefault(stage, [])

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                sink.append((time.perf_counter() - start) * 1000)

        return timed


def timed_trading(sink: dict[str, list[float]]):
    """The handler's trading service, adapters timed: order id, hold transaction, XADD -> reply, lookups."""
    from castle.adapters.bootstrap import trading_service

    service = trading_service()
    service.orders = Timed(service.orders, {"create_pending": "hold_transaction", "get": "order_lookup"}, sink)
    service.engine = Timed(service.engine, {"next_order_id": "order_id_incr", "call": "xadd_to_reply"}, sink)
    return service


def _signed_event(account: Account, params: dict) -> tuple[dict, str]:
    body = urlencode({**params, "timestamp": str(time.time_ns() // 1_000_000)})
    signature = hmac.new(account.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return {"x-mbx-apikey": account.api_key, "content-type": "application/x-www-form-urlencoded"}, \
        f"{body}&signature={signature}"


def stage_breakdown(probe: Account, redis_url: str, iterations: int) -> dict:
    """Each stage of one order, one at a time (no concurrency): ms percentiles per stage."""
    import redis

    from castle import auth
    from castle.accounts import Commission
    from castle.adapters.bootstrap import adapters
    from castle.adapters.dynamo_accounts import CachedApiKeys
    from castle.adapters.ed25519 import CryptographyEd25519
    from castle.adapters import redis_keys
    from castle.adapters.redis_ratelimit import RedisRateLimiter
    from castle.adapters.redis_streams import COMPACT
    from castle.order_entry import parse_new_order
    from castle.symbols import default_symbols

    sink: dict[str, list[float]] = {}
    now_ms = lambda: time.time_ns() // 1_000_000  # noqa: E731
    keys = CachedApiKeys(adapters().accounts, now_ms)
    verifier = CryptographyEd25519()
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url, socket_timeout=1.0))
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    symbol = default_symbols()[SYMBOL]
    trading = timed_trading(sink)
    commission = Commission()
    placed: list[tuple] = []
    params = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": QTY,
              "price": "21000.00", "newOrderRespType": "RESULT"}

    def clock(stage: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        sink.setdefault(stage, []).append((time.perf_counter() - start) * 1000)
        return result

    headers, body = _signed_event(probe, params)
    request = auth.SignedRequest(query=[], body=body, headers=headers, client_ip="127.250.0.1")
    auth.authenticate(request, auth.Permission.TRADE, keys, now_ms(), verifier)  # the key, cached as when warm
    scratch = redis_keys.bench_scratch_key(os.getpid())
    command = json.dumps({"t": "NewOrder", "pad": "x" * 200}, separators=COMPACT)  # a command's size
    for _ in range(iterations):
        headers, body = _signed_event(probe, params)
        request = auth.SignedRequest(query=[], body=body, headers=headers, client_ip="127.250.0.1")
        clock("auth_hmac", auth.authenticate, request, auth.Permission.TRADE, keys, now_ms(), verifier)
        clock("request_params", auth.request_params, request)
        clock("rate_limit", limiter.charge, "127.250.0.1", 1, now_ms(), 10**9 + 1)  # a probe IP and account
        clock("validation", parse_new_order, symbol, params, 0, probe.account_id, now_ms(), "x" * 22)
        clock("xadd_alone", plain.xadd, scratch, {"cmd": command}, "*", 1000)
        clock("redis_ping", plain.ping)
        placed_reply = clock("place_in_process", trading.place, probe.account_id, dict(params), commission)
        placed.append((probe.account_id, placed_reply["orderId"], "stage", placed_reply["status"],
                       placed_reply["executedQty"]))
        clock("cancel_in_process", trading.cancel, probe.account_id,
              {"symbol": SYMBOL, "orderId": str(placed_reply["orderId"])})
    plain.delete(scratch)
    # XADD -> reply is timed for places and cancels alike; split them (they alternate).
    both = sink.pop("xadd_to_reply")
    sink["xadd_to_reply_place"], sink["xadd_to_reply_cancel"] = both[0::2], both[1::2]
    return {"stages_ms": {k: percentiles(v) for k, v in sink.items()}, "placed": placed}


def core_throughput(probes: list[Account], seconds: float) -> dict:
    """The order path without the edge, API Gateway and Lambda: threads calling Trading.place/cancel."""
    sink: dict[str, list[float]] = {}
    placed: list[tuple] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    from castle.accounts import Commission

    def client(account: Account, k: int) -> None:
        trading = timed_trading({})
        mine: list[tuple] = []
        latencies = []
        while time.perf_counter() < deadline:
            params = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": QTY,
                      "price": f"{21000 + k}.00", "newOrderRespType": "RESULT"}
            start = time.perf_counter()
            reply = trading.place(account.account_id, params, Commission())
            latencies.append((time.perf_counter() - start) * 1000)
            mine.append((account.account_id, reply["orderId"], "core", reply["status"], reply["executedQty"]))
            trading.cancel(account.account_id, {"symbol": SYMBOL, "orderId": str(reply["orderId"])})
        with lock:
            placed.extend(mine)
            sink.setdefault("place", []).extend(latencies)

    elapsed = run_threads(client, [(a, k) for k, a in enumerate(probes)])
    return {"threads": len(probes), "seconds": round(elapsed, 2),
            "order_requests_per_s": round(2 * len(placed) / elapsed, 1),
            "placements_per_s": round(len(placed) / elapsed, 1), "place_ms": percentiles(sink.get("place", [])),
            "placed": placed}


# ---------------------------------------------------------------- DynamoDB
def dynamodb_probe(client, seconds: float, threads: int, meter: CpuMeter | None = None) -> dict:
    """TransactWriteItems/s with the hold's shape (2 conditional puts + 1 conditional update), on a scratch table.

    With a `meter`, also the CPU the writing took (`cpu`), the table's creation and deletion left out.
    """
    table = f"castle-bench-probe-{os.getpid()}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                   {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}])
    try:
        for t in range(threads):
            client.put_item(TableName=table, Item={"PK": {"S": f"A#{t}"}, "SK": {"S": "BAL"},
                                                   "free": {"N": str(10**12)}, "locked": {"N": "0"}})
        counts = [0] * threads
        latencies: list[list[float]] = [[] for _ in range(threads)]
        deadline = time.perf_counter() + seconds

        def writer(t: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                start = time.perf_counter()
                client.transact_write_items(TransactItems=[
                    {"Put": {"TableName": table, "Item": {"PK": {"S": f"A#{t}"}, "SK": {"S": f"O#{n}"}},
                             "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Put": {"TableName": table, "Item": {"PK": {"S": f"A#{t}"}, "SK": {"S": f"C#{n}"}}}},
                    {"Update": {"TableName": table, "Key": {"PK": {"S": f"A#{t}"}, "SK": {"S": "BAL"}},
                                "UpdateExpression": "ADD #f :m, #l :p", "ConditionExpression": "#f >= :p",
                                "ExpressionAttributeNames": {"#f": "free", "#l": "locked"},
                                "ExpressionAttributeValues": {":m": {"N": "-1"}, ":p": {"N": "1"}}}},
                ])
                latencies[t].append((time.perf_counter() - start) * 1000)
                counts[t] += 1

        before = meter.sample() if meter else None
        elapsed = run_threads(writer, [(t,) for t in range(threads)])
        cpu = CpuMeter.delta(before, meter.sample(), elapsed, sum(counts)) if meter else None
        return {"transact_write_items_per_s": round(sum(counts) / elapsed, 1), "transactions": sum(counts),
                "cpu": cpu, "threads": threads,
                "items_per_transaction": 3, "latency": percentiles([x for lat in latencies for x in lat])}
    finally:
        client.delete_table(TableName=table)


# --------------------------------------------------------------- WebSocket
def run_threads(target, arg_tuples: list[tuple]) -> float:
    """One thread per argument tuple, all started together; the seconds until the last ends."""
    threads = [threading.Thread(target=target, args=args) for args in arg_tuples]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def ws_round_trip(edge_url: str, n: int) -> dict:
    """A request over the edge's /ws -> the stream gateway -> its answer back: ms."""
    from websockets.sync.client import connect

    url = edge_url.replace("http://", "ws://") + "/ws/ethusdt@depth"
    samples = []
    with connect(url, open_timeout=10) as ws:
        for i in range(n):
            if i:
                time.sleep(0.25)  # Binance's 5 messages a second: a faster client is disconnected
            start = time.perf_counter()
            ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame.get("id") == i:
                    break
            samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


# -------------------------------------------------------------------- CPU
def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _function_name(pid: int) -> str:
    """The Lambda function a ministack worker runs (its AWS_LAMBDA_FUNCTION_NAME), else "other"."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for pair in f.read().split(b"\0"):
                if pair.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
                    return pair.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return "other"


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds by component over a phase: the stack's processes, Lambda workers, the edge, the load."""

    def __init__(self, components: dict[str, int], ministack_pid: int | None) -> None:
        self.components = components
        self.ministack_pid = ministack_pid

    def sample(self) -> dict:
        import resource

        out = {name: _cpu_s(pid) for name, pid in self.components.items()}
        if self.ministack_pid:
            for p in _descendants(self.ministack_pid):
                name = f"lambda: {_function_name(p)}"
                out[name] = out.get(name, 0.0) + _cpu_s(p)
        out["edge (benchmark process)"] = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        # The load's worker processes: this process's children that are not the cloud's components.
        known = set(self.components.values())
        out["load generator"] = sum(_cpu_s(p) for p in _children(os.getpid()) if p not in known)
        busy, total = machine_busy()
        out["_busy"], out["_total"] = busy / CLK_TCK, total / CLK_TCK
        return out

    @staticmethod
    def delta(before: dict, after: dict, elapsed_s: float, operations: int) -> dict:
        """CPU seconds per component, share of the machine, and ms of CPU per operation."""
        by = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if not k.startswith("_")}
        busy = after["_busy"] - before["_busy"]
        total = after["_total"] - before["_total"]
        return {
            "machine_busy_fraction": round(busy / total, 3) if total else None,
            "cores": os.cpu_count(),
            "cpu_s_by_component": {k: round(v, 2) for k, v in sorted(by.items(), key=lambda kv: -kv[1])},
            "cpu_ms_per_operation": {k: round(1000 * v / operations, 3) for k, v in
                                     sorted(by.items(), key=lambda kv: -kv[1])} if operations else {},
            "elapsed_s": round(elapsed_s, 2),
        }
