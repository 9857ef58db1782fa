"""Every Redis key is spelled in castle.adapters.redis_keys, and the spellings stay what stored data uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from castle.adapters import redis_keys as keys

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers/core/castle", ROOT / "matching_container", ROOT / "functions", ROOT / "castle_cli"]
KEY = re.compile(r"^castle:(\{|ws:|rl:|listenkey:|gateway:|bench:)")


def spelled_keys(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    lines = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = node.values[0].value
        if text is not None and KEY.match(text):
            lines.append(node.lineno)
    return lines


def test_no_module_but_redis_keys_spells_a_redis_key():
    offenders = {str(path.relative_to(ROOT)): lines for base in SOURCES for path in base.rglob("*.py")
                 if path.name != "redis_keys.py" and (lines := spelled_keys(path))}
    assert offenders == {}


def test_the_spellings_are_those_of_the_stored_data():
    assert keys.events_key("BTCUSDT") == "castle:{BTCUSDT}:events"
    assert keys.command_key("BTCUSDT") == "castle:{BTCUSDT}:cmd"
    assert keys.depth_keys("BTCUSDT") == ("castle:{BTCUSDT}:depth:bids", "castle:{BTCUSDT}:depth:asks",
                                          "castle:{BTCUSDT}:depth:lastUpdateId")
    assert keys.user_data_key(keys.WALLET_SHARD) == "castle:{wallet}:userdata"
    assert keys.report_stash_key("BTCUSDT", "5-0") == "castle:{BTCUSDT}:userdata:stash:5-0"
    assert keys.attempts_key("BTCUSDT", "settlement") == "castle:{BTCUSDT}:settlement:attempts"
    assert keys.dead_letter_key("BTCUSDT", "settlement") == "castle:{BTCUSDT}:settlement:dead"
    assert keys.kline_key("BTCUSDT", "1m") == "castle:{BTCUSDT}:md:kline:1m"
    assert keys.publisher_state_key("BTCUSDT") == "castle:{BTCUSDT}:publisher:state"
    assert keys.market_channel("btcusdt@trade") == "castle:ws:btcusdt@trade"
    assert keys.user_channel(7) == "castle:ws:user:7"


def test_a_shards_keys_share_its_hash_tag():
    shard_keys = [keys.events_key("ETHBTC"), keys.user_data_key("ETHBTC"), keys.report_stash_key("ETHBTC", "1-0"),
                  keys.attempts_key("ETHBTC", "g"), keys.md_key("ETHBTC", "state"), *keys.depth_keys("ETHBTC")]
    assert {keys.shard_of(k) for k in shard_keys} == {"ETHBTC"}
