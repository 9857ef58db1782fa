"""Market data: N WebSocket clients on Binance's streams, while crossing orders trade.

    PYTHONPATH=layers/core:. .venv/bin/python -m benchmarks --only market_data [--md-clients 200,1000]

Starts its own local cloud (as `e2e` does), creates funded accounts through the
admin API, then for each path in `--md-via` (through the edge; straight to the
stream gateway, as behind AWS's load balancer) and client count in `--md-clients`:

1. connects the clients (`/stream?streams=btcusdt@depth@100ms/btcusdt@trade`),
   spread over `--md-processes` asyncio processes;
2. places crossing orders through the edge at `--md-rate` orders/s for
   `--md-seconds` (after a warm-up), stamping each REST ack (`_wsclients`);
3. measures, at every client, each trade from the engine's commit of it (its
   id in the event log: Redis's clock, the machine's one clock, as the
   clients' receipt stamps), each depth diff's levels from the engine's commit
   of the order that changed them, loss and order (trade ids contiguous, depth
   U/u chained),
   and the CPU of the publisher, the stream gateway, the edge and ministack
   (REST orders still go through its API Gateway and Lambda);
4. splits one message's time into stages: the stack's own timestamps (T, the
   journal's and the event log's Redis ids, E), and, before the orders, a probe
   that publishes frames straight onto the trade stream's frame-bus channel:
   bus -> gateway -> (edge ->) every client, without the publisher.

See benchmarks/README.md for the figures and how to read them.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlsplit

from benchmarks._loadgen import SYMBOL, Spec, percentiles, run_load
from benchmarks._stages import CpuMeter
from benchmarks._wsclients import CLOCK, STREAMS, ClientsSpec, FeedSpec, clients, order_feed
from benchmarks.e2e import _commit, create_accounts, start_cloud
from castle.adapters.redis_keys import market_channel

NAME = "market_data"
TARGET_P99_MS = 50.0
TARGET_CLIENTS = 200
MINISTACK = "ministack (API Gateway REST, Lambda, DynamoDB)"
EDGE = "edge (benchmark process)"
PROBE_CHANNEL = market_channel("btcusdt@trade")


def add_arguments(parser) -> None:
    parser.add_argument("--md-clients", default="200,1000", help="market_data: client counts, one run each")
    parser.add_argument("--md-seconds", type=float, default=30.0, help="market_data: measured seconds per run")
    parser.add_argument("--md-rate", type=float, default=20.0, help="market_data: orders per second (makers+takers)")
    parser.add_argument("--md-processes", type=int, default=2, help="market_data: processes the clients run in")
    parser.add_argument("--md-via", default="edge,gateway",
                        help="market_data: where the clients connect, one set of runs each: `edge` (the local "
                             "cloud's front door) and/or `gateway` (straight to the stream gateway, as behind AWS's "
                             "load balancer: no Python hop in between)")
    parser.add_argument("--md-probe-rounds", type=int, default=10,
                        help="market_data: probe frames published on the bus one at a time, per run")
    parser.add_argument("--md-probe-burst", type=int, default=100,
                        help="market_data: probe frames then published back to back (the fan-out's throughput)")
    parser.add_argument("--quick", action="store_true",
                        help="market_data: a smoke run (20 and 50 clients, 5 s each, 3 probe rounds, a burst of 20)")


def log(msg: str) -> None:
    print(f"[market_data {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ms(ns: int) -> float:
    return ns / 1e6


# ---------------------------------------------------------------------- run
def run(args) -> dict:
    if args.quick:
        args.md_clients, args.md_seconds, args.md_probe_rounds, args.md_probe_burst = "20,50", 5.0, 3, 20
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    cloud, info, state, startup_s = start_cloud()
    try:
        log(f"local cloud up in {startup_s:.1f}s; edge {info.edge_url}")
        accounts = create_accounts(info.edge_url, info.admin_token, 8)
        edge = urlsplit(info.edge_url)
        # Concurrent pings first: the spot API's Lambda workers start before the first signed order.
        run_load(Spec(kind="ping", host=edge.hostname, port=edge.port, path_prefix="", threads=8, seconds=3.0,
                      warmup_s=0.0, start_at=time.time() + 1.0, ip_base="127.59"), 1)
        runs, failures = {}, []
        plan = [(via, int(c)) for via in vias(args) for c in args.md_clients.split(",")]
        for r, (via, n) in enumerate(plan):
            key = run_key(via, n)
            log(f"run {r}: {key} clients, uptime load {os.getloadavg()}")
            runs[key] = one_run(args, cloud, info, accounts, r, n, via)
            failures += [f"{key} clients: {f}" for f in runs[key].pop("failures")]
    finally:
        log("stopping the local cloud")
        cloud.stop()
        shutil.rmtree(state, ignore_errors=True)
    head = runs.get(str(TARGET_CLIENTS)) or next(iter(runs.values()))
    return {
        **{k: v for k, v in head.items() if k not in ("stages", "probe", "cpu", "gateway")},
        "runs": runs,
        "targets": targets(runs),
        "failures": failures,
        "config": {"loadavg_start": load_start, "loadavg_end": os.getloadavg(), "commit": _commit(),
                   "clients": [int(c) for c in args.md_clients.split(",")], "seconds": args.md_seconds,
                   "order_rate_per_s": args.md_rate, "client_processes": args.md_processes, "streams": STREAMS,
                   "clients_via": vias(args), "probe": {"rounds": args.md_probe_rounds, "burst": args.md_probe_burst},
                   "clock": CLOCK, "startup_s": round(startup_s, 1), "wall_s": round(time.perf_counter() - t_start, 1),
                   "python": sys.version.split()[0], "cpus": os.cpu_count()},
    }


def vias(args) -> list[str]:
    out = [v.strip() for v in args.md_via.split(",") if v.strip()]
    if not out or set(out) - {"edge", "gateway"}:
        raise SystemExit(f"--md-via: edge and/or gateway, not {args.md_via!r}")
    return out


def run_key(via: str, n: int) -> str:
    """`200` through the edge (the default path, as before), `200 via gateway` straight to the gateway."""
    return str(n) if via == "edge" else f"{n} via {via}"


def targets(runs: dict) -> dict:
    """A frame still queued when its client closed (60 s after the orders stopped) did not arrive either."""
    head = runs.get(str(TARGET_CLIENTS))
    direct = runs.get(run_key("gateway", TARGET_CLIENTS))
    return {
        "ws_p99_ms <= 50 at 200 clients": head is not None and (head["ws_p99_ms"] or 1e9) <= TARGET_P99_MS,
        "ws_p99_ms <= 50 at 200 clients, straight to the gateway":
            None if direct is None else (direct["ws_p99_ms"] or 1e9) <= TARGET_P99_MS,
        "no message lost or reordered": all(x["lost"] == 0 and x["reordered"] == 0 and x["undelivered_at_close"] == 0
                                            for x in runs.values()),
    }


def one_run(args, cloud, info, accounts, r: int, n: int, via: str) -> dict:
    loadavg_start = os.getloadavg()
    ctx = multiprocessing.get_context("spawn")
    queue, stop, counter = ctx.Queue(), ctx.Event(), ctx.Value("q", 0)
    edge = urlsplit(info.edge_url)
    streams_at = urlsplit(info.gateway_url) if via == "gateway" else edge
    procs, connected, connect_errors, connect_s = start_clients(ctx, queue, stop, counter, streams_at,
                                                                args.md_processes, r, n)
    log(f"{connected}/{n} connected in {connect_s:.1f}s")
    time.sleep(1.0)  # the connections settle before the probe
    probed = probe_bus(info.redis_url, counter, connected, args.md_probe_rounds, args.md_probe_burst)
    log(f"bus probe: {probed['reached']} of {connected * (args.md_probe_rounds + args.md_probe_burst)} frames "
        "reached the clients")
    time.sleep(1.0)
    health_before = gateway_health(info.gateway_url)

    warmup = 3.0
    feed_spec = FeedSpec(host=edge.hostname, port=edge.port, ip_base=f"127.{60 + r}", rate=args.md_rate,
                         seconds=args.md_seconds, warmup_s=warmup, start_at=time.time() + 1.0,
                         base_cents=3_000_000 + r * 100_000, lag=3, tag=f"md{os.getpid()}r{r}",
                         makers=accounts[:4], takers=accounts[4:])
    restarts_before = {c.name: c.restarts for c in cloud.supervisor.components}
    feed = ctx.Process(target=order_feed, args=(feed_spec, queue), daemon=True)
    feed.start()
    components = {c.name: c.proc.pid for c in cloud.supervisor.components}
    ministack = components.pop("ministack", None)  # its Lambda workers are counted apart, by CpuMeter
    meter = CpuMeter({**components, MINISTACK: ministack, "order feed": feed.pid,
                      **{f"ws clients {i}": p.pid for i, p in enumerate(procs)}}, ministack)
    window = feed_spec.start_at + warmup
    samples = []
    for at in (window, window + args.md_seconds):  # CPU over the measured window only
        time.sleep(max(0.0, at - time.time()))
        samples.append((time.perf_counter(), meter.sample()))
    _, _, fed = queue.get(timeout=args.md_seconds + 600)
    feed.join()
    log(f"orders done ({len(fed['orders'])}, {len(fed['errors'])} errors); draining")
    stop.set()
    parts = [queue.get(timeout=900)[2] for _ in procs]
    for p in procs:
        p.join(timeout=30)
    health_after = gateway_health(info.gateway_url)
    restarts = {c.name: c.restarts - restarts_before.get(c.name, 0) for c in cloud.supervisor.components
                if c.restarts != restarts_before.get(c.name, 0)}

    events = event_log_since(info.redis_url, int(feed_spec.start_at * 1000))
    fills = events.fills
    result = analyse(parts, fed["orders"], events, feed_spec, args.md_seconds, window, n)
    (t0, before), (t1, after) = samples
    result.update(cpu_figures(CpuMeter.delta(before, after, t1 - t0, result["messages"])))
    result["stages"] = stages(parts, fed["orders"], fills)
    result["probe"] = probe_figures(probed, parts, connected)
    result["gateway"] = gateway_figures(health_before, health_after, result["frames"]["received"])
    result.update(clients_connected=connected, connect_s=round(connect_s, 1), connect_errors=connect_errors,
                  clients_via=via,
                  orders={"sent": len(fed["orders"]), "errors": len(fed["errors"]), "error_samples": fed["errors"][:5],
                          # Below --md-rate when acks are slow: 8 threads, and a taker waits for its maker's ack.
                          "sent_in_window_per_s": round(sum(o["measured"] for o in fed["orders"]) / args.md_seconds, 1),
                          "ack_ms": percentiles([ms(o["ack_ns"] - o["sent_ns"]) for o in fed["orders"]
                                                 if o["measured"] and o["ok"]])},
                  restarts=restarts, loadavg_start=loadavg_start, loadavg_end=os.getloadavg())
    result["failures"] = [f for f in (
        connected < n and f"{n - connected} clients could not connect: {connect_errors[:2]}",
        fed["errors"] and f"{len(fed['errors'])} orders failed: {fed['errors'][:2]}",
        not result["trades"] and "the orders made no trade",
        result["trades_never_delivered"] and f"{result['trades_never_delivered']} of the run's trades reached "
                                             "no client",
        restarts and f"components restarted: {restarts}",
        any((result[k].get("min_ms") or 0) < 0 for k in ("ws_latency", "depth_latency"))
        and "a negative latency: the clocks compared are not one clock",
    ) if f]
    log(f"{run_key(via, n)} clients: ws p50 {result['ws_p50_ms']} p99 {result['ws_p99_ms']} ms, {result['messages_per_s']} msg/s, "
        f"lost {result['lost']}, reordered {result['reordered']}, undelivered {result['undelivered_at_close']}, "
        f"publisher {result['publisher_cpu']}, gateway {result['gateway_cpu']}, edge {result['edge_cpu']}")
    return result


def start_clients(ctx, queue, stop, counter, at, processes: int, r: int, n: int) -> tuple[list, int, list, float]:
    """n clients over `processes` processes; (processes, connected, connect errors, seconds to connect)."""
    url = f"ws://{at.hostname}:{at.port}/stream?streams={STREAMS}"
    per = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    procs, first = [], 0
    for i, count in enumerate(c for c in per if c):
        spec = ClientsSpec(url=url, index=i, first=first, count=count, ip_base=f"127.{70 + r}")
        procs.append(ctx.Process(target=clients, args=(spec, queue, stop, counter), daemon=True))
        first += count
    t = time.perf_counter()
    for p in procs:
        p.start()
    connected, errors = 0, []
    for _ in procs:
        _, _, ok, some = queue.get(timeout=600)
        connected, errors = connected + ok, errors + some
    return procs, connected, errors, time.perf_counter() - t


def probe_bus(redis_url: str, counter, clients: int, rounds: int, burst: int) -> dict:
    """Probe frames PUBLISHed straight onto the trade stream's channel, before any order: bus -> every client.

    `rounds` single frames, each once the one before reached every client (the clients count them in
    `counter`), then `burst` frames in one pipeline: the gateway's and the edge's throughput. The frames are
    `{"e": "probe", ...}` on `btcusdt@trade`, which the clients tell from trades; the publisher is idle.
    """
    import redis

    bus = redis.Redis.from_url(redis_url)

    def frame(n: int, q: int) -> str:
        return f'{{"e":"probe","n":{n},"q":{q}}}'

    def wait_for(count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while counter.value < count and time.monotonic() < deadline:
            time.sleep(0.005)

    rounds_at = []
    for n in range(rounds):
        q = time.time_ns()
        bus.publish(PROBE_CHANNEL, frame(n, q))
        rounds_at.append(q)
        wait_for((n + 1) * clients, 30.0)
        time.sleep(0.1)
    pipe = bus.pipeline(transaction=False)
    q = time.time_ns()
    for n in range(rounds, rounds + burst):
        pipe.publish(PROBE_CHANNEL, frame(n, q))
    pipe.execute()
    wait_for((rounds + burst) * clients, 120.0)
    bus.close()
    return {"rounds": rounds, "burst": burst, "burst_at": q, "reached": counter.value}


def gateway_health(gateway_url: str) -> dict:
    """The gateway's own counters (/health): connections, channels, frames queued to clients so far."""
    import json
    import urllib.request

    url = gateway_url.replace("ws://", "http://", 1).rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


def gateway_figures(before: dict, after: dict, received: int) -> dict:
    delivered = (after.get("delivered", 0) - before.get("delivered", 0)) if "delivered" in before else None
    return {"connections_at_start": before.get("connections"), "channels_at_start": before.get("channels"),
            "frames_queued": delivered, "frames_received": received,
            "what": "frames_queued: the gateway's `delivered` counter (/health) from the first order to the end of "
                    "the drain, frames it wrote to its clients' sockets; frames_received: trade and depth frames the "
                    "clients got (frames.received). Equal: nothing dropped between the gateway and the clients"}


def cpu_figures(cpu: dict) -> dict:
    """The publisher's, the gateway's, the edge's and ministack's CPU seconds and fraction of a core, and the table."""
    cpu["note"] = "CPU seconds by component over the measured window; cpu_ms_per_operation: per frame received " \
                  "by a client in that window; outside_cpu_s: the machine's busy time minus every component's"
    by, elapsed = cpu["cpu_s_by_component"], cpu["elapsed_s"]
    busy_s = (cpu["machine_busy_fraction"] or 0.0) * cpu["cores"] * elapsed
    # The machine's busy time that no component was charged: other jobs on the box, and kernel time (loopback
    # networking's softirqs) charged to no process. An upper bound on what competed with the benchmark.
    cpu["outside_cpu_s"] = round(max(0.0, busy_s - sum(by.values())), 2)

    def share(name: str) -> dict:
        return {"cpu_s": by.get(name, 0.0), "core_fraction": round(by.get(name, 0.0) / elapsed, 3)}

    return {"publisher_cpu": share("publisher"), "gateway_cpu": share("gateway"), "edge_cpu": share(EDGE),
            "ministack_cpu": share(MINISTACK), "outside_cpu": {"cpu_s": cpu["outside_cpu_s"],
                                                               "core_fraction": round(cpu["outside_cpu_s"] / elapsed, 3)},
            "cpu": cpu}


# ------------------------------------------------------------------ figures
def pair_of(spec: FeedSpec, price: str) -> int:
    return int(Decimal(price) * 100) - spec.base_cents


def split_missing(missing: set[int], last: int | None) -> tuple[int, int]:
    """(ids after the last one received: still undelivered when the client closed, ids missing before it: lost).

    The gateway keeps each connection's frames in order (one bus subscription, each frame written whole to each
    socket as it comes), so a missing id below one received will never come.
    """
    tail = len(missing) if last is None else sum(1 for x in missing if x > last)
    return tail, len(missing) - tail


class Fill(NamedTuple):
    taker: int  # orderId
    maker: int
    committed_ms: int  # the events stream id: Redis's clock at the engine's MULTI commit
    journal_ms: int  # the command's stream id: Redis's clock at the handler's XADD


class EventLog(NamedTuple):
    fills: dict[int, Fill]  # trade id -> the orders that made it
    accepted_ms: dict[int, int]  # orderId -> the engine's commit of its acceptance (events stream id, ms)


def event_log_since(redis_url: str, start_ms: int) -> EventLog:
    """The run's trades and acceptances, from the engine's event log (`castle:{SYMBOL}:events`)."""
    import json

    import redis

    from castle.adapters.redis_keys import events_key

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    fills, accepted = {}, {}
    for entry_id, fields in client.xrange(events_key(SYMBOL), min=str(start_ms), max="+"):
        committed_ms = int(entry_id.split("-")[0])
        if fields.get("type") == "TradeExecuted":
            event = json.loads(fields["event"])
            fills[event["trade_id"]] = Fill(event["taker_order_id"], event["maker_order_id"], committed_ms,
                                            int(fields["command_id"].split("-")[0]))
        elif fields.get("type") == "OrderAccepted":
            accepted[json.loads(fields["event"])["order_id"]] = committed_ms
    return EventLog(fills, accepted)


def analyse(parts: list[dict], orders: list[dict], event_log: EventLog, spec: FeedSpec, seconds: float,
            window: float, n: int) -> dict:
    """Latency from the engine's commit of what a frame tells, throughput, and loss/order per client.

    The clock both ends share: the event log's ids are Redis's clock (ms) when the engine committed, and the
    clients stamp receipt with the same machine's clock (ns). A trade frame counts from its trade's commit;
    a depth level at P_k from the commit of maker k's acceptance (qty > 0), or of the trade that emptied
    it (qty 0). Only the measured window's orders count. The ack of the REST call is no start: it comes
    after the commit, often after the frame (`stream_vs_rest_ack` shows by how much).
    """
    fills = event_log.fills
    by_id = {o["orderId"]: o for o in orders if o["ok"]}
    makers = {o["pair"]: o for o in orders if o["role"] == "maker"}
    fill_of_maker = {f.maker: f for f in fills.values()}
    trade_info = {t: v for part in parts for t, v in part["trade_info"].items()}
    depth_info = {u: v for part in parts for u, v in part["depth_info"].items()}
    run_trades = {t for t, f in fills.items() if f.taker in by_id}
    all_u = sorted(depth_info)
    from_ns, to_ns = int(window * 1e9), int((window + seconds) * 1e9)
    lat: dict[str, list[float]] = {"trade": [], "trade_vs_ack": [], "trade_from_send": [], "depth": [],
                                   "from_E": []}
    count = dict.fromkeys(("messages", "frames", "dropped", "trades_lost", "trades_late", "trades_reordered",
                           "depth_lost", "depth_late", "depth_reordered", "depth_resync_gaps"), 0)

    def measured(order: dict | None) -> bool:
        return bool(order and order["measured"] and order["ok"])

    for part in parts:
        for trades, diffs, state in zip(part["trades"], part["diffs"], part["state"], strict=True):
            count["dropped"] += state["closed_early"] is not None
            count["frames"] += len(trades) + len(diffs)
            last = None
            for t, recv in trades:
                count["messages"] += from_ns <= recv < to_ns
                count["trades_reordered"] += last is not None and t <= last
                last = t if last is None else max(last, t)
                _, _, event_ms = trade_info[t]
                lat["from_E"].append(ms(recv) - event_ms)
                taker = by_id.get(fills[t].taker) if t in fills else None
                if measured(taker):
                    lat["trade"].append(ms(recv) - fills[t].committed_ms)
                    lat["trade_vs_ack"].append(ms(recv - taker["ack_ns"]))
                    lat["trade_from_send"].append(ms(recv - taker["sent_ns"]))
            late, lost = split_missing(run_trades - {t for t, _ in trades}, last)
            count["trades_late"] += late
            count["trades_lost"] += lost
            prev_u = None
            for first_u, u, recv in diffs:
                count["messages"] += from_ns <= recv < to_ns
                if prev_u is not None and first_u <= prev_u:
                    count["depth_reordered"] += 1
                elif prev_u is not None and first_u > prev_u + 1:
                    after = bisect.bisect_right(all_u, prev_u)
                    # No client got a diff in between: the publisher's own gap, where Binance's procedure resyncs.
                    count["depth_resync_gaps"] += after == len(all_u) or all_u[after] >= first_u
                prev_u = u if prev_u is None else max(prev_u, u)
                _, event_ms, bids, asks = depth_info[u]
                lat["from_E"].append(ms(recv) - event_ms)
                for price, qty in asks + bids:
                    maker = makers.get(pair_of(spec, price))
                    if not measured(maker):
                        continue
                    if Decimal(qty) == 0:
                        fill = fill_of_maker.get(maker["orderId"])
                        committed = fill.committed_ms if fill and measured(by_id.get(fill.taker)) else None
                    else:
                        committed = event_log.accepted_ms.get(maker["orderId"])
                    if committed is not None:
                        lat["depth"].append(ms(recv) - committed)
            late, lost = split_missing(set(all_u) - {u for _, u, _ in diffs}, prev_u)
            count["depth_late"] += late
            count["depth_lost"] += lost
    never = len(run_trades - set(trade_info))
    trade_stats = percentiles(lat["trade"])
    offered = n * (len(run_trades) + len(all_u))
    return {
        "ws_p50_ms": trade_stats.get("p50_ms"), "ws_p99_ms": trade_stats.get("p99_ms"),
        "ws_latency": {**trade_stats, "min_ms": round(min(lat["trade"]), 3) if lat["trade"] else None,
                       "what": "trade frames at every client: receipt (the client's clock) minus the trade's "
                               "commit by the engine (its events stream id: Redis's clock; one machine, one "
                               "clock). The id is whole ms, so each figure is up to 1 ms over, never under"},
        "ws_from_request_sent": percentiles(lat["trade_from_send"]),
        "stream_vs_rest_ack": {**percentiles(lat["trade_vs_ack"]),
                               "what": "not a latency: a trade frame's receipt minus the receipt of its taker's "
                                       "REST ack, at the same client machine. Negative: the stream answered "
                                       "before the REST call did (the ack comes back through the reply, Lambda, "
                                       "API Gateway and the edge)"},
        "depth_latency": {**percentiles(lat["depth"]), "min_ms": round(min(lat["depth"]), 3) if lat["depth"] else None,
                          "what": "each depth@100ms level change at every client, from the engine's commit of "
                                  "the order that made it (maker: qty > 0, its acceptance; qty 0, the trade that "
                                  "emptied it); includes the 100 ms batching"},
        "publisher_E_to_client": {**percentiles(lat["from_E"]),
                                  "what": "receipt minus the frame's E (the publisher's ms clock when it built it)"},
        "messages_per_s": round(count["messages"] / seconds, 1), "messages": count["messages"],
        "lost": count["trades_lost"] + count["depth_lost"] + never * n,
        "reordered": count["trades_reordered"] + count["depth_reordered"],
        "undelivered_at_close": count["trades_late"] + count["depth_late"],
        "loss": {k: v for k, v in count.items() if k not in ("messages", "frames", "dropped")} | {
            "trades_never_delivered": never, "clients_closed_by_server": count["dropped"],
            "never_delivered_what": "the run's trades (by the event log) that reached no client at all: lost at "
                                    "every client, and counted so in `lost`",
            "what": "lost: a trade id or depth diff (by u) missing before the last one the client got (the gateway "
                    "keeps a connection's frames in order: it will never come); late: after it, still undelivered "
                    "when the client closed (the drain ends 2 s after the last frame, or after 60 s)"},
        "frames": {"offered": offered, "received": count["frames"],
                   "received_fraction": round(count["frames"] / offered, 3) if offered else None,
                   "what": "offered: clients x (the run's trades + depth diffs), what the gateway had to write"},
        "trades_never_delivered": never, "trades": len(run_trades), "depth_diffs": len(all_u),
        "clients": n,
    }


def stages(parts: list[dict], orders: list[dict], fills: dict[int, Fill]) -> dict:
    """One trade's time by stage (p50 over the run's measured trades; ms, the stack's clocks are ms)."""
    trade_info = {t: v for part in parts for t, v in part["trade_info"].items()}
    receipts: dict[int, list[int]] = {}
    for part in parts:
        for trades in part["trades"]:
            for t, recv in trades:
                receipts.setdefault(t, []).append(recv)
    takers = {o["orderId"]: o for o in orders if o["role"] == "taker" and o["measured"] and o["ok"]}
    rows: dict[str, list[float]] = {}
    for t, (_, handler_ms, event_ms) in trade_info.items():
        taker = takers.get(fills[t].taker) if t in fills else None
        if not taker:
            continue
        commit_ms, journal_ms = fills[t].committed_ms, fills[t].journal_ms
        recv = sorted(receipts[t])
        sent, ack = ms(taker["sent_ns"]), ms(taker["ack_ns"])
        for name, value in (
            ("1 client sends -> handler's clock (T): edge, API Gateway, Lambda", handler_ms - sent),
            ("2 T -> command in the journal (XADD id): auth, hold transaction", journal_ms - handler_ms),
            ("3 journal -> event committed (events stream id): engine", commit_ms - journal_ms),
            ("4 event committed -> publisher builds the frame (E)", event_ms - commit_ms),
            ("5 E -> first client's receipt (frame bus, gateway, edge)", ms(recv[0]) - event_ms),
            ("6 E -> median client's receipt", ms(recv[len(recv) // 2]) - event_ms),
            ("7 E -> last client's receipt (the fan-out's spread)", ms(recv[-1]) - event_ms),
            ("event committed -> REST ack at the client (reply, Lambda, API Gateway, edge)", ack - commit_ms),
            ("REST ack -> first client's receipt", ms(recv[0]) - ack),
            ("REST ack -> last client's receipt", ms(recv[-1]) - ack),
        ):
            rows.setdefault(name, []).append(value)
    return {"p50_ms": {k: round(statistics.median(v), 1) for k, v in rows.items()},
            "p99_ms": {k: percentiles(v).get("p99_ms") for k, v in rows.items()},
            "trades": len(rows.get("3 journal -> event committed (events stream id): engine", [])),
            "note": "T (the handler's time in the command), the Redis stream ids and E are ms clocks: each stage is "
                    "+-1 ms; 1-7 add up to the send -> receipt time"}


def probe_figures(probed: dict, parts: list[dict], clients: int) -> dict:
    """The bus probe: one frame at a time to every client, then a burst (see `probe_bus`)."""
    by_frame: dict[int, list[int]] = {}
    for part in parts:
        for probes in part["probes"]:
            for n, q, recv in probes:
                by_frame.setdefault(n, []).append(recv - q)
    rounds, burst = probed["rounds"], probed["burst"]
    single = [by_frame.get(n, []) for n in range(rounds)]
    burst_ns = [x for n in range(rounds, rounds + burst) for x in by_frame.get(n, [])]
    span_s = max(burst_ns, default=0) / 1e9
    return {
        "clients": clients,
        "one_frame": {
            "rounds": rounds, "expected": rounds * clients, "received": sum(len(xs) for xs in single),
            "bus_to_client_ms": percentiles([ms(x) for xs in single for x in xs]),
            "first_client_ms": percentiles([ms(min(xs)) for xs in single if xs]),
            "last_client_ms": percentiles([ms(max(xs)) for xs in single if xs]),
        },
        "burst": {
            "frames": burst, "expected": burst * clients, "received": len(burst_ns),
            "bus_to_client_ms": percentiles([ms(x) for x in burst_ns]),
            "last_frame_at_last_client_ms": round(span_s * 1000, 1),
            "frames_per_s": round(len(burst_ns) / span_s, 1) if span_s else None,
        },
        "what": "frames PUBLISHed straight onto castle:ws:btcusdt@trade before the orders (the publisher idle): "
                "PUBLISH -> Redis -> the gateway's subscription -> each client's socket -> (the edge ->) the client. "
                "one_frame: one frame at a time, each once the last reached every client (first/last client per "
                "frame); burst: frames back to back in one pipeline, frames_per_s = frames received by all "
                "clients / time to the last one (the gateway and the edge's throughput)",
    }
