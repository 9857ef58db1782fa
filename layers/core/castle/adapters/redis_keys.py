"""Every Redis key and channel Castle uses, spelled once.

A shard's keys (a symbol's, or the wallet's) carry the shard as a hash tag,
`castle:{BTCUSDT}:...`, so that one MULTI can touch them together on Redis
Cluster (ElastiCache cluster mode): the engine's batch (events, replies,
mirror, checkpoint), settlement's (reports, XACK, stash deletes), the
projector's (trades, klines, state, XACK). Keys of one account or one IP carry
that as their tag.

    the order path (castle.adapters.redis_streams)
    castle:{BTCUSDT}:cmd                    stream  commands (the journal), field `cmd` (+ `reply_to`)
    castle:{BTCUSDT}:cmd:trimmed            string  the journal was trimmed before this entry id
    castle:{BTCUSDT}:order_id               string  the order id counter
    castle:{BTCUSDT}:reply:<uuid>           list    one reply per request, for a BLPOP; expires
    castle:{BTCUSDT}:events                 stream  engine events: `seq`, `command_id`, `type`, `event`, [`top`]
    castle:{BTCUSDT}:engine                 hash    checkpoint: `last_command_id`, `seq`
    castle:{BTCUSDT}:depth:bids|asks        zset    the depth mirror: member "<ticks>:<lots>", score ticks
    castle:{BTCUSDT}:depth:lastUpdateId     string
    castle:{UM}:cmd, :events, :engine ...   the USD-M futures market: one shard, one journal for every contract
    castle:{UM}:depth:<contract>:bids|asks|lastUpdateId   each contract's depth mirror
    castle:{UM}:tran_id                     string  transfer ids;  castle:{UM}:mark:<contract>  hash  the mark feed

    settlement (matching_container.settlement)
    castle:{BTCUSDT}:userdata               stream  executionReports (`castle:{wallet}:userdata`: deposits)
    castle:{BTCUSDT}:userdata:stash:<id>    string  an events entry's reports, from its write to its publish
    castle:{BTCUSDT}:settlement:attempts    hash    events entry id -> failed attempts (any group: <group>:attempts)
    castle:{BTCUSDT}:settlement:dead        stream  entries given up on, with their fields (<group>:dead)

    market data (castle.adapters.redis_marketdata, matching_container.publisher)
    castle:{BTCUSDT}:md:<name>              the projector's trades, aggs, klines, last trade and state
    castle:{BTCUSDT}:publisher:state        string  the publisher's projection state

    streams, listen keys, limits
    castle:ws:<stream>, castle:ws:user:<id> channel the frame bus (castle.adapters.redis_frames)
    castle:gateway:control                  channel the gateways' first subscription
    castle:ws:connects:{<ip>}:<window>      string  WebSocket connects per IP (Binance: 300 in 5 minutes)
    castle:listenkey:<key>                  string  a listenKey's account; castle:listenkey:acct:{<id>}, its key
    castle:rl:ip:{<ip>}:..., castle:rl:acct:{<id>}:...  rate-limit counters (castle.adapters.redis_ratelimit)
"""

from __future__ import annotations

import uuid

WALLET_SHARD = "wallet"  # deposits and withdrawals: no symbol's shard
FUTURES_SHARD = "UM"  # USD-M futures: cross margin spans contracts, so one journal holds them all


def shard_key(shard: str, name: str) -> str:
    return f"castle:{{{shard}}}:{name}"


def shard_of(key: str) -> str:
    """The shard a shard key belongs to: its hash tag."""
    return key.split("{", 1)[1].split("}", 1)[0]


# ------------------------------------------------------------ the order path
def command_key(symbol: str) -> str:
    return shard_key(symbol, "cmd")


def trimmed_key(symbol: str) -> str:
    return shard_key(symbol, "cmd:trimmed")


def order_id_key(symbol: str) -> str:
    return shard_key(symbol, "order_id")


def tran_id_key(shard: str) -> str:
    """The futures market's transfer id counter (Binance's tranId)."""
    return shard_key(shard, "tran_id")


def mark_key(contract: str) -> str:
    """A contract's latest mark, index, funding rate and next funding time (the mark-price feed's hash)."""
    return shard_key(FUTURES_SHARD, f"mark:{contract}")


def reply_key(symbol: str) -> str:
    """A fresh reply list in the symbol's slot (the engine pushes to it in its MULTI)."""
    return shard_key(symbol, f"reply:{uuid.uuid4().hex}")


def events_key(symbol: str) -> str:
    return shard_key(symbol, "events")


def checkpoint_key(symbol: str) -> str:
    return shard_key(symbol, "engine")


def depth_keys(symbol: str, book: str | None = None) -> tuple[str, str, str]:
    """(bids, asks, lastUpdateId) of the engine's depth mirror; `book` is one book of a multi-book shard."""
    prefix = "depth" if book is None else f"depth:{book}"
    return shard_key(symbol, f"{prefix}:bids"), shard_key(symbol, f"{prefix}:asks"), depth_update_id_key(symbol, book)


def depth_update_id_key(symbol: str, book: str | None = None) -> str:
    return shard_key(symbol, "depth:lastUpdateId" if book is None else f"depth:{book}:lastUpdateId")


# ---------------------------------------------------------------- settlement
def user_data_key(shard: str) -> str:
    """A shard's executionReports (or the wallet's balanceUpdates), for the publisher."""
    return shard_key(shard, "userdata")


def report_stash_key(symbol: str, entry_id: str) -> str:
    return shard_key(symbol, f"userdata:stash:{entry_id}")


def attempts_key(shard: str, group: str) -> str:
    """A consumer group's failed attempts per entry of the shard's stream (settlement: `settlement:attempts`)."""
    return shard_key(shard, f"{group}:attempts")


def dead_letter_key(shard: str, group: str) -> str:
    """Where a consumer group puts the shard's entries it gave up on (settlement: `settlement:dead`)."""
    return shard_key(shard, f"{group}:dead")


# --------------------------------------------------------------- market data
def md_key(symbol: str, name: str) -> str:
    return shard_key(symbol, f"md:{name}")


def kline_key(symbol: str, interval: str) -> str:
    return md_key(symbol, f"kline:{interval}")


def publisher_state_key(symbol: str) -> str:
    return shard_key(symbol, "publisher:state")


# ------------------------------------------------------------------- streams
CHANNEL_PREFIX = "castle:ws:"
USER_CHANNEL_PREFIX = CHANNEL_PREFIX + "user:"
GATEWAY_CONTROL = "castle:gateway:control"


def market_channel(stream: str) -> str:
    return CHANNEL_PREFIX + stream


def user_channel(account: int) -> str:
    return f"{USER_CHANNEL_PREFIX}{account}"


def ws_connects_key(address: str, window: int) -> str:
    return f"castle:ws:connects:{{{address}}}:{window}"


# --------------------------------------------------------- listen keys, limits
def listen_key_key(listen_key: str) -> str:
    return f"castle:listenkey:{listen_key}"


def listen_key_of_account_key(account_id: int) -> str:
    return f"castle:listenkey:acct:{{{account_id}}}"


def ip_weight_keys(ip: str, weight_window: int) -> list[str]:
    """An IP's weight this window, its 429 strikes, its bans so far, and its ban."""
    tag = f"castle:rl:ip:{{{ip}}}"
    return [f"{tag}:w:{weight_window}", f"{tag}:strikes", f"{tag}:bans", f"{tag}:ban"]


def account_order_keys(account_id: int, window_10s: int, day: int) -> list[str]:
    """An account's orders in this 10 s window and this day."""
    tag = f"castle:rl:acct:{{{account_id}}}"
    return [f"{tag}:o10:{window_10s}", f"{tag}:o1d:{day}"]


def bench_scratch_key(pid: int) -> str:
    return f"castle:bench:{pid}:xadd"
