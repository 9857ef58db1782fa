"""Rate limits against a real redis-server: weight per IP per minute, orders per account, 429 then 418."""

from __future__ import annotations

import pytest
from castle import errors, ratelimits
from castle.adapters.redis_listen_keys import RedisListenKeys
from castle.adapters.redis_ratelimit import RedisRateLimiter
from castle.ratelimits import Verdict, request_weight

pytestmark = pytest.mark.integration
MINUTE_START = 1_767_225_600_000  # on a minute, a 10 s window and a day boundary


@pytest.fixture
def limiter(redis_client) -> RedisRateLimiter:
    return RedisRateLimiter(redis_client)


def test_weight_adds_up_per_ip_and_shows_in_the_header(limiter):
    assert limiter.charge("1.1.1.1", 20, MINUTE_START).headers()["X-MBX-USED-WEIGHT-1M"] == "20"
    usage = limiter.charge("1.1.1.1", 4, MINUTE_START + 1)
    assert (usage.verdict, usage.weight_1m) == (Verdict.OK, 24)
    assert limiter.charge("2.2.2.2", 1, MINUTE_START).weight_1m == 1


def test_the_exact_limit_passes_and_one_more_weight_is_429_with_retry_after(limiter):
    assert limiter.charge("1.1.1.1", ratelimits.WEIGHT_LIMIT, MINUTE_START).verdict is Verdict.OK
    usage = limiter.charge("1.1.1.1", 1, MINUTE_START + 15_000)
    assert usage.verdict is Verdict.WEIGHT_EXCEEDED
    assert usage.error() == errors.too_much_weight(6000) and usage.error().http_status == 429
    assert usage.error().msg == (
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    assert 44 <= int(usage.headers()["Retry-After"]) <= 45


def test_the_weight_resets_with_the_next_minute(limiter):
    limiter.charge("1.1.1.1", ratelimits.WEIGHT_LIMIT, MINUTE_START)
    assert limiter.charge("1.1.1.1", 1, MINUTE_START + 60_000).weight_1m == 1


def test_an_ip_that_keeps_going_after_its_429s_is_banned_with_418(limiter):
    limiter.charge("1.1.1.1", ratelimits.WEIGHT_LIMIT, MINUTE_START)
    for i in range(ratelimits.BAN_AFTER_STRIKES):
        assert limiter.charge("1.1.1.1", 1, MINUTE_START + i).verdict is Verdict.WEIGHT_EXCEEDED
    banned = limiter.charge("1.1.1.1", 1, MINUTE_START + 100)
    assert banned.verdict is Verdict.BANNED and banned.error().http_status == 418
    assert banned.banned_until_ms == MINUTE_START + 100 + ratelimits.BAN_BASE_MS
    assert banned.error().msg.startswith(f"Way too much request weight used; IP banned until {banned.banned_until_ms}.")
    assert int(banned.headers()["Retry-After"]) == 120
    # Still banned in the next minute, even for a light request; other IPs are unaffected.
    assert limiter.charge("1.1.1.1", 1, MINUTE_START + 61_000).verdict is Verdict.BANNED
    assert limiter.charge("3.3.3.3", 1, MINUTE_START).verdict is Verdict.OK


def test_orders_count_per_account_and_the_101st_in_10s_is_1015(limiter):
    for n in range(1, ratelimits.ORDERS_10S_LIMIT + 1):
        usage = limiter.charge(f"10.0.0.{n % 5}", 1, MINUTE_START + n, account_id=42)
        assert (usage.verdict, usage.orders_10s, usage.orders_1d) == (Verdict.OK, n, n)
    refused = limiter.charge("10.0.0.9", 1, MINUTE_START + 200, account_id=42)
    assert refused.verdict is Verdict.ORDERS_10S_EXCEEDED
    assert refused.error().msg == "Too many new orders; current limit is 100 orders per 10 SECOND."
    assert refused.headers()["X-MBX-ORDER-COUNT-10S"] == "100"  # the refused order is not counted
    assert limiter.charge("10.0.0.9", 1, MINUTE_START + 10_000, account_id=42).orders_10s == 1
    assert limiter.charge("10.0.0.9", 1, MINUTE_START + 10_001, account_id=43).orders_10s == 1


def test_the_daily_order_limit(limiter, redis_client, monkeypatch):
    monkeypatch.setattr(ratelimits, "ORDERS_1D_LIMIT", 3)
    for i in range(3):
        assert limiter.charge("1.1.1.1", 1, MINUTE_START + i * 10_000, account_id=5).verdict is Verdict.OK
    refused = limiter.charge("1.1.1.1", 1, MINUTE_START + 40_000, account_id=5)
    assert refused.verdict is Verdict.ORDERS_1D_EXCEEDED
    assert refused.error().code == -1015


def test_request_weights_follow_binances_table():
    assert request_weight("GET", "/api/v3/account", {}) == 20
    assert request_weight("GET", "/api/v3/depth", {"limit": "5000"}) == 250
    assert request_weight("GET", "/api/v3/openOrders", {}) == 80
    assert request_weight("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}) == 6
    assert request_weight("GET", "/api/v3/ticker/price", {}) == 4
    assert request_weight("POST", "/api/v3/order", {}) == 1
    assert request_weight("GET", "/api/v3/unknown", {}) == 1


# ---------------------------------------------------------------- listen keys
def test_a_listen_key_is_60_chars_lives_60_minutes_and_is_reused_while_alive(redis_client):
    keys = RedisListenKeys(redis_client)
    key = keys.create(7)
    assert len(key) == 60 and key.isalnum()
    assert 3590 < redis_client.ttl(f"castle:listenkey:{key}") <= 3600
    assert keys.create(7) == key and keys.account_of(key) == 7
    assert keys.create(8) != key


def test_keepalive_and_close_only_for_the_owner(redis_client):
    keys = RedisListenKeys(redis_client)
    key = keys.create(7)
    redis_client.expire(f"castle:listenkey:{key}", 10)
    assert keys.keepalive(7, key) and redis_client.ttl(f"castle:listenkey:{key}") > 3590
    assert not keys.keepalive(8, key) and not keys.close(8, key)
    assert keys.close(7, key) and keys.account_of(key) is None
    assert not keys.keepalive(7, key)
