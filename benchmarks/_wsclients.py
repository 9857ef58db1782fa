"""The market-data benchmark's workers, each in a spawned process of its own (no GIL shared with the edge).

- `clients`: many WebSocket clients on one asyncio loop, each subscribed to
  `btcusdt@depth@100ms/btcusdt@trade` through the edge (a combined stream), each
  bound to its own loopback address (127.<run>.x.y: the stream gateway counts
  300 connects per IP in 5 minutes, as Binance does, by the X-Viewer-Address
  the edge sets from the peer). Every frame is stamped on receipt, before it is
  parsed, and kept in receipt order. Probe frames (`"e": "probe"`, published
  straight onto the trade stream's bus channel by `market_data.probe_bus`) are
  kept apart and counted in a shared counter, so the probe knows when a round
  has reached everyone.
- `order_feed`: crossing orders at a steady rate through the edge, signed as
  python-binance signs them (`_loadgen.Client`). Pair k is a maker's LIMIT GTC
  sell at a price of its own, P_k = base + k ticks, and `lag` pairs later a
  taker's LIMIT IOC buy at P_k, sent once maker k is acked. Prices rise with
  k, so the IOC at P_k fills maker k unless another taker overtook it; the
  benchmark reads who filled whom from the engine's event log. A depth level
  at P_k names maker k.

Clock: every timestamp is `time.time_ns()` (CLOCK_REALTIME), in every
process. One machine, one kernel clock: stamps taken in different processes
compare directly, and with the ms timestamps the stack puts in its messages
(`T`: the handler's time, `E`: the publisher's, Redis stream ids: Redis's).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from benchmarks._loadgen import QTY, SYMBOL, Account, Client, Spec

STREAMS = "btcusdt@depth@100ms/btcusdt@trade"
CLOCK = "time.time_ns() (CLOCK_REALTIME) in every process, one machine: stamps compare across processes and " \
        "with the stack's own ms timestamps (T, E, Redis stream ids)"


@dataclass
class ClientsSpec:
    url: str  # ws://<edge>/stream?streams=...
    index: int  # this process's number
    first: int  # global number of its first client (picks its loopback address)
    count: int
    ip_base: str  # "127.70": client n binds 127.70.<n // 250>.<n % 250 + 1>
    connect_concurrency: int = 20
    quiet_s: float = 2.0  # after stop: close once no frame came for this long
    max_drain_s: float = 60.0


def clients(spec: ClientsSpec, queue, stop, probed) -> None:
    """`probed`: a shared counter (multiprocessing.Value) of probe frames received, by every process."""
    asyncio.run(_clients(spec, queue, stop, probed))


async def _clients(spec: ClientsSpec, queue, stop, probed) -> None:
    from websockets.asyncio.client import connect

    # Per client, in receipt order: trades (t, recv_ns), depth diffs (U, u, recv_ns), probes (n, q, recv_ns).
    trades: list[list] = [[] for _ in range(spec.count)]
    diffs: list[list] = [[] for _ in range(spec.count)]
    probes: list[list] = [[] for _ in range(spec.count)]
    state = [{"connected": False, "error": None, "closed_early": None} for _ in range(spec.count)]
    trade_info: dict[int, tuple] = {}  # t -> (price, T, E): the same message reaches every client
    depth_info: dict[int, tuple] = {}  # u -> (U, E, bids, asks)
    sockets: list = [None] * spec.count
    last_frame = [time.monotonic()]
    stopping = asyncio.Event()
    gate = asyncio.Semaphore(spec.connect_concurrency)
    loads = json.loads

    async def one(i: int) -> None:
        n = spec.first + i
        try:
            async with gate:
                ws = await connect(spec.url, local_addr=(f"{spec.ip_base}.{n // 250}.{n % 250 + 1}", 0),
                                   compression=None, ping_interval=None, max_queue=None, open_timeout=120,
                                   close_timeout=5)
        except Exception as e:  # a refused or failed connect is reported, not fatal
            state[i]["error"] = f"{type(e).__name__}: {e}"[:200]
            return
        sockets[i], state[i]["connected"] = ws, True
        my_trades, my_diffs, my_probes = trades[i], diffs[i], probes[i]
        try:
            async for raw in ws:
                now = time.time_ns()
                last_frame[0] = time.monotonic()
                data = loads(raw).get("data")
                if data is None:
                    continue
                kind = data.get("e")
                if kind == "probe":
                    my_probes.append((data["n"], data["q"], now))
                    with probed.get_lock():
                        probed.value += 1
                elif kind == "trade":
                    t = data["t"]
                    my_trades.append((t, now))
                    if t not in trade_info:
                        trade_info[t] = (data["p"], data["T"], data["E"])
                elif kind == "depthUpdate":
                    u = data["u"]
                    my_diffs.append((data["U"], u, now))
                    if u not in depth_info:
                        depth_info[u] = (data["U"], data["E"], data["b"], data["a"])
        except Exception as e:
            state[i]["error"] = f"{type(e).__name__}: {e}"[:200]
        if not stopping.is_set():
            state[i]["closed_early"] = ws.close_code

    tasks = [asyncio.create_task(one(i)) for i in range(spec.count)]
    while any(not s["connected"] and s["error"] is None for s in state):
        await asyncio.sleep(0.1)
    queue.put(("connected", spec.index, sum(s["connected"] for s in state),
               [s["error"] for s in state if s["error"]][:5]))
    await asyncio.to_thread(stop.wait)
    deadline = time.monotonic() + spec.max_drain_s
    while time.monotonic() - last_frame[0] < spec.quiet_s and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stopping.set()
    await asyncio.gather(*(ws.close() for ws in sockets if ws is not None), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    queue.put(("result", spec.index, {"trades": trades, "diffs": diffs, "probes": probes, "state": state,
                                      "trade_info": trade_info, "depth_info": depth_info}))


# ---------------------------------------------------------------- the orders
@dataclass
class FeedSpec:
    host: str
    port: int
    ip_base: str
    rate: float  # orders per second (makers and takers together)
    seconds: float
    warmup_s: float
    start_at: float  # time.time()
    base_cents: int  # P_0, in cents (BTCUSDT's tick is 0.01)
    lag: int  # a taker comes this many pairs after its maker
    tag: str  # newClientOrderId prefix, unique per run
    makers: list[Account] = field(default_factory=list)
    takers: list[Account] = field(default_factory=list)


def price_of(spec: FeedSpec, pair: int) -> str:
    cents = spec.base_cents + pair
    return f"{cents // 100}.{cents % 100:02d}"


def order_feed(spec: FeedSpec, queue) -> None:
    """Open loop at `rate`: slot i is maker i // 2 (even i) or the taker of pair i // 2 - lag (odd i).

    Each order goes out at its slot's time from a small pool of threads (a slow ack never slows the rate),
    and a taker waits for its maker's ack: the IOC must find exactly its maker resting.
    """
    from concurrent.futures import ThreadPoolExecutor

    start_ns = int(spec.start_at * 1e9)
    interval_ns = int(1e9 / spec.rate)
    window = (start_ns + int(spec.warmup_s * 1e9), start_ns + int((spec.warmup_s + spec.seconds) * 1e9))
    pairs = int(spec.rate * (spec.warmup_s + spec.seconds)) // 2
    plan = [("maker", i // 2) if i % 2 == 0 else ("taker", i // 2 - spec.lag) for i in range(2 * pairs)]
    plan = [p for p in plan if p[1] >= 0] + [("taker", k) for k in range(max(0, pairs - spec.lag), pairs)]
    rested = [threading.Event() for _ in range(pairs)]
    local = threading.local()
    clients, orders, errors = [], [], []

    def client() -> Client:
        if not hasattr(local, "client"):
            with lock:
                local.client = Client(Spec(kind="cross", host=spec.host, port=spec.port, path_prefix="", threads=1,
                                           seconds=spec.seconds, warmup_s=spec.warmup_s, start_at=spec.start_at,
                                           ip_base=spec.ip_base, first_thread=len(clients), conns_per_thread=2), 0)
                clients.append(local.client)
        return local.client

    def place(i: int, role: str, pair: int) -> None:
        maker = role == "maker"
        try:
            time.sleep(max(0.0, (start_ns + i * interval_ns - time.time_ns()) / 1e9))
            if not maker:
                rested[pair].wait(30)
            accounts = spec.makers if maker else spec.takers
            params = {"symbol": SYMBOL, "side": "SELL" if maker else "BUY", "type": "LIMIT",
                      "timeInForce": "GTC" if maker else "IOC", "quantity": QTY, "price": price_of(spec, pair),
                      "newClientOrderId": f"{spec.tag}-{pair}-{role[0]}", "newOrderRespType": "RESULT"}
            sent = time.time_ns()
            status, body = client().signed("POST", "/api/v3/order", accounts[pair % len(accounts)], params)
            acked = time.time_ns()
        except Exception as e:  # a failed request is reported
            status, body, sent, acked = 0, f"{type(e).__name__}: {e}", 0, 0
        finally:
            if maker:
                rested[pair].set()
        ok = status == 200
        with lock:
            if not ok:
                errors.append(f"{role} {pair}: {status} {body}"[:200])
            orders.append({"role": role, "pair": pair, "sent_ns": sent, "ack_ns": acked, "ok": ok,
                           "measured": window[0] <= sent < window[1], "status": body.get("status") if ok else None,
                           "orderId": body.get("orderId") if ok else None})

    lock = threading.Lock()
    with ThreadPoolExecutor(8) as pool:
        for i, (role, pair) in enumerate(plan):
            pool.submit(place, i, role, pair)
    # Nothing left resting for the next run's takers to hit (a taker that overtook another's maker leaves one).
    for account in spec.makers:
        client().signed("DELETE", "/api/v3/openOrders", account, {"symbol": SYMBOL})
    for c in clients:
        c.close()
    queue.put(("feed", 0, {"orders": orders, "errors": errors}))
