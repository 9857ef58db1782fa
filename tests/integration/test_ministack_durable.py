"""ministack behind its journal (local/ministack_durable.py): acknowledged writes survive a kill -9."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from local import ministack
from local.processes import Supervisor
from local.stack import boto3_session

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def start(tmp_path: Path):
    supervisor = Supervisor()
    python = ministack.ensure_venv(ROOT / ".venv-ministack")
    ms = ministack.start_ministack(supervisor, python, ROOT, tmp_path / "tmp", tmp_path / "data",
                                   log=tmp_path / "ministack.log")
    return supervisor, ms, boto3_session().client("dynamodb", endpoint_url=ms.url)


def put(ddb, key: str) -> None:
    ddb.put_item(TableName="durable", Item={"PK": {"S": key}, "v": {"N": "1"}})


def kill(supervisor, ms) -> None:
    ms.proc.send_signal(signal.SIGKILL)
    ms.proc.wait()
    supervisor.stop()


def keys(ddb) -> set[str]:
    return {item["PK"]["S"] for item in ddb.scan(TableName="durable")["Items"]}


def test_writes_after_a_checkpoint_with_nothing_new_survive_a_kill_9(tmp_path):
    supervisor, ms, ddb = start(tmp_path)
    ddb.create_table(TableName="durable", KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ministack.checkpoint(ms.url)  # as after a deploy: no data write yet, the journal file keeps its name
    put(ddb, "a")
    kill(supervisor, ms)

    supervisor, ms, ddb = start(tmp_path)  # resumes, then checkpoints
    assert keys(ddb) == {"a"}
    assert ministack.durability(ms.url)["resumed"]["replayed"] == 1
    ministack.checkpoint(ms.url)  # back to back with the resume's: nothing new again
    put(ddb, "b")
    kill(supervisor, ms)

    supervisor, ms, ddb = start(tmp_path)
    try:
        assert keys(ddb) == {"a", "b"}
        assert ministack.durability(ms.url)["resumed"]["replayFailed"] == 0
    finally:
        supervisor.stop()
