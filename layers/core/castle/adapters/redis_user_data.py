"""The user data streams' entries: one report for one account, and the assets it may have moved.

Settlement appends executionReports to its symbol's stream (inside the MULTI
that acknowledges the events); wallet movements (deposits, withdrawals) go to
the wallet shard's. The publisher reads both and delivers to listenKeys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from castle.adapters.redis_keys import WALLET_SHARD, user_data_key

MAXLEN = 100_000  # approximate: the publisher reads within seconds; this is slack, not history


def user_data_fields(account: int, report: dict, assets: Iterable[str]) -> dict:
    return {"account": account, "event": json.dumps(report, separators=(",", ":")), "assets": ",".join(assets)}


def append(pipe, shard: str, account: int, report: dict, assets: Iterable[str]) -> None:
    """XADD one entry (on a client or inside a caller's pipeline)."""
    pipe.xadd(user_data_key(shard), user_data_fields(account, report, assets), maxlen=MAXLEN, approximate=True)


def append_wallet(client, account: int, report: dict, assets: Iterable[str]) -> None:
    append(client, WALLET_SHARD, account, report, assets)
