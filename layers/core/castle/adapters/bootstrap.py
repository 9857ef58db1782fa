"""The composition root: one settings object read from the environment once, and every adapter built here.

template.yaml gives each function and container the names below (a
deployable that is not given one sees ""). Handlers ask `adapters()` for
what they need; the matching task's processes build `Adapters` from the
`Settings` inside their `EngineSettings`. Nothing else reads these variables
or constructs a DynamoDB or Redis adapter.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property

from castle.symbols import default_symbols
from castle.trading import Trading

REPLY_TIMEOUT_S = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Settings:
    balances_table: str = ""
    orders_table: str = ""
    trades_table: str = ""
    accounts_table: str = ""
    accounts_key_arn: str = ""
    withdrawals_table: str = ""
    futures_table: str = ""
    redis_url: str = ""
    admin_token: str = ""  # empty: the admin API answers -1002 to everything
    trusted_proxy_hops: int = 0
    faults: bool = False  # the local cloud's fault hooks (CASTLE_FAULTS=on); off in AWS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            balances_table=env.get("BALANCES_TABLE", ""),
            orders_table=env.get("ORDERS_TABLE", ""),
            trades_table=env.get("TRADES_TABLE", ""),
            accounts_table=env.get("ACCOUNTS_TABLE", ""),
            accounts_key_arn=env.get("ACCOUNTS_KEY_ARN", ""),
            withdrawals_table=env.get("WITHDRAWALS_TABLE", ""),
            futures_table=env.get("FUTURES_TABLE", ""),
            redis_url=env.get("REDIS_URL", ""),
            admin_token=env.get("CASTLE_ADMIN_TOKEN", ""),
            trusted_proxy_hops=int(env.get("CASTLE_TRUSTED_PROXY_HOPS", "0") or 0),
            faults=env.get("CASTLE_FAULTS", "off") == "on",
        )


class Adapters:
    """Each adapter built on first use and kept for the life of the process (a warm Lambda, a container)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def dynamodb(self):
        import boto3

        return boto3.client("dynamodb")

    @cached_property
    def ledger(self):
        from castle.adapters.dynamo_ledger import DynamoLedger

        return DynamoLedger(self.dynamodb, self.settings.balances_table)

    @cached_property
    def ledger_totals(self):
        from castle.adapters.dynamo_ledger import DynamoLedgerTotals

        return DynamoLedgerTotals(self.dynamodb, self.settings.balances_table)

    @cached_property
    def orders(self):
        from castle.adapters.dynamo_orders import DynamoOrders

        return DynamoOrders(self.dynamodb, self.settings.orders_table, self.settings.trades_table, self.ledger)

    @cached_property
    def futures_records(self):
        from castle.adapters.dynamo_futures import DynamoFuturesRecords

        return DynamoFuturesRecords(self.dynamodb, self.settings.futures_table, self.ledger)

    @cached_property
    def futures_journal(self):
        import redis

        from castle.adapters.redis_futures import RedisFuturesJournal

        client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True,
                                      socket_timeout=REPLY_TIMEOUT_S + 5)  # replies are awaited with BLPOP
        return RedisFuturesJournal(client)

    @cached_property
    def mark_prices(self):
        from castle.adapters.redis_futures import RedisMarkPrices
        from castle.futures.contracts import default_contracts

        return RedisMarkPrices(self.redis, default_contracts())

    @cached_property
    def accounts(self):
        """Profiles and API keys; the secrets sealed with the accounts KMS key."""
        import boto3

        from castle.adapters.dynamo_accounts import DynamoAccounts
        from castle.adapters.kms_envelope import KmsEnvelope

        envelope = KmsEnvelope(boto3.client("kms"), self.settings.accounts_key_arn)
        return DynamoAccounts(self.settings.accounts_table, envelope)

    @cached_property
    def api_keys(self):
        """API keys, each unsealed once per 30 s per warm worker (castle.adapters.dynamo_accounts.CachedApiKeys)."""
        from castle.adapters.dynamo_accounts import CachedApiKeys

        return CachedApiKeys(self.accounts, now_ms)

    @cached_property
    def ed25519(self):
        from castle.adapters.ed25519 import CryptographyEd25519

        return CryptographyEd25519()

    @cached_property
    def rate_limiter(self):
        from castle.adapters.redis_ratelimit import RedisRateLimiter

        return RedisRateLimiter(self.request_redis)

    @cached_property
    def profiles(self):
        """Account profiles only (no key can be unsealed): what settlement needs for fees."""
        from castle.adapters.dynamo_accounts import DynamoAccounts

        return DynamoAccounts(self.settings.accounts_table, envelope=None) if self.settings.accounts_table else None

    @cached_property
    def withdrawal_ports(self):
        from castle.adapters.dynamo_accounts import DynamoAccountDirectory
        from castle.adapters.dynamo_withdrawals import DynamoWithdrawals
        from castle.adapters.withdrawal_settings import WithdrawalPorts, WithdrawalSettings

        return WithdrawalPorts(WithdrawalSettings.of(self.settings), DynamoAccountDirectory(self.settings.accounts_table),
                               DynamoWithdrawals(self.settings.withdrawals_table))

    @cached_property
    def redis(self):
        from castle.adapters.redis_streams import connect

        return connect(self.settings.redis_url)

    @cached_property
    def request_redis(self):
        """Redis for a request's own path (rate limits, listenKeys): it fails in a second rather than hang."""
        import redis

        return redis.Redis.from_url(self.settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)

    @cached_property
    def market_data(self):
        from castle.adapters.redis_marketdata import RedisMarketDataReader

        return RedisMarketDataReader(self.redis)

    @cached_property
    def listen_keys(self):
        from castle.adapters.redis_listen_keys import RedisListenKeys

        return RedisListenKeys(self.request_redis)

    def trading(self, reply_timeout_s: float = REPLY_TIMEOUT_S) -> Trading:
        import redis

        from castle.adapters.redis_streams import RedisEngine

        # Replies are awaited with BLPOP: the socket timeout must outlast the wait.
        client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True,
                                      socket_timeout=reply_timeout_s + 5)
        return Trading(default_symbols(), self.orders, RedisEngine(client), now_ms, reply_timeout_s=reply_timeout_s)


@cache
def adapters() -> Adapters:
    """This process's adapters, from its environment as it was at first use."""
    return Adapters(Settings.from_env())


def trading_service(reply_timeout_s: float = REPLY_TIMEOUT_S) -> Trading:
    return adapters().trading(reply_timeout_s)
