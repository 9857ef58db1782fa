"""The engine's settings come from the environment once, and bad values fail fast."""

from __future__ import annotations

import pytest

from castle.symbols import default_symbols
from matching_container.settings import EngineSettings, SettingsError


def test_redis_url_is_required():
    with pytest.raises(SettingsError, match="REDIS_URL"):
        EngineSettings.from_env({})


def test_a_shard_owns_every_listed_symbol_by_default():
    settings = EngineSettings.from_env({"REDIS_URL": "redis://h:1/0"})
    assert settings.symbols == tuple(default_symbols())
    assert settings.block_ms == 1000


def test_symbols_and_tuning_come_from_the_environment():
    settings = EngineSettings.from_env(
        {"REDIS_URL": "redis://h:1/0", "CASTLE_SYMBOLS": "btcusdt, ETHBTC", "CASTLE_BLOCK_MS": "50"}
    )
    assert (settings.symbols, settings.block_ms) == (("BTCUSDT", "ETHBTC"), 50)


@pytest.mark.parametrize(
    "env", [{"CASTLE_SYMBOLS": "DOGEUSDT"}, {"CASTLE_BLOCK_MS": "soon"}, {"CASTLE_BATCH_SIZE": "0"}]
)
def test_bad_values_are_refused(env):
    with pytest.raises(SettingsError):
        EngineSettings.from_env({"REDIS_URL": "redis://h:1/0", **env})


def test_snapshots_are_on_only_with_a_bucket_and_a_key():
    off = EngineSettings.from_env({"REDIS_URL": "redis://h:1/0", "SNAPSHOTS_BUCKET": "b"})
    on = EngineSettings.from_env({"REDIS_URL": "redis://h:1/0", "SNAPSHOTS_BUCKET": "b", "SNAPSHOTS_KEY_ARN": "k",
                                  "CASTLE_SNAPSHOT_EVERY_COMMANDS": "500", "CASTLE_SNAPSHOT_EVERY_S": "5"})
    assert (off.snapshots_enabled, on.snapshots_enabled) == (False, True)
    assert (on.snapshot_every_commands, on.snapshot_every_s, off.snapshot_every_commands) == (500, 5, 10_000)
