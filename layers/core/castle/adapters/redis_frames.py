"""The frame bus between the market-data publisher and the stream gateways: Redis pub/sub.

The publisher encodes each stream message once and PUBLISHes it to that
stream's channel; every gateway SUBSCRIBEs to the channels its clients listen
to and writes the frame to each of them. So the cost per message is one
PUBLISH, however many clients (and gateways) there are.

- a market stream `btcusdt@depth@100ms` is channel `castle:ws:btcusdt@depth@100ms`;
- an account's user data (executionReport, outboundAccountPosition,
  balanceUpdate) is channel `castle:ws:user:<accountId>`: a gateway resolves a
  listenKey to its account when the client connects.

Which channels have listeners is Redis's own count (PUBSUB CHANNELS), so the
publisher computes only what someone receives, and no registry can go stale.
"""

from __future__ import annotations

from collections.abc import Iterable

from castle.adapters.redis_keys import CHANNEL_PREFIX as PREFIX
from castle.adapters.redis_keys import USER_CHANNEL_PREFIX as USER_PREFIX
from castle.adapters.redis_keys import market_channel, user_channel

__all__ = ["PREFIX", "USER_PREFIX", "RedisFrameBus", "listeners", "market_channel", "user_channel"]


def listeners(channels: Iterable[str | bytes]) -> tuple[set[str], set[int]]:
    """(market streams, accounts) from channel names with listeners."""
    streams: set[str] = set()
    accounts: set[int] = set()
    for channel in channels:
        name = channel.decode() if isinstance(channel, bytes) else channel
        if name.startswith(USER_PREFIX):
            tail = name[len(USER_PREFIX):]
            if tail.isdigit():
                accounts.add(int(tail))
        elif name.startswith(PREFIX):
            streams.add(name[len(PREFIX):])
    return streams, accounts


class RedisFrameBus:
    """The publisher's side: who listens, and one pipelined PUBLISH per batch of frames."""

    def __init__(self, client) -> None:
        self.client = client

    def listening(self) -> tuple[set[str], set[int]]:
        return listeners(self.client.pubsub_channels(PREFIX + "*"))

    def publish(self, frames: list[tuple[str, str]]) -> None:
        """`frames`: (channel, JSON text), sent in this order (Redis keeps one connection's order)."""
        if not frames:
            return
        pipe = self.client.pipeline(transaction=False)
        for channel, data in frames:
            pipe.publish(channel, data)
        pipe.execute()
