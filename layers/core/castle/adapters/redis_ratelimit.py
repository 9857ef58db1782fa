"""REQUEST_WEIGHT and ORDERS counters in Redis: one Lua script, one round trip per request.

Keys (fixed windows, numbered by `now // window`, expiring with their window):
- `castle:rl:ip:{<ip>}:w:<minute>`: weight used by an IP this minute;
- `castle:rl:ip:{<ip>}:strikes`, `...:bans`, `...:ban`: 429s lately, bans so
  far, and the current ban (its TTL is the time left);
- `castle:rl:acct:{<id>}:o10:<window>` and `...:o1d:<day>`: orders placed.

The script checks the ban, adds the weight, and (for an order) counts it
against both order windows, all atomically. A refused order is not counted.
The policy (limits, windows, ban schedule) comes from castle.ratelimits.
"""

from __future__ import annotations

from castle import ratelimits as policy
from castle.adapters import redis_keys
from castle.ratelimits import Usage, Verdict

BAN_SCHEDULE_MS = [policy.ban_duration_ms(n) for n in range(16)]

# KEYS: weight, strikes, bans, ban, orders_10s, orders_1d (the last two only for an order)
# ARGV: weight, weight_limit, weight_ttl_ms, now_ms, strike_limit, strike_ttl_ms,
#       o10_limit, o10_ttl_ms, o1d_limit, o1d_ttl_ms, ban schedule (ms) ...
SCRIPT = """
local ban_left = redis.call('PTTL', KEYS[4])
if ban_left > 0 then
  return {4, 0, -1, -1, ban_left, tonumber(ARGV[4]) + ban_left}
end
local weight = tonumber(ARGV[1])
local used = redis.call('INCRBY', KEYS[1], weight)
if used == weight then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if used > tonumber(ARGV[2]) then
  local strikes = redis.call('INCR', KEYS[2])
  if strikes == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
  if strikes > tonumber(ARGV[5]) then
    local bans = redis.call('INCR', KEYS[3])
    local schedule = #ARGV - 10
    local ms = tonumber(ARGV[10 + math.min(bans, schedule)])
    redis.call('PEXPIRE', KEYS[3], ARGV[10 + schedule])
    redis.call('SET', KEYS[4], '1', 'PX', ms)
    redis.call('DEL', KEYS[2])
    return {4, used, -1, -1, ms, tonumber(ARGV[4]) + ms}
  end
  return {1, used, -1, -1, tonumber(ARGV[3]), 0}
end
if #KEYS < 6 then return {0, used, -1, -1, 0, 0} end
local o10 = redis.call('INCR', KEYS[5])
if o10 == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[8]) end
local o1d = redis.call('INCR', KEYS[6])
if o1d == 1 then redis.call('PEXPIRE', KEYS[6], ARGV[10]) end
if o10 > tonumber(ARGV[7]) then
  redis.call('DECR', KEYS[5]); redis.call('DECR', KEYS[6])
  return {2, used, o10 - 1, o1d - 1, tonumber(ARGV[8]), 0}
end
if o1d > tonumber(ARGV[9]) then
  redis.call('DECR', KEYS[5]); redis.call('DECR', KEYS[6])
  return {3, used, o10 - 1, o1d - 1, tonumber(ARGV[10]), 0}
end
return {0, used, o10, o1d, 0, 0}
"""


class RedisRateLimiter:
    def __init__(self, client) -> None:
        self.client = client
        self._script = client.register_script(SCRIPT)

    def charge(self, ip: str, weight: int, now_ms: int, account_id: int | None = None) -> Usage:
        """Add one request's weight for `ip` (and, with `account_id`, one order); returns the verdict and counts."""
        keys = redis_keys.ip_weight_keys(ip, now_ms // policy.WEIGHT_WINDOW_MS)
        if account_id is not None:
            keys += redis_keys.account_order_keys(account_id, now_ms // policy.ORDERS_10S_WINDOW_MS,
                                                  now_ms // policy.ORDERS_1D_WINDOW_MS)
        args = [
            weight,
            policy.WEIGHT_LIMIT,
            policy.WEIGHT_WINDOW_MS - now_ms % policy.WEIGHT_WINDOW_MS,
            now_ms,
            policy.BAN_AFTER_STRIKES,
            policy.STRIKE_MEMORY_MS,
            policy.ORDERS_10S_LIMIT,
            policy.ORDERS_10S_WINDOW_MS - now_ms % policy.ORDERS_10S_WINDOW_MS,
            policy.ORDERS_1D_LIMIT,
            policy.ORDERS_1D_WINDOW_MS - now_ms % policy.ORDERS_1D_WINDOW_MS,
            *BAN_SCHEDULE_MS,
        ]
        verdict, used, o10, o1d, retry_ms, banned_until = (int(x) for x in self._script(keys=keys, args=args))
        return Usage(
            Verdict(verdict),
            used,
            None if o10 < 0 else o10,
            None if o1d < 0 else o1d,
            retry_ms,
            banned_until,
        )
