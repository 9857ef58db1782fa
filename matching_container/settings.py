"""The engine's configuration: read from the environment once, at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from castle.adapters.bootstrap import Settings
from castle.symbols import default_symbols


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class EngineSettings:
    redis_url: str
    symbols: tuple[str, ...]  # the pairs this shard owns
    block_ms: int = 1000  # longest XREAD wait; also bounds how long a shutdown takes
    batch_size: int = 1000  # entries per stream per read
    reply_ttl_s: int = 60
    log_level: str = "INFO"
    # Snapshots (S3 + KMS): off unless both are given.
    snapshots_bucket: str = ""
    snapshots_key_arn: str = ""
    snapshot_every_commands: int = 10_000
    snapshot_every_s: int = 60
    snapshot_keep: int = 2
    gc_every_s: int = 60  # the matching process's paced cyclic-GC pass, between batches (collector.py)
    md_consumer: str = "projector"  # the market-data projector's name in its consumer group
    stack: Settings = field(default_factory=Settings)  # the tables and keys the task is given, for its adapters

    @property
    def snapshots_enabled(self) -> bool:
        return bool(self.snapshots_bucket and self.snapshots_key_arn)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        redis_url = env.get("REDIS_URL", "").strip()
        if not redis_url:
            raise SettingsError("REDIS_URL is required (e.g. redis://127.0.0.1:6379/0)")
        known = default_symbols()
        raw = env.get("CASTLE_SYMBOLS", "").strip()
        symbols = tuple(s.strip().upper() for s in raw.split(",") if s.strip()) if raw else tuple(known)
        unknown = [s for s in symbols if s not in known]
        if unknown:
            raise SettingsError(f"CASTLE_SYMBOLS lists unknown symbols: {', '.join(unknown)}")
        return cls(
            redis_url=redis_url,
            symbols=symbols,
            block_ms=_int(env, "CASTLE_BLOCK_MS", 1000),
            batch_size=_int(env, "CASTLE_BATCH_SIZE", 1000),
            reply_ttl_s=_int(env, "CASTLE_REPLY_TTL_S", 60),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            snapshots_bucket=env.get("SNAPSHOTS_BUCKET", "").strip(),
            snapshots_key_arn=env.get("SNAPSHOTS_KEY_ARN", "").strip(),
            snapshot_every_commands=_int(env, "CASTLE_SNAPSHOT_EVERY_COMMANDS", 10_000),
            snapshot_every_s=_int(env, "CASTLE_SNAPSHOT_EVERY_S", 60),
            snapshot_keep=_int(env, "CASTLE_SNAPSHOT_KEEP", 2),
            gc_every_s=_int(env, "CASTLE_GC_EVERY_S", 60),
            md_consumer=env.get("CASTLE_MD_CONSUMER", "projector"),
            stack=Settings.from_env(env),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value
