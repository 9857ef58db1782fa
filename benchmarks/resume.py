"""Durable local state: what persistence costs the order path, and how long a resume takes when the cloud holds a lot.

    PYTHONPATH=layers/core:. .venv/bin/python -m benchmarks --only resume

Starts its own local cloud (free ports, its own state folder), then:

1. **Order rate, persistence on against off, in the same run.** The e2e
   benchmark's non-crossing mix (signed place + cancel through the edge) in
   alternating phases (on, off, off, on, ...: drift on a shared machine hits
   both alike). Off means ministack's journal off (`POST /_castle/journal`)
   and redis's AOF off (`CONFIG SET appendonly no`); on again, ministack takes
   a checkpoint and redis rewrites its AOF, so the state is durable again.
2. **What it holds**: `--resume-accounts` account profiles and
   `--resume-orders` closed order records (FILLED and CANCELED, as
   `castle.adapters.dynamo_orders.to_item` writes them), written straight
   into the stack's tables with BatchWriteItem: through ministack, so
   journaled like any write (creating them through the REST API would take
   ~20 minutes on this machine).
3. **Resume after kill -9**: every process group of the cloud SIGKILLed, then
   a start: ministack loads its last snapshot and replays the journal (the
   seeding's writes), redis loads its AOF. Timed to healthy (the edge up and the
   REST API answering), with ministack's own replay seconds.
4. **Resume after a clean stop**: stop, then start: the snapshot only.
5. The checks: the tables hold every seeded item after each resume.

The figures go to `results/resume.json` and into `results/local_cloud.json`
under `durability` (this module runs after `e2e`, which rewrites that file).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import RESULTS_DIR

NAME = "resume"
ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"persistence_on_over_off": 0.90}
SYMBOL = "BTCUSDT"


def add_arguments(parser) -> None:
    parser.add_argument("--resume-orders", type=int, default=100_000, help="resume: order records held")
    parser.add_argument("--resume-accounts", type=int, default=10_000, help="resume: account profiles held")
    parser.add_argument("--resume-rate-seconds", type=float, default=10.0,
                        help="resume: seconds of order load per persistence on/off phase")
    parser.add_argument("--resume-rate-rounds", type=int, default=2, help="resume: on/off pairs of phases")
    parser.add_argument("--resume-toggle", choices=("both", "journal", "aof"), default="both",
                        help="resume: what the off phases turn off (ministack's journal, redis's AOF, or both)")


def log(msg: str) -> None:
    print(f"[resume {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args) -> dict:
    from local.cloud import LocalCloud
    from local.processes import free_port

    started_at = time.perf_counter()
    load_start = os.getloadavg()
    state = ROOT / ".castle" / f"bench-resume-{os.getpid()}"
    cloud = LocalCloud(root=ROOT, state=state, edge_port=free_port())
    cloud.announce = lambda name, detail: log(f"{name:<11}{detail}")
    failures: list[str] = []
    try:
        cold_s = timed_start(cloud)
        rate = order_rate(cloud, args)
        held = seed(cloud.info, args.resume_accounts, args.resume_orders)
        after_kill = resume_after_kill(cloud)
        failures += check_held(cloud.info, held, "after kill -9")
        after_stop = resume_after_stop(cloud)
        failures += check_held(cloud.info, held, "after a clean stop")
        time.sleep(5)  # a component that cannot resume crashes within this
        restarts = {c.name: c.restarts for c in cloud.supervisor.components if c.restarts}
        if restarts:
            failures.append(f"components restarted after the resumes: {restarts}")
    finally:
        cloud.stop()
        if failures:
            shutil.rmtree(state / "build", ignore_errors=True)
            log(f"logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)
    ratio = round(rate["on"]["order_requests_per_s"] / rate["off"]["order_requests_per_s"], 3)
    result = {
        "resume_after_kill_s": after_kill["to_healthy_s"],
        "resume_after_stop_s": after_stop["to_healthy_s"],
        "held": held,
        "order_rate_persistence_on_per_s": rate["on"]["order_requests_per_s"],
        "order_rate_persistence_off_per_s": rate["off"]["order_requests_per_s"],
        "persistence_on_over_off": ratio,
        "targets": {"persistence_on_over_off >= 0.90 (within 10%)": ratio >= TARGETS["persistence_on_over_off"]},
        "after_kill": after_kill,
        "after_stop": after_stop,
        "order_rate": rate,
        "cold_start_s": round(cold_s, 1),
        "failures": failures,
        "config": {"loadavg_start": load_start, "loadavg_end": os.getloadavg(), "commit": _commit(),
                   "cpus": os.cpu_count(), "wall_s": round(time.perf_counter() - started_at, 1),
                   "python": sys.version.split()[0]},
    }
    _merge_into_local_cloud(result)
    return result


def timed_start(cloud) -> float:
    t = time.perf_counter()
    cloud.start()
    return time.perf_counter() - t


# ------------------------------------------------------------- the order rate
def set_persistence(info, on: bool, toggle: str = "both") -> None:
    import redis

    from local import ministack

    if toggle in ("both", "aof"):
        client = redis.Redis.from_url(info.redis_url)
        try:
            client.config_set("appendonly", "yes" if on else "no")
        finally:
            client.close()
    if toggle in ("both", "journal"):
        ministack.set_journaling(info.endpoint, on)


def order_rate(cloud, args) -> dict:
    from benchmarks import e2e

    info = cloud.info
    accounts = e2e.create_accounts(info.edge_url, info.admin_token, 48)
    e2e.run_load(e2e.spec("ping", info.edge_url, args, 3.0, "127.30", warmup=0.0), args.e2e_processes)  # warm Lambdas
    # The first order phase of a run is always the slowest (its Lambda workers' first orders): not measured.
    e2e.load_phase("orders, warm-up (not measured)", e2e.spec("noncross", info.edge_url, args, 6.0, "127.29",
                                                               accounts=accounts), args)
    phases: dict[str, list[dict]] = {"on": [], "off": []}
    order = [m for r in range(args.resume_rate_rounds) for m in (("on", "off") if r % 2 == 0 else ("off", "on"))]
    for i, mode in enumerate(order):
        set_persistence(info, mode == "on", args.resume_toggle)
        seconds = args.resume_rate_seconds
        result, _ = e2e.load_phase(f"orders, persistence {mode}",
                                   e2e.spec("noncross", info.edge_url, args, seconds, f"127.{31 + i}",
                                            accounts=accounts), args)
        m = e2e.measured(result, ("place", "cancel"), seconds)
        phases[mode].append({"order_requests_per_s": m["requests_per_s"], "p50_ms": m["p50_ms"],
                             "p99_ms": m["p99_ms"], "errors": m["errors"]})
        log(f"persistence {mode}: {m['requests_per_s']} order requests/s, p99 {m['p99_ms']} ms")
    set_persistence(info, True)
    out = {}
    for mode, runs in phases.items():
        out[mode] = {"order_requests_per_s": round(sum(r["order_requests_per_s"] for r in runs) / len(runs), 1),
                     "phases": runs}
    out["order"] = order
    out["what"] = ("signed place + cancel (the e2e non-crossing mix) through the edge, "
                   f"{args.e2e_clients} clients, 48 accounts, {args.resume_rate_seconds:.0f}s per phase; "
                   f"off = {args.resume_toggle} off (journal: ministack's; aof: redis appendonly no); "
                   "S3's write-through stays on")
    return out


# ------------------------------------------------------------- what it holds
def _dynamodb(info):
    from local.stack import boto3_session

    return boto3_session().client("dynamodb", endpoint_url=info.endpoint)


def seed(info, n_accounts: int, n_orders: int) -> dict:
    from castle.adapters.dynamo_orders import to_item
    from castle.order_records import OrderRecord
    from castle.orders import OrderStatus, OrderType, Side, StpMode, TimeInForce

    outputs = info.stack.outputs
    first = 5_000_000  # far above the counter's ids: never an account the API made
    now = int(time.time() * 1000)
    accounts = [{"PutRequest": {"Item": {
        "PK": {"S": f"ACCOUNT#{first + i}"}, "SK": {"S": "PROFILE"}, "CreatedAt": {"N": str(now)},
        "MakerCommission": {"N": "10"}, "TakerCommission": {"N": "10"}, "CanTrade": {"BOOL": True},
        "CanWithdraw": {"BOOL": True}, "CanDeposit": {"BOOL": True}, "UpdateTime": {"N": str(now)}}}}
        for i in range(n_accounts)]

    def order(i: int) -> dict:
        filled = i % 2 == 0
        record = OrderRecord(
            symbol=SYMBOL, order_id=10**9 + i, account=first + i % n_accounts, client_order_id=f"held{i}",
            side=Side.BUY if i % 3 else Side.SELL, type=OrderType.LIMIT, tif=TimeInForce.GTC,
            price=3_000_000 + i % 1000, qty=100, quote_qty=0, stop_price=0, iceberg_qty=0, stp=StpMode.EXPIRE_MAKER,
            time=now - i, status=OrderStatus.FILLED if filled else OrderStatus.CANCELED,
            executed=100 if filled else 0, cum_quote=(3_000_000 + i % 1000) * 100 if filled else 0,
            update_time=now - i, working_time=now - i, hold_asset="USDT")
        return {"PutRequest": {"Item": to_item(record)}}

    orders = [order(i) for i in range(n_orders)]
    t = time.perf_counter()
    batches = [(outputs["AccountsTableName"], accounts[i:i + 25]) for i in range(0, len(accounts), 25)]
    batches += [(outputs["OrdersTableName"], orders[i:i + 25]) for i in range(0, len(orders), 25)]
    client = _dynamodb(info)

    def write(batch: tuple[str, list]) -> None:
        table, items = batch
        pending = {table: items}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, batches))
    seconds = time.perf_counter() - t
    log(f"held: {n_accounts} accounts + {n_orders} orders written in {seconds:.1f}s ({len(batches)} BatchWriteItem)")
    return {"accounts": n_accounts, "orders": n_orders, "batch_write_items": len(batches),
            "seed_s": round(seconds, 1), "first_account_id": first,
            "table_items": {"accounts": count(info, "AccountsTableName"), "orders": count(info, "OrdersTableName")}}


def count(info, output: str) -> int:
    client, kwargs, total = _dynamodb(info), {"TableName": info.stack.outputs[output], "Select": "COUNT"}, 0
    while True:
        page = client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def check_held(info, held: dict, when: str) -> list[str]:
    problems = []
    for table, output in (("accounts", "AccountsTableName"), ("orders", "OrdersTableName")):
        now = count(info, output)
        if now != held["table_items"][table]:
            problems.append(f"{when}: the {table} table holds {now} items, not {held['table_items'][table]}")
    return problems


# ------------------------------------------------------------------ resumes
def resume_after_kill(cloud) -> dict:
    """SIGKILL every process group of the cloud (as an OOM killer would), then start it again."""
    from local import ministack

    pids = [c.proc.pid for c in cloud.supervisor.components]
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log(f"kill -9 of {len(pids)} process groups")
    cloud.stop()
    t = time.perf_counter()
    cloud.start()
    seconds = time.perf_counter() - t
    resumed = ministack.durability(cloud.info.endpoint)["resumed"]
    log(f"resumed after kill -9 in {seconds:.1f}s (ministack replayed {resumed['replayed']} writes "
        f"in {resumed['seconds']}s)")
    return {"to_healthy_s": round(seconds, 1), "ministack": resumed, "timings_s": _timings(cloud)}


def resume_after_stop(cloud) -> dict:
    from local import ministack

    cloud.stop()
    t = time.perf_counter()
    cloud.start()
    seconds = time.perf_counter() - t
    resumed = ministack.durability(cloud.info.endpoint)["resumed"]
    log(f"resumed after a clean stop in {seconds:.1f}s (ministack: {resumed['seconds']}s)")
    return {"to_healthy_s": round(seconds, 1), "ministack": resumed, "timings_s": _timings(cloud)}


def _timings(cloud) -> dict:
    """Seconds from the start to each stage being up (redis, ministack, deploy, warm, engine, edge)."""
    return {k: round(v, 1) for k, v in cloud.info.timings.items()}


def _merge_into_local_cloud(result: dict) -> None:
    path = RESULTS_DIR / "local_cloud.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current["durability"] = {k: result[k] for k in (
        "resume_after_kill_s", "resume_after_stop_s", "held", "order_rate_persistence_on_per_s",
        "order_rate_persistence_off_per_s", "persistence_on_over_off", "targets", "config")}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(current, indent=2) + "\n")
    tmp.replace(path)
    log(f"durability figures merged into {path}")


def _commit() -> str:
    import subprocess

    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()
