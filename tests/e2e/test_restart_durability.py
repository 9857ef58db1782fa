"""`make up` again resumes what the last run held; no process outlives its launcher.

This module runs its own `python -m local.up` (the launcher `make up` runs) in
its own state folder, so that it can stop, kill and restart it; the session's
shared cloud is not used. The tests run in file order, each on the state the
one before left:

1. a SIGTERM'd run, started again, shows the same API keys exactly the same
   balances, open orders, order history, trades, klines and book;
2. a SIGKILL'd launcher leaves no process of it after 5 s (the lifeline);
3. kill -9 of every process of the cloud while clients trade, then a start:
   every acknowledged order is there, no earlier trade is lost, and
   `castle audit` balances to the unit;
4. leftovers of a run whose launcher and lifeline were both killed are found
   (pids.json) and stopped by the next start, which keeps the data; SIGHUP
   stops it within 10 s.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from local.processes import free_port
from tests.e2e.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
CASTLE = str(Path(sys.executable).parent / "castle")
SYMBOL = "BTCUSDT"
SEED = int(os.environ.get("CASTLE_RESTART_SEED", "20261202"))


@dataclass
class Run:
    """One `python -m local.up`: its process, what it printed, the env it wrote."""

    proc: subprocess.Popen
    lines: list[str]
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.env["CASTLE_URL"]


@dataclass
class World:
    state: Path
    port: int
    run: Run | None = None
    accounts: dict[str, dict] = field(default_factory=dict)
    view: dict | None = None

    def start(self) -> Run:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(CASTLE_STATE=str(self.state), CASTLE_PORT=str(self.port))
        proc = subprocess.Popen([sys.executable, "-m", "local.up"], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        lines: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "castle is up" in line or not line:
                break
        assert any("castle is up" in line for line in lines), "".join(lines)
        threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
        pairs = (line.split("=", 1) for line in (self.state / "local.env").read_text().splitlines() if "=" in line)
        self.run = Run(proc, lines, dict(pairs))
        return self.run

    def client(self, name: str) -> Client:
        account = self.accounts[name]
        client = Client(account["apiKey"], account["secretKey"], ping=False, requests_params={"timeout": 15})
        client.API_URL = f"{self.run.url}/api"
        return client

    def castle(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CASTLE, *args, "--url", self.run.url, f"--token={self.run.env['CASTLE_ADMIN_TOKEN']}"],
                              capture_output=True, text=True, timeout=60)


def _drain(proc: subprocess.Popen, lines: list[str]) -> None:
    for line in proc.stdout:
        lines.append(line)


@pytest.fixture(scope="module")
def world(request) -> Iterator[World]:
    state = ROOT / ".castle" / f"e2e-restart-{os.getpid()}"
    world = World(state, free_port())
    failed_before = request.session.testsfailed
    try:
        yield world
    finally:
        if world.run is not None and world.run.proc.poll() is None:
            world.run.proc.send_signal(signal.SIGTERM)
            world.run.proc.wait(timeout=20)
        for pid in processes_of(state):  # whatever a failed test left
            _kill(pid)
        if request.session.testsfailed > failed_before:
            shutil.rmtree(state / "build", ignore_errors=True)
            print(f"\nrestart test logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def processes_of(state: Path) -> list[int]:
    """Every live process of the run recorded in pids.json: launcher, lifeline, and all of each child's group."""
    path = state / "pids.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())
    leaders = {record["launcher"][0], record["watchdog"][0]}
    groups = {pgid for pgid, _ in record["groups"].values()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid, state_char, pgid = int(entry.name), fields[0], int(fields[2])
        if state_char != "Z" and (pid in leaders or pgid in groups):
            found.append(pid)
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def view(world: World) -> dict:
    """What the accounts and the market show, through the public API."""
    seen: dict = {}
    for name in world.accounts:
        client = world.client(name)
        seen[name] = {
            "balances": client.get_account()["balances"],
            "open": client.get_open_orders(symbol=SYMBOL),
            "orders": client.get_all_orders(symbol=SYMBOL),
            "trades": client.get_my_trades(symbol=SYMBOL),
        }
    public = world.client(next(iter(world.accounts)))
    # The candles that traded (an empty one for the minute it is now comes and goes with the clock).
    seen["klines"] = [k for k in public.get_klines(symbol=SYMBOL, interval="1m") if k[5] != "0.00000000"]
    book = public.get_order_book(symbol=SYMBOL, limit=100)
    seen["book"] = {"bids": book["bids"], "asks": book["asks"]}
    return seen


def settled_view(world: World, acked: set[int] | None = None) -> dict:
    """The view once settlement and market data have caught up: two reads a second apart agree, and no
    acknowledged order (all of them, unless `acked` names them) is still PENDING_NEW."""
    last: list[dict] = []

    def stable():
        now = view(world)
        same = bool(last) and last[-1] == now and not any(
            o["status"] == "PENDING_NEW" and (acked is None or o["orderId"] in acked)
            for name in world.accounts for o in now[name]["orders"])
        last.append(now)
        return now if same else None

    return eventually(stable, timeout_s=60, interval_s=1.0)


def test_a_sigterm_and_a_start_resume_everything_the_same_api_keys_see(world):
    world.start()
    for name, fund in (("alice", "USDT=100000"), ("bob", "BTC=5")):
        out = world.castle("account", "create", "--fund", fund)
        assert out.returncode == 0, out.stderr
        world.accounts[name] = json.loads(out.stdout)
    alice, bob = world.client("alice"), world.client("bob")
    bob.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.02", price="30000")
    alice.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="30000")
    alice.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="29000")
    canceled = bob.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.005",
                                price="31000")
    bob.cancel_order(symbol=SYMBOL, orderId=canceled["orderId"])
    before = settled_view(world)
    assert before["alice"]["trades"] and before["alice"]["open"] and before["book"]["asks"]
    pids = processes_of(world.state)

    world.run.proc.send_signal(signal.SIGTERM)
    world.run.proc.wait(timeout=10)
    assert processes_of_any(pids) == set()

    run = world.start()
    assert any(line.startswith("data") and "resuming" in line for line in run.lines), "".join(run.lines)
    assert view(world) == before
    order = bob.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.001",
                             price="35000")
    assert bob.cancel_order(symbol=SYMBOL, orderId=order["orderId"])["status"] == "CANCELED"
    world.view = settled_view(world)


def processes_of_any(pids: list[int]) -> set[int]:
    """Which of `pids` still run (not zombies)."""
    alive = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return alive


def test_a_sigkilled_launcher_leaves_no_process_after_5_s(world):
    pids = processes_of(world.state)
    assert len(pids) >= 8  # launcher, lifeline, redis, ministack, four matching containers, the gateway
    world.run.proc.kill()
    time.sleep(5)
    assert processes_of_any(pids) == set()


@dataclass
class Acks:
    orders: dict[int, str] = field(default_factory=dict)  # orderId -> clientOrderId, as acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)


def trade(client: Client, side: str, price: str, stop: threading.Event, acks: Acks) -> None:
    while not stop.is_set():
        client_id = f"rs{uuid.uuid4().hex[:20]}"
        try:
            order = client.create_order(symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC",
                                        quantity="0.001", price=price, newClientOrderId=client_id)
        except (BinanceAPIException, requests.RequestException):
            time.sleep(0.05)  # the cloud is going down: unacknowledged, nothing is promised
            continue
        with acks.lock:
            acks.orders[order["orderId"]] = client_id


def test_kill_9_of_every_process_under_load_loses_nothing_acknowledged(world):
    world.start()
    acks, stop = Acks(), threading.Event()
    workers = [threading.Thread(target=trade, args=(world.client("alice"), "BUY", "30000", stop, acks)),
               threading.Thread(target=trade, args=(world.client("bob"), "SELL", "30000", stop, acks))]
    for w in workers:
        w.start()
    eventually(lambda: len(acks.orders) >= 10, timeout_s=60)
    time.sleep(random.Random(SEED).uniform(0.5, 3.0))
    for pid in processes_of(world.state):
        _kill(pid)
    stop.set()
    for w in workers:
        w.join(timeout=30)
    acked = dict(acks.orders)

    world.start()
    after = settled_view(world, set(acked))
    orders = {o["orderId"]: o for name in world.accounts for o in after[name]["orders"]}
    assert set(acked) <= set(orders), sorted(set(acked) - set(orders))
    assert all(orders[i]["clientOrderId"] == c for i, c in acked.items())
    trades = {(name, t["id"]) for name in world.accounts for t in after[name]["trades"]}
    earlier = {(name, t["id"]) for name in world.accounts for t in world.view[name]["trades"]}
    assert earlier <= trades
    audit = world.castle("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    world.view = after


def local_command(world: World, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CASTLE_STATE": str(world.state)}
    return subprocess.run(list(argv), cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=600)


def test_a_redeploy_with_make_deploy_local_keeps_the_data(world):
    deployed = local_command(world, sys.executable, "-m", "local.deploy")
    assert deployed.returncode == 0, deployed.stderr
    assert "redeployed" in deployed.stdout
    assert view(world) == world.view


def test_make_reset_refuses_while_the_cloud_runs(world):
    refused = local_command(world, sys.executable, "-m", "local.reset")
    assert refused.returncode == 1 and "running" in refused.stderr
    assert view(world) == world.view


def test_leftovers_of_a_killed_run_are_stopped_by_the_next_start_which_keeps_the_data(world):
    record = json.loads((world.state / "pids.json").read_text())
    _kill(record["watchdog"][0])  # no lifeline: the children outlive the launcher
    world.run.proc.kill()
    world.run.proc.wait()
    time.sleep(0.5)
    leftovers = processes_of_any([pgid for pgid, _ in record["groups"].values()])
    assert leftovers, "the children should still run without their lifeline"

    run = world.start()
    assert any(line.startswith("leftovers") for line in run.lines), "".join(run.lines)
    assert processes_of_any(sorted(leftovers)) == set()
    assert view(world) == world.view

    pids = processes_of(world.state)
    started = time.monotonic()
    run.proc.send_signal(signal.SIGHUP)
    run.proc.wait(timeout=10)
    assert time.monotonic() - started < 10
    assert processes_of_any(pids) == set()


def test_make_reset_asks_first_and_then_wipes_the_data(world):
    data = world.state / "data"
    assert (data / "ministack").exists() and (data / "redis").exists()
    declined = local_command(world, "make", "--no-print-directory", "reset", stdin="n\n")
    assert declined.returncode != 0 and "nothing wiped" in declined.stdout
    assert (data / "ministack").exists()
    wiped = local_command(world, "make", "--no-print-directory", "reset", "FORCE=1")
    assert wiped.returncode == 0, wiped.stderr
    assert not data.exists()

