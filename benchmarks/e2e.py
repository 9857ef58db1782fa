"""End to end: signed orders through the edge, against the empty-handler floor of the same run.

    PYTHONPATH=layers/core:. .venv/bin/python -m benchmarks --only e2e [--seconds 60]

Starts its own local cloud (`local.cloud.LocalCloud`, free ports, its own
state folder), creates funded accounts through the admin API (what the
`castle` CLI calls), then, in one run:

1. the floor: `--e2e-clients` clients on GET /api/v3/ping through the edge
   (the spot API's cheapest route: the same function, the same auth/rate-limit
   middleware, no domain work) -> `results/local_cloud.json`, with a DynamoDB
   TransactWriteItems/s probe and a WebSocket round trip;
2. one order's stages, timed one at a time against the same services, and
   the order path's throughput without the edge/API Gateway/Lambda;
3. the orders: the same clients place and cancel signed orders through the
   edge, `--seconds` split between a non-crossing mix (place, cancel later)
   and a crossing mix (a resting sell, then an IOC buy that takes it), with
   the CPU each component used;
4. the checks: every acknowledged order ends final in the Orders table, no
   hold is left locked, and the ledger audit balances (no funds made or lost).

See benchmarks/README.md for the figures and how to read them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import RESULTS_DIR
from benchmarks._loadgen import SYMBOL, Account, Spec, percentiles, run_load
from benchmarks._stages import CpuMeter, core_throughput, dynamodb_probe, stage_breakdown, ws_round_trip

NAME = "e2e"
ROOT = Path(__file__).resolve().parents[1]
FUNDS = {"USDT": "1000000", "BTC": "100"}
OPEN_STATUSES = {"PENDING_NEW", "NEW", "PARTIALLY_FILLED"}
TARGETS = {"orders_per_s": 500, "floor_fraction": 0.60, "p99_ms": 25.0}


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="e2e: seconds of order load, split evenly between the non-crossing and crossing mixes")
    parser.add_argument("--floor-seconds", type=float, default=10.0, help="e2e: seconds of the empty-handler floor")
    parser.add_argument("--e2e-clients", type=int, default=8, help="e2e: concurrent clients (threads)")
    parser.add_argument("--e2e-processes", type=int, default=2, help="e2e: processes the clients are spread over")
    parser.add_argument("--e2e-accounts", type=int, default=80,
                        help="e2e: funded accounts (ORDERS allows 100 per account per 10 s, as Binance does)")
    parser.add_argument("--stage-iterations", type=int, default=200, help="e2e: orders timed stage by stage")
    parser.add_argument("--settle-timeout", type=float, default=120.0,
                        help="e2e: seconds to wait for settlement before the checks fail")


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the cloud
def start_cloud():
    from local.cloud import LocalCloud
    from local.processes import free_port

    state = ROOT / ".castle" / f"bench-e2e-{os.getpid()}"
    cloud = LocalCloud(root=ROOT, state=state, edge_port=free_port())
    cloud.announce = lambda name, detail: log(f"{name:<11}{detail}")
    started = time.perf_counter()
    try:
        info = cloud.start()
    except BaseException:
        cloud.stop()
        raise
    outputs = info.stack.outputs
    # The handlers' environment, for the in-process probes (castle.adapters.bootstrap reads it).
    os.environ.update(info.env())
    os.environ.update({"ORDERS_TABLE": outputs["OrdersTableName"], "BALANCES_TABLE": outputs["BalancesTableName"],
                       "TRADES_TABLE": outputs["TradesTableName"], "ACCOUNTS_TABLE": outputs["AccountsTableName"],
                       "ACCOUNTS_KEY_ARN": outputs["AccountsKeyArn"]})
    return cloud, info, state, time.perf_counter() - started


def create_accounts(edge_url: str, token: str, n: int) -> list[Account]:
    """Funded accounts with a read,trade HMAC key, through the admin API (as `castle account create`)."""
    from castle_cli.main import CastleClient

    from castle_cli.main import CliError

    client = CastleClient(edge_url, token, timeout_s=60)
    tag = f"bench-{os.getpid()}-{time.monotonic_ns()}"

    def one(i: int) -> Account:
        # The same requestId on a retry: the admin API funds once.
        body = {"fund": FUNDS, "permissions": ["read", "trade"], "requestId": f"{tag}-{i}"}
        for attempt in range(3):
            try:
                made = client.call("POST", "/accounts", body)
                return Account(int(made["accountId"]), made["apiKey"], made["secretKey"])
            except (CliError, TimeoutError, OSError) as e:
                if attempt == 2:
                    raise
                log(f"account {i}: {e}; retrying")
        raise AssertionError("unreachable")

    first = one(0)  # one warm admin Lambda before the concurrent ones
    with ThreadPoolExecutor(4) as pool:
        return [first, *pool.map(one, range(1, n))]


def boto(service: str):
    import boto3

    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


# ------------------------------------------------------------------- phases
def spec(kind: str, url: str, args, seconds: float, ip_base: str, accounts=None, threads=None, warmup=2.0,
         open_depth: int = 4) -> Spec:
    parts = urlsplit(url)
    threads = threads or args.e2e_clients
    per_thread = [accounts[i::threads] for i in range(threads)] if accounts else []
    return Spec(kind=kind, host=parts.hostname, port=parts.port, path_prefix=parts.path.rstrip("/"),
                threads=threads, seconds=seconds, warmup_s=warmup, start_at=time.time() + 1.5, ip_base=ip_base,
                accounts=per_thread, open_depth=open_depth)


def measured(result: dict, kinds: tuple[str, ...], seconds: float) -> dict:
    """Throughput and latency of the named request kinds over the measured window."""
    samples = [x for k in kinds for x in result["latency"].get(k, [])]
    ok = sum(result["counts"].get(k, 0) for k in kinds)
    stats = percentiles(samples)
    return {"requests_per_s": round(ok / seconds, 1), "ok": ok, "errors": sum(result["errors"].values()),
            "p50_ms": stats.get("p50_ms"), "p99_ms": stats.get("p99_ms"), "latency": stats,
            "by_kind": {k: percentiles(result["latency"].get(k, [])) for k in kinds}}


def load_phase(name: str, s: Spec, args, meter: CpuMeter | None = None) -> tuple[dict, dict | None]:
    log(f"{name}: {s.threads} clients x {s.seconds:.0f}s (+{s.warmup_s:.0f}s warm-up)")
    samples: list[tuple[float, dict]] = []
    sampler = None
    if meter:
        def sample_window() -> None:  # CPU over the measured window only (not the warm-up, not the cleanup)
            for at in (s.start_at + s.warmup_s, s.start_at + s.warmup_s + s.seconds):
                time.sleep(max(0.0, at - time.time()))
                samples.append((time.perf_counter(), meter.sample()))

        sampler = threading.Thread(target=sample_window, daemon=True)
        sampler.start()
    result = run_load(s, max(1, min(args.e2e_processes, s.threads)))
    cpu = None
    if sampler:
        sampler.join()
        (t0, before), (t1, after) = samples
        cpu = CpuMeter.delta(before, after, t1 - t0, sum(result["counts"].values()))
        cpu["note"] = "CPU seconds by component over the measured window; per operation = those seconds / the " \
                      "acknowledged requests of the window"
    if result["errors"]:
        log(f"{name}: errors {result['errors']} e.g. {result['error_samples'][:3]}")
    return result, cpu


def machine_ms_per_operation(cpu: dict | None, operations_per_s: float) -> float | None:
    """CPU of the whole machine (every process) per operation, in ms, over a measured window."""
    if not cpu or not operations_per_s or cpu.get("machine_busy_fraction") is None:
        return None
    return round(cpu["machine_busy_fraction"] * cpu["cores"] * 1000 / operations_per_s, 3)


CEILING = ("the most order requests/s this machine could serve if an order cost only what the order path "
           "cannot do without: one request through the edge, API Gateway and the Lambda (the floor's ping) plus "
           "one TransactWriteItems (the hold + PENDING_NEW), each as whole-machine CPU per operation measured in "
           "this run. All else an order does (auth, Redis, the engine, settlement's and the totals' transactions) "
           "counts as free here, so the true ceiling is lower")


def ceiling(floor_cpu: dict | None, floor_rps: float, ddb: dict) -> dict:
    """CEILING, from this run's floor and DynamoDB probe."""
    request_ms = machine_ms_per_operation(floor_cpu, floor_rps)
    transaction_ms = machine_ms_per_operation(ddb.get("cpu"), ddb["transact_write_items_per_s"])
    if request_ms is None or transaction_ms is None:
        return {"error": "CPU not measured"}
    cores = os.cpu_count() or 1
    orders = round(cores * 1000 / (request_ms + transaction_ms), 1)
    return {"orders_per_s": orders, "floor_fraction": round(orders / floor_rps, 3) if floor_rps else None,
            "cpu_ms_per_empty_request": request_ms, "cpu_ms_per_transaction": transaction_ms, "cores": cores,
            "what": CEILING}


# ------------------------------------------------------------------- checks
def wait_settled(accounts: list[Account], timeout_s: float) -> tuple[float, dict]:
    """Until no account holds anything locked: every hold released or consumed by settlement."""
    from castle.adapters.bootstrap import adapters

    ledger = adapters().ledger
    started = time.perf_counter()
    while True:
        locked = {}
        for a in accounts:
            for asset, (_, held) in ledger.balances(str(a.account_id)).items():
                if held:
                    locked[f"{a.account_id}/{asset}"] = held
        if not locked or time.perf_counter() - started > timeout_s:
            return time.perf_counter() - started, locked
        time.sleep(1.0)


def check_orders(accounts: list[Account], acked: list[tuple], cancels: list[tuple]) -> dict:
    """Every acknowledged order is in the Orders table, final; cancels are CANCELED; IOC takers FILLED."""
    from castle.adapters.dynamo import paginate
    from castle.adapters.dynamo_orders import from_item

    client = boto("dynamodb")
    table = os.environ["ORDERS_TABLE"]
    records = {}
    for a in accounts:
        kwargs = {"TableName": table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :o)",
                  "ExpressionAttributeValues": {":pk": {"S": f"ACCOUNT#{a.account_id}"},
                                                ":o": {"S": f"ORDER#{SYMBOL}#"}}}
        for item in paginate(client.query, kwargs):
            r = from_item(item)
            records[(r.account, r.order_id)] = r
    by_status: dict[str, int] = {}
    for r in records.values():
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    acked_ids = {(a, o) for a, o, *_ in acked}
    missing = sorted(acked_ids - set(records))
    still_open = sorted(k for k, r in records.items() if str(r.status) in OPEN_STATUSES)
    wrong_cancel = [k for k in cancels if k in records and str(records[k].status) != "CANCELED"]
    takers = [(a, o) for a, o, role, status, _ in acked if role == "taker"]
    unfilled_takers = [k for k in takers if k in records and str(records[k].status) != "FILLED"]
    makers = [(a, o) for a, o, role, *_ in acked if role == "maker"]
    unfilled_makers = [k for k in makers if k in records and str(records[k].status) != "FILLED"]
    return {"acknowledged_orders": len(acked_ids), "order_records": len(records),
            "records_without_ack": len(set(records) - acked_ids), "by_status": by_status,
            "missing": len(missing), "still_open": len(still_open), "cancels_acknowledged": len(cancels),
            "cancels_not_canceled": len(wrong_cancel), "takers": len(takers), "takers_not_filled": len(unfilled_takers),
            "makers": len(makers), "makers_not_filled": len(unfilled_makers),
            "examples": {"missing": missing[:5], "still_open": still_open[:5], "cancels_not_canceled": wrong_cancel[:5],
                         "takers_not_filled": unfilled_takers[:5], "makers_not_filled": unfilled_makers[:5]}}


def ledger_audit(timeout_s: float) -> dict:
    """`castle audit` (the CLI: the admin API runs the ledger audit now), retried while the streams catch up."""
    import json

    castle = Path(sys.executable).parent / "castle"
    started = time.perf_counter()
    while True:
        out = subprocess.run([str(castle), "audit", "--url", os.environ["CASTLE_URL"],
                              "--token", os.environ["CASTLE_ADMIN_TOKEN"]], capture_output=True, text=True, timeout=120)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            report = {"balanced": False, "error": (out.stderr or out.stdout)[-500:]}
        balanced = out.returncode == 0 and report.get("balanced") is True
        if balanced or time.perf_counter() - started > timeout_s:
            return {**report, "balanced": balanced, "waited_s": round(time.perf_counter() - started, 1),
                    "command": "castle audit"}
        time.sleep(2.0)


def funds_conserved(accounts: list[Account], audit_report: dict) -> dict:
    """What the run funded is all still there: -external (funded minus withdrawn) == what accounts hold."""
    funded = {asset: int(amount) * 10**8 * len(accounts) for asset, amount in FUNDS.items()}
    external = {a["asset"]: -a["external"] for a in audit_report.get("assets", [])}
    held = {a["asset"]: a["held"] for a in audit_report.get("assets", [])}
    # Only this run's accounts were funded (a fresh cloud): so funded by us == funded in total.
    return {"funded_by_run": funded, "external_minus": external, "held": held,
            "ok": all(external.get(k) == v and held.get(k) == v for k, v in funded.items())}


def handler_times(log_group_prefix: str, start_ms: int, end_ms: int, limit: int = 20000) -> dict:
    """The spot API's own `ms` per request (its one structured log line), from the stack's CloudWatch Logs."""
    import json

    logs = boto("logs")
    groups = [g["logGroupName"] for g in logs.describe_log_groups().get("logGroups", [])
              if log_group_prefix.lower() in g["logGroupName"].lower()]
    if not groups:
        return {"note": "no log group found"}
    out: dict[str, list[float]] = {}
    kwargs = {"logGroupName": groups[0], "startTime": start_ms, "endTime": end_ms, "filterPattern": '"request"'}
    deadline = time.perf_counter() + 30
    seen = 0
    while seen < limit and time.perf_counter() < deadline:
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events", []):
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if line.get("message") == "request" and "ms" in line:
                out.setdefault(f"{line.get('method')} {line.get('path')}", []).append(float(line["ms"]))
                seen += 1
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return {"log_group": groups[0], "lines": seen, "by_route": {k: percentiles(v) for k, v in out.items()}}


# ---------------------------------------------------------------------- run
def run(args) -> dict:
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    failures: list[str] = []
    cloud, info, state, startup_s = start_cloud()
    try:
        return _run(args, cloud, info, startup_s, failures, t_start, load_start)
    finally:
        log("stopping the local cloud")
        cloud.stop()
        shutil.rmtree(state, ignore_errors=True)


def _run(args, cloud, info, startup_s, failures, t_start, load_start) -> dict:
    edge = info.edge_url
    log(f"local cloud up in {startup_s:.1f}s; edge {edge}")
    t = time.perf_counter()
    accounts = create_accounts(edge, info.admin_token, args.e2e_accounts)
    probes = create_accounts(edge, info.admin_token, args.e2e_clients + 1)
    accounts_s = time.perf_counter() - t
    log(f"{len(accounts) + len(probes)} funded accounts in {accounts_s:.1f}s")
    components = {c.name: c.proc.pid for c in cloud.supervisor.components}
    meter = CpuMeter({k: v for k, v in components.items() if k != "ministack"} | {
        "ministack (gateway, DynamoDB, dispatch)": components.get("ministack")}, components.get("ministack"))

    # ------------------------------------------------------------ the floor
    run_load(spec("ping", edge, args, 3.0, "127.10", warmup=0.0), args.e2e_processes)  # spawn the Lambda workers
    floor_result, floor_cpu = load_phase("floor", spec("ping", edge, args, args.floor_seconds, "127.11"), args, meter)
    floor = measured(floor_result, ("ping",), args.floor_seconds)
    direct_result, _ = load_phase("floor, straight to API Gateway",
                                  spec("ping", info.stack.rest_url, args, 5.0, "127.12"), args)
    direct = measured(direct_result, ("ping",), 5.0)
    single_result, _ = load_phase("ping, one client", spec("ping", edge, args, 3.0, "127.13", threads=1,
                                                           warmup=0.5), args)
    single_ping = percentiles(single_result["latency"].get("ping", []))
    log(f"floor: {floor['requests_per_s']} req/s, p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms; "
        f"direct {direct['requests_per_s']} req/s")
    log("DynamoDB TransactWriteItems probe (5 s)")
    ddb = dynamodb_probe(boto("dynamodb"), 5.0, args.e2e_clients, meter)
    log(f"DynamoDB: {ddb['transact_write_items_per_s']} TransactWriteItems/s")
    try:
        ws = ws_round_trip(edge, 40)
    except Exception as e:  # a probe, not the benchmark: reported, not fatal
        ws = {"error": f"{type(e).__name__}: {e}"}
    local_cloud = {
        "floor_requests_per_s": floor["requests_per_s"], "p50_ms": floor["p50_ms"], "p99_ms": floor["p99_ms"],
        "clients": args.e2e_clients, "seconds": args.floor_seconds,
        "route": "GET /api/v3/ping through the edge (SpotApiFunction: the same function and middleware as orders)",
        "latency": floor["latency"], "errors": floor["errors"],
        "straight_to_api_gateway": {"requests_per_s": direct["requests_per_s"], "p50_ms": direct["p50_ms"],
                                    "p99_ms": direct["p99_ms"], "seconds": 5.0},
        "one_client_ping": single_ping,
        "dynamodb_transact_write_items": ddb,
        "websocket_round_trip": {"what": "LIST_SUBSCRIPTIONS over the edge's /ws -> the stream gateway -> its answer",
                                 **ws},
        "cpu": floor_cpu,
        "config": {"edge_url": edge, "startup_s": round(startup_s, 1), "loadavg_start": load_start,
                   "commit": _commit(), "python": sys.version.split()[0]},
    }
    _write("local_cloud", local_cloud, keep=("durability",))  # the resume benchmark's part stays

    # ------------------------------------------------- one order, stage by stage
    log(f"stages: {args.stage_iterations} orders timed stage by stage, one at a time")
    stages = stage_breakdown(probes[-1], info.redis_url, args.stage_iterations)
    # Its own accounts, taken in turn: the stage run just spent probes[-1]'s ORDERS budget (100 per
    # 10 s), and one unloaded client places faster than 10 orders/s.
    single_orders, _ = load_phase("orders, one client", spec("noncross", edge, args, 4.0, "127.14",
                                                             accounts=probes[:-1], threads=1, warmup=0.5,
                                                             open_depth=1), args)
    log("the order path in process (no edge, API Gateway or Lambda), 5 s")
    core = core_throughput(probes[:args.e2e_clients], 5.0)
    log(f"in process: {core['order_requests_per_s']} order requests/s")

    # --------------------------------------------------------------- orders
    half = args.seconds / 2
    log_start_ms = int(time.time() * 1000)
    noncross_result, noncross_cpu = load_phase(
        "orders, non-crossing", spec("noncross", edge, args, half, "127.15", accounts=accounts), args, meter)
    cross_result, cross_cpu = load_phase(
        "orders, crossing", spec("cross", edge, args, half, "127.16", accounts=accounts), args, meter)
    log_end_ms = int(time.time() * 1000)
    noncross = measured(noncross_result, ("place", "cancel"), half)
    cross = measured(cross_result, ("maker", "taker"), half)
    both = {"latency": {**noncross_result["latency"], **cross_result["latency"]},
            "counts": {**noncross_result["counts"], **cross_result["counts"]},
            "errors": {**noncross_result["errors"], **cross_result["errors"]}}
    overall = measured(both, ("place", "cancel", "maker", "taker"), args.seconds)
    placements = sum(both["counts"].get(k, 0) for k in ("place", "maker", "taker"))
    log(f"orders: {overall['requests_per_s']} order requests/s, p50 {overall['p50_ms']} ms, p99 {overall['p99_ms']} ms")

    # --------------------------------------------------------------- checks
    everyone = accounts + probes
    acked = noncross_result["orders"] + cross_result["orders"] + stages["placed"] + core["placed"] + \
        single_orders["orders"]
    cancels = noncross_result["cancels"] + single_orders["cancels"]
    log("waiting for settlement (no hold left locked)")
    settle_s, locked = wait_settled(everyone, args.settle_timeout)
    log(f"settled after {settle_s:.1f}s" + (f"; still locked: {len(locked)}" if locked else ""))
    orders_check = check_orders(everyone, acked, cancels)
    audit_report = ledger_audit(60.0)
    conserved = funds_conserved(everyone, audit_report)
    handler = handler_times("spot", log_start_ms, log_end_ms)
    for problem in (
        locked and f"{len(locked)} balances still locked {settle_s:.0f}s after the load",
        orders_check["missing"] and f"{orders_check['missing']} acknowledged orders missing from the Orders table",
        orders_check["still_open"] and f"{orders_check['still_open']} orders still open after the run",
        orders_check["cancels_not_canceled"] and f"{orders_check['cancels_not_canceled']} acknowledged cancels "
                                                 "not CANCELED",
        orders_check["takers_not_filled"] and f"{orders_check['takers_not_filled']} IOC takers not FILLED",
        orders_check["makers_not_filled"] and f"{orders_check['makers_not_filled']} makers not FILLED",
        not audit_report["balanced"] and "the ledger audit does not balance",
        not conserved["ok"] and "funds not conserved (held != funded)",
        overall["errors"] and f"{overall['errors']} order requests failed: {both['errors']}",
        single_orders["errors"] and f"one client's order requests failed: {single_orders['errors']}",
    ):
        if problem:
            failures.append(problem)

    floor_rps = floor["requests_per_s"]
    orders_per_s = overall["requests_per_s"]
    result = {
        "orders_per_s": orders_per_s,
        "p50_ms": overall["p50_ms"],
        "p99_ms": overall["p99_ms"],
        "floor_requests_per_s": floor_rps,
        "floor_fraction": round(orders_per_s / floor_rps, 3) if floor_rps else None,
        "placements_per_s": round(placements / args.seconds, 1),
        "definition": "orders_per_s: acknowledged signed order requests per second (POST /api/v3/order and "
                      "DELETE /api/v3/order), each a full trip through the edge, API Gateway, the spot API Lambda, "
                      "DynamoDB and the engine; placements_per_s counts the POSTs alone",
        "clients": args.e2e_clients, "seconds": args.seconds, "accounts": len(accounts),
        "mixes": {"non_crossing": {**noncross, "what": "LIMIT GTC 20-25k buys / 35-40k sells, each client keeps 4 "
                                                       "resting and cancels its oldest", "cpu": noncross_cpu},
                  "crossing": {**cross, "what": "a maker's LIMIT GTC sell at 30k, then another account's LIMIT IOC "
                                                "buy at 30k that takes the oldest sell", "cpu": cross_cpu}},
        "latency": overall["latency"],
        "unloaded": {"ping_one_client": single_ping,
                     "place_one_client": percentiles(single_orders["latency"].get("place", [])),
                     "cancel_one_client": percentiles(single_orders["latency"].get("cancel", []))},
        "stages_one_order": stage_table(stages["stages_ms"], single_ping,
                                        percentiles(single_orders["latency"].get("place", []))),
        "stages_ms": stages["stages_ms"],
        "redis_xadd_to_reply": {"place": stages["stages_ms"]["xadd_to_reply_place"],
                                "cancel": stages["stages_ms"]["xadd_to_reply_cancel"],
                                "xadd_alone": stages["stages_ms"]["xadd_alone"],
                                "ping": stages["stages_ms"]["redis_ping"],
                                "what": "RedisEngine.call: XADD to castle:{BTCUSDT}:cmd, the engine's XREAD, "
                                        "match, MULTI commit, LPUSH reply, the handler's BLPOP"},
        "order_path_in_process": {k: v for k, v in core.items() if k != "placed"},
        "handler_ms_under_load": handler,
        "dynamodb_transact_write_items_per_s": ddb["transact_write_items_per_s"],
        "ceiling": ceiling(floor_cpu, floor_rps, ddb),
        "checks": {"settled_after_s": round(settle_s, 1), "locked_left": len(locked), "orders": orders_check,
                   "ledger_audit": audit_report, "funds": conserved},
        "targets": {
            "orders_per_s >= 500": orders_per_s >= TARGETS["orders_per_s"],
            "floor_fraction >= 0.60": bool(floor_rps) and orders_per_s / floor_rps >= TARGETS["floor_fraction"],
            "p99_ms <= 25": overall["p99_ms"] is not None and overall["p99_ms"] <= TARGETS["p99_ms"],
        },
        "failures": failures,
        "config": {"loadavg_start": load_start, "loadavg_end": os.getloadavg(), "commit": _commit(),
                   "startup_s": round(startup_s, 1), "accounts_s": round(accounts_s, 1),
                   "processes": args.e2e_processes, "wall_s": round(time.perf_counter() - t_start, 1),
                   "python": sys.version.split()[0], "cpus": os.cpu_count()},
    }
    return result


def stage_table(stages: dict, ping: dict, place: dict) -> dict:
    """One order's time, stage by stage (p50s, one client, unloaded): what the handler does, and the rest."""
    p = {k: v.get("p50_ms", 0.0) for k, v in stages.items()}
    in_process = p["place_in_process"]
    domain = max(0.0, in_process - p["validation"] - p["order_id_incr"] - p["hold_transaction"]
                 - p["xadd_to_reply_place"])
    transport = max(0.0, ping.get("p50_ms", 0.0) - p["rate_limit"])
    rows = {
        "edge + API Gateway + Lambda invoke + Powertools (ping p50 - rate limit)": transport,
        "rate limit (Redis Lua, one round trip)": p["rate_limit"],
        "auth (HMAC-SHA256, key cached)": p["auth_hmac"],
        "request params (query + form body)": p["request_params"],
        "validation (order entry, symbol filters)": p["validation"],
        "order id (Redis INCR)": p["order_id_incr"],
        "hold + PENDING_NEW (DynamoDB TransactWriteItems)": p["hold_transaction"],
        "XADD alone (Redis)": p["xadd_alone"],
        "engine + reply wait (XADD -> reply, minus XADD)": max(0.0, p["xadd_to_reply_place"] - p["xadd_alone"]),
        "domain around the adapters (hold_for, outcome, response; in-process place minus the rows above)": domain,
    }
    total = sum(rows.values())
    rows = {k: round(v, 3) for k, v in rows.items()}
    measured_e2e = place.get("p50_ms")
    return {"p50_ms_by_stage": rows, "sum_ms": round(total, 3), "measured_place_p50_ms": measured_e2e,
            "unexplained_ms": round(measured_e2e - total, 3) if measured_e2e else None,
            "note": "p50s of each stage measured one at a time against the same services (one client, no load); "
                    "unexplained = the measured place p50 through the edge minus the sum"}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except OSError:
        return ""


def _write(name: str, result: dict, keep: tuple[str, ...] = ()) -> None:
    """Write a result file; the `keep` sections another benchmark wrote into it stay as they were."""
    import json

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    if keep and path.exists():
        before = json.loads(path.read_text())
        result = {**result, **{k: before[k] for k in keep if k in before}}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    log(f"written to {path}")


if __name__ == "__main__":
    threading.current_thread().name = "e2e"
    from benchmarks.__main__ import main

    sys.exit(main(["--only", NAME, *sys.argv[1:]]))
