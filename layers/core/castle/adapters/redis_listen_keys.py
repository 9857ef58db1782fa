"""User data stream listen keys in Redis (Binance: valid 60 minutes, extended by a keepalive).

`castle:listenkey:<key>` holds the account id; `castle:listenkey:acct:{<id>}`
the account's current key, because Binance hands an account that already has an
active key the same key again (extending it). The user data stream (WebSocket)
resolves a key to its account with `account_of`.
"""

from __future__ import annotations

import secrets
import string

from castle.adapters.redis_keys import listen_key_key as _key
from castle.adapters.redis_keys import listen_key_of_account_key as _account_key

LISTEN_KEY_TTL_S = 3600
LISTEN_KEY_LENGTH = 60
ALPHABET = string.ascii_letters + string.digits


def new_listen_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LISTEN_KEY_LENGTH))


class RedisListenKeys:
    def __init__(self, client, ttl_s: int = LISTEN_KEY_TTL_S) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def create(self, account_id: int) -> str:
        """The account's active key, extended; or a new one."""
        current = self.client.get(_account_key(account_id))
        if current is not None:
            current = current.decode() if isinstance(current, bytes) else current
            if self.keepalive(account_id, current):
                return current
        key = new_listen_key()
        pipe = self.client.pipeline(transaction=True)
        pipe.set(_key(key), account_id, ex=self.ttl_s)
        pipe.set(_account_key(account_id), key, ex=self.ttl_s)
        pipe.execute()
        return key

    def keepalive(self, account_id: int, listen_key: str) -> bool:
        """Extend the key's 60 minutes; False if it is not this account's live key."""
        if self.account_of(listen_key) != account_id:
            return False
        pipe = self.client.pipeline(transaction=True)
        pipe.expire(_key(listen_key), self.ttl_s)
        pipe.expire(_account_key(account_id), self.ttl_s)
        pipe.execute()
        return True

    def close(self, account_id: int, listen_key: str) -> bool:
        if self.account_of(listen_key) != account_id:
            return False
        self.client.delete(_key(listen_key), _account_key(account_id))
        return True

    def account_of(self, listen_key: str) -> int | None:
        value = self.client.get(_key(listen_key))
        return None if value is None else int(value)

    def accounts_of(self, listen_keys: list[str]) -> list[int | None]:
        """Each key's account (None: expired or closed), in one round trip."""
        if not listen_keys:
            return []
        return [None if v is None else int(v) for v in self.client.mget([_key(k) for k in listen_keys])]
