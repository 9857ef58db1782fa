"""A seeded journal of every kind of command, replayed on one build of the engine in a fresh process.

`python -m tests.engine_journal --seed N --commands N` prints, as JSON, the build it ran (see
matching_container/engine_build.py; CASTLE_COMPILED=0 forces pure Python), every event, the final
depth and `state_hash()`. One process per build, because the compiled and the pure modules share
their names: tests/unit/test_engine_builds.py runs it twice and compares.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

P = 3_000_000
ACCOUNTS = range(1, 6)  # few accounts: self-trade prevention fires often
# LIMIT, MARKET, LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT
KIND_WEIGHTS = (50, 16, 6, 7, 7, 7, 7)


def journal(seed: int, n: int) -> list:
    """Every command and order type, icebergs, client ids, duplicates, rejections and stop triggers."""
    from castle.orders import (
        AmendOrder,
        CancelAllOrders,
        CancelOrder,
        CancelReplace,
        CancelReplaceMode,
        OrderType,
        PlaceOrder,
        Side,
        StpMode,
        TimeInForce,
    )

    rng = random.Random(seed)
    placed: list[tuple[int, int]] = []
    commands: list = []
    for i in range(1, n + 1):
        ts = 1_700_000_000_000 + 700 * i  # crosses minutes: the average price window moves
        account = rng.choice(ACCOUNTS)
        side = rng.choice((Side.BUY, Side.SELL))
        price = P + rng.randint(-25, 25)
        r = rng.random()
        if r < 0.15 and placed:
            oid, owner = rng.choice(placed[-40:])  # recent orders: mostly still live
            commands.append(CancelOrder(oid, owner if rng.random() < 0.9 else owner + 1, ts))
            continue
        if r < 0.20 and placed:
            oid, owner = rng.choice(placed[-40:])
            commands.append(AmendOrder(oid, owner, rng.randint(0, 400), ts))
            continue
        if r < 0.21:
            commands.append(CancelAllOrders(account, ts))
            continue
        kind = rng.choices(list(OrderType), weights=KIND_WEIGHTS)[0]
        market = kind is OrderType.MARKET
        place = PlaceOrder(
            i if rng.random() < 0.98 else max(1, i - 1),  # a few duplicate ids
            account,
            side,
            kind,
            price=price if kind.has_price else None,
            qty=None if market and rng.random() < 0.3 else rng.randint(1, 400),
            quote_qty=P * rng.randint(20, 300) if market and rng.random() < 0.5 else None,
            stop_price=P + rng.randint(-40, 40) if kind.is_stop else None,
            tif=rng.choice(list(TimeInForce)) if kind in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT) else None,
            iceberg_qty=rng.randint(1, 60) if kind is OrderType.LIMIT and rng.random() < 0.15 else None,
            stp=rng.choice(list(StpMode)),
            client_order_id=f"c{i % 50}" if rng.random() < 0.1 else None,
            ts=ts,
        )
        if place.tif is None:
            place.tif = TimeInForce.GTC
        if place.qty is None and place.quote_qty is None:
            place.qty = rng.randint(1, 400)
        if r < 0.25 and placed:
            oid, owner = rng.choice(placed[-40:])
            place.account = owner
            mode = rng.choice(list(CancelReplaceMode))
            commands.append(CancelReplace(CancelOrder(oid, owner, ts), place, mode))
        else:
            commands.append(place)
        placed.append((place.order_id, place.account))
    return commands


def replay(seed: int, n: int) -> dict:
    from matching_container.engine_build import describe, use_compiled

    build = use_compiled()  # before castle is imported, as the engine process does
    from castle.events import to_dict
    from castle.matching import MatchingEngine
    from castle.symbols import default_symbols

    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    events = []
    for command in journal(seed, n):
        events.append([to_dict(e) for e in engine.submit(command)])
    depth = engine.depth()
    return {
        "build": build,
        "detail": describe(),
        "events": events,
        "depth": [depth.last_update_id, depth.bids, depth.asks],
        "open_orders": [repr(o) for o in engine.open_orders()],
        "state_hash": engine.state_hash(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.engine_journal", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=2_000)
    args = parser.parse_args(argv)
    json.dump(replay(args.seed, args.commands), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
