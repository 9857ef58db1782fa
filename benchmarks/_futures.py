"""The futures pass of the engine benchmark: the futures engine beside spot's, on the same mixed operations.

The futures workload is spot's mixed workload as futures orders (same ids,
accounts, sides, prices and quantities, on a BTCUSDT perpetual with spot's tick
and lot), plus what only futures has: a mark-price tick every `MARK_EVERY`
operations (the mark follows the mid), a reduce-only limit order from a long
account every `REDUCE_ONLY_EVERY` operations, and a reduce-only STOP_MARKET on
MARK_PRICE every `STOP_EVERY` operations, a few ticks under the mark, so the
walking mark fires them. Every account is funded and at 1x leverage first
(untimed), so the margin check runs on every opening order and rejects none.
The two engines alternate every `chunk` operations, as the spot pass does with
its peer, so background load hits both alike; the ratio is futures ops/s over
spot ops/s in this same run.
"""

from __future__ import annotations

import dataclasses
import time

from castle.futures.brackets import default_brackets
from castle.futures.commands import (
    FuturesCancel,
    FuturesOrder,
    FuturesOrderType,
    FuturesTimeInForce,
    SetLeverage,
    TransferIn,
    UpdateMarks,
    WorkingType,
)
from castle.futures.contracts import default_contracts
from castle.futures.engine import FuturesEngine
from castle.futures.events import CommandRejected, FuturesTrade, OrderRejected, OrderUpdated
from castle.matching import MatchingEngine
from castle.orders import CancelOrder, OrderType, Side
from castle.symbols import units

MARK_EVERY = 100
REDUCE_ONLY_EVERY = 50
STOP_EVERY = 100
STOP_TICKS = 30  # a stop this far under the mark fires once the mid walks down to it
EXTRA_IDS = 10**9  # order ids of the futures-only orders, clear of the spot workload's


def contracts(spot_symbol) -> dict:
    """BTCUSDT perpetual on spot's grid, so both engines see the same prices and quantities."""
    btc = default_contracts()["BTCUSDT"]
    return {"BTCUSDT": dataclasses.replace(
        btc, tick_size=spot_symbol.tick, min_price=spot_symbol.tick, step_size=spot_symbol.lot,
        min_qty=spot_symbol.lot, market_min_qty=spot_symbol.lot, market_step_size=spot_symbol.lot,
        min_notional=1, max_num_orders=10**9)}  # spot's workload goes below 100 USDT; MIN_NOTIONAL is not measured


def new_engine(spot_symbol, accounts) -> FuturesEngine:
    engine = FuturesEngine(contracts(spot_symbol), default_brackets())
    for account in accounts:
        engine.submit(TransferIn(account, account + 1, units("1000000000"), 0))
        engine.submit(SetLeverage(account, "BTCUSDT", 1))
    return engine


def futures_workload(spot_cmds: list, spot_symbol, buyers) -> tuple[list, dict]:
    """Spot's commands as futures commands, with marks, reduce-only orders and mark-price stops among them."""
    tick, lot = spot_symbol.tick, spot_symbol.lot
    out: list = []
    mid = mark = None
    extra = EXTRA_IDS
    counts = {"spot_ops": 0, "marks": 0, "reduce_only": 0, "stops": 0}
    # A reduce-only sell from a long (buyers only buy in spot's mix); a stop under the mark it was placed at.
    buyer_list = list(buyers)
    for i, cmd in enumerate(spot_cmds):
        counts["spot_ops"] += 1
        if type(cmd) is CancelOrder:
            out.append(FuturesCancel("BTCUSDT", cmd.order_id, cmd.account, cmd.ts))
            continue
        if cmd.type is OrderType.LIMIT:
            mid = cmd.price
            out.append(FuturesOrder("BTCUSDT", cmd.order_id, cmd.account, cmd.side, FuturesOrderType.LIMIT,
                                    cmd.qty * lot, cmd.price * tick, ts=cmd.ts))
        else:
            out.append(FuturesOrder("BTCUSDT", cmd.order_id, cmd.account, cmd.side, FuturesOrderType.MARKET,
                                    cmd.qty * lot, ts=cmd.ts))
        if mid is None:
            continue
        if i % MARK_EVERY == 0 or mark is None:
            mark = mid
            out.append(UpdateMarks({"BTCUSDT": (mark * tick, mark * tick)}, cmd.ts))
            counts["marks"] += 1
        account = buyer_list[i % len(buyer_list)]
        if i % REDUCE_ONLY_EVERY == 1:
            extra += 1
            out.append(FuturesOrder("BTCUSDT", extra, account, Side.SELL, FuturesOrderType.LIMIT, lot,
                                    (mid + 200) * tick, FuturesTimeInForce.GTC, reduce_only=True, ts=cmd.ts))
            counts["reduce_only"] += 1
        if i % STOP_EVERY == 2:
            extra += 1
            out.append(FuturesOrder("BTCUSDT", extra, account, Side.SELL, FuturesOrderType.STOP_MARKET, lot,
                                    reduce_only=True, stop_price=(mark - STOP_TICKS) * tick,
                                    working_type=WorkingType.MARK_PRICE, ts=cmd.ts))
            counts["stops"] += 1
    counts["futures_ops"] = len(out)
    return out, counts


def _chunk(submit, cmds: list) -> tuple[int, list]:
    out: list = []
    append = out.append
    t0 = time.perf_counter_ns()
    for cmd in cmds:
        append(submit(cmd))
    return time.perf_counter_ns() - t0, out


def throughput(spot_symbol, spot_cmds: list, futures_cmds: list, accounts, chunk: int, quiesce) -> dict:
    """Spot and futures alternating, each over its own whole workload in `chunk`-sized parts of equal count."""
    spot = MatchingEngine(spot_symbol)
    futures = new_engine(spot_symbol, accounts)
    n_parts = max(1, len(spot_cmds) // chunk)
    spot_size = -(-len(spot_cmds) // n_parts)
    fut_size = -(-len(futures_cmds) // n_parts)
    spot_ns = fut_ns = 0
    outcome = {"trades": 0, "rejected": 0, "rejections": {}, "triggered": 0, "reduce_only_fills": 0}
    quiesce()
    for part in range(n_parts):
        spot_part = spot_cmds[part * spot_size:(part + 1) * spot_size]
        fut_part = futures_cmds[part * fut_size:(part + 1) * fut_size]
        for turn in (0, 1) if part % 2 == 0 else (1, 0):
            if turn == 0:
                ns, out = _chunk(spot.submit, spot_part)
                spot_ns += ns
            else:
                ns, out = _chunk(futures.submit, fut_part)
                fut_ns += ns
                _count(out, outcome)
            del out
    return {
        "spot_ops_per_s": round(len(spot_cmds) / (spot_ns / 1e9)),
        "futures_ops_per_s": round(len(futures_cmds) / (fut_ns / 1e9)),
        "ratio": round((len(futures_cmds) / fut_ns) / (len(spot_cmds) / spot_ns), 3),
        **outcome,
    }


def _count(results: list, outcome: dict) -> None:
    for events in results:
        for e in events:
            kind = type(e)
            if kind is FuturesTrade:
                outcome["trades"] += 1
            elif kind is OrderRejected or kind is CommandRejected:
                outcome["rejected"] += 1
                outcome["rejections"][str(e.code)] = outcome["rejections"].get(str(e.code), 0) + 1
            elif kind is OrderUpdated and e.execution == "TRADE":
                if e.order.orig_type != e.order.type:
                    outcome["triggered"] += 1
                if e.order.reduce_only:
                    outcome["reduce_only_fills"] += 1


def profile(spot_symbol, futures_cmds: list, accounts, n: int) -> list[dict]:
    """Where a futures command's time goes: the top functions by own time over the first `n` commands."""
    import cProfile
    import pstats

    engine = new_engine(spot_symbol, accounts)
    profiler = cProfile.Profile()
    profiler.enable()
    for cmd in futures_cmds[:n]:
        engine.submit(cmd)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values()) or 1
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:12]
    return [{"function": f"{k[0].rsplit('/', 1)[-1]}:{k[2]}", "own_share": round(v[2] / total, 3)} for k, v in rows]

