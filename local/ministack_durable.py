"""ministack with a write-ahead journal: its data survives a kill -9, not only a clean stop.

ministack's own persistence (`PERSIST_STATE=1`, `STATE_DIR`) saves every
service's state as JSON only at a clean shutdown (its ASGI lifespan's
`shutdown`), and only if that shutdown runs: a kill -9, an OOM kill or a
SIGTERM that ends the process with `sys.exit` loses everything since the
start. This entry point runs the same ministack (`python -m
local.ministack_durable` on ministack's interpreter; it imports nothing of
Castle's) and wraps its ASGI app:

- **S3 objects** are written through by ministack itself (`S3_PERSIST=1`, under
  `s3/`): each object is written to its file (atomically) before the response,
  and loaded back when the S3 service loads. (ministack's `s3.json` in a
  snapshot holds only the buckets' metadata, never the objects.)
- **Journal.** Every DynamoDB write that succeeds (PutItem, UpdateItem,
  DeleteItem, BatchWriteItem, TransactWriteItems and PartiQL) is appended as
  one JSON line to `journal-<seq>.log` with `write(2)` *before* its response
  is sent. A response a client got is therefore in the
  file, and a killed process's writes stay in the OS page cache, so a process
  kill loses nothing acknowledged; a power loss can lose what the kernel had
  not written back yet (no fsync per request; `CASTLE_JOURNAL_FSYNC=1` adds one).
- **Checkpoints.** `save_all` (ministack's own serialiser) into a new
  `snapshot-<seq>/` folder, then `CURRENT` is switched to it atomically and the
  journal restarts. It runs with data writes paused (the ones in flight finish
  first), so a snapshot holds exactly the journal's entries up to its seq. It
  runs after a start's replay, on `POST /_castle/checkpoint` (the launcher calls
  it after every deploy: the deploy's resources, KMS keys among them, are not
  journaled) and every `CASTLE_CHECKPOINT_EVERY` journal entries.
- **Resume.** At start: load `CURRENT`'s snapshot through ministack's own
  `load_persisted_state`, then replay through the app every journal entry after
  the snapshot's seq, in order, before the port opens. Replaying a request
  gives the same result as the first time: DynamoDB writes are deterministic
  given the state they meet, and only successful ones are in the journal.

Not journaled (saved at the next checkpoint): control-plane changes
(CloudFormation, Lambda, API Gateway, KMS, which only a deploy makes),
CloudWatch Logs, Step Functions executions, and event-source positions (the
stream consumer is idempotent: `ledger_totals` counts an entry once).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("CASTLE_MINISTACK_DATA", ".castle/data/ministack")).resolve()
DATA.mkdir(parents=True, exist_ok=True)
# Before ministack is imported: its modules read these once (Lambda code blobs go to STATE_DIR/lambda-blobs).
os.environ["PERSIST_STATE"] = "1"
os.environ["STATE_DIR"] = str(DATA)
os.environ["S3_PERSIST"] = "1"
os.environ["S3_DATA_DIR"] = str(DATA / "s3")

from ministack import app as ministack_app  # noqa: E402
from ministack.core import persistence  # noqa: E402
from ministack.services import lambda_svc  # noqa: E402, F401 (now: its code blobs' folder is fixed at import)

# ministack's own load at startup and save at shutdown are off: the journal below does both, crash-safely.
ministack_app.PERSIST_STATE = False
inner_app = ministack_app.app
logger = logging.getLogger("castle.durable")

DYNAMODB_WRITES = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
})
CHECKPOINT_EVERY = int(os.environ.get("CASTLE_CHECKPOINT_EVERY", "50000"))
FSYNC = os.environ.get("CASTLE_JOURNAL_FSYNC") == "1"


def is_data_write(scope: dict, headers: dict[str, str]) -> bool:
    """A request whose success changes DynamoDB items (S3 objects are written through by ministack)."""
    target = headers.get("x-amz-target", "")
    return target.startswith("DynamoDB_") and target.rsplit(".", 1)[-1] in DYNAMODB_WRITES


class Journal:
    """Append-only JSON lines, one per acknowledged data write, numbered from the last snapshot on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.snapshot_seq = self._current_seq()
        self.last_seq = self.snapshot_seq
        self.since_checkpoint = 0
        self._fd: int | None = None

    def _current_seq(self) -> int:
        current = self.folder / "CURRENT"
        if not current.exists():
            return 0
        return int((self.folder / current.read_text().strip() / "seq").read_text())

    def snapshot_dir(self) -> Path | None:
        current = self.folder / "CURRENT"
        return self.folder / current.read_text().strip() if current.exists() else None

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("journal-*.log"))

    def pending(self):
        """The entries after the snapshot, in order. A torn last line (killed mid-write) was never acknowledged."""
        for path in self.files():
            with open(path, "rb") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        logger.warning("journal %s: torn line skipped (never acknowledged)", path.name)
                        break
                    if entry["seq"] > self.snapshot_seq:
                        yield entry

    def open(self) -> Path:
        path = self.folder / f"journal-{self.last_seq + 1:012d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return path

    def append(self, request: dict) -> int:
        self.last_seq += 1
        self.since_checkpoint += 1
        line = json.dumps({"seq": self.last_seq, **request}, separators=(",", ":")).encode() + b"\n"
        os.write(self._fd, line)  # one write: in the page cache before the response leaves
        if FSYNC:
            os.fsync(self._fd)
        return self.last_seq

    def checkpointed(self, seq: int, snapshot: str) -> None:
        """Switch CURRENT to the new snapshot; start a new journal file; drop what the snapshot holds."""
        tmp = self.folder / "CURRENT.tmp"
        tmp.write_text(snapshot + "\n")
        os.replace(tmp, self.folder / "CURRENT")
        if self._fd is not None:
            os.close(self._fd)
        self.snapshot_seq, self.since_checkpoint = seq, 0
        current = self.open()
        # Not the file just opened: with no write since the last checkpoint it has the same name, and
        # unlinking it would send every later write to a file that no longer exists.
        for path in self.files():
            if path != current:
                path.unlink(missing_ok=True)
        for folder in self.folder.glob("snapshot-*"):
            if folder.name != snapshot:
                shutil.rmtree(folder, ignore_errors=True)


class DurableApp:
    """ministack's ASGI app, with DynamoDB writes journaled and state resumed at start."""

    def __init__(self, app, journal: Journal) -> None:
        self.app = app
        self.journal = journal
        self.inflight = 0
        self.open_gate = asyncio.Event()
        self.idle = asyncio.Event()
        self.checkpoint_lock = asyncio.Lock()
        self.checkpoint_task: asyncio.Task | None = None
        self.resumed: dict = {}
        self.journaling = True  # off only for `make bench`'s persistence-off comparison (POST /_castle/journal)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/_castle/"):
            await self._admin(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.journaling or not is_data_write(scope, headers):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        await self.open_gate.wait()
        self.inflight += 1
        self.idle.clear()
        try:
            await self.app(scope, _replay_receive(body), self._journaling_send(send, scope, body))
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self.idle.set()

    def _journaling_send(self, send, scope: dict, body: bytes):
        async def journaling_send(message: dict) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.journal.append(_request_record(scope, body))
                if self.journal.since_checkpoint >= CHECKPOINT_EVERY and self.checkpoint_task is None:
                    self.checkpoint_task = asyncio.ensure_future(self._background_checkpoint())
            await send(message)

        return journaling_send

    async def _background_checkpoint(self) -> None:
        try:
            await self.checkpoint()
        finally:
            self.checkpoint_task = None

    def _lifespan_send(self, send):
        async def lifespan_send(message: dict) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self.resume()  # before the port opens: no request sees a half-resumed state
            await send(message)

        return lifespan_send

    async def resume(self) -> None:
        started = time.monotonic()
        snapshot = self.journal.snapshot_dir()
        if snapshot is not None:
            persistence.STATE_DIR = str(snapshot)
            ministack_app._load_persisted_state()
        replayed = failed = 0
        self.open_gate.set()
        self.idle.set()
        for entry in self.journal.pending():
            status = await self._replay(entry)
            replayed += 1
            failed += not 200 <= status < 300
            self.journal.last_seq = entry["seq"]
        self.journal.open()
        self.resumed = {
            "snapshot": snapshot.name if snapshot else None, "snapshotSeq": self.journal.snapshot_seq,
            "replayed": replayed, "replayFailed": failed, "seconds": 0.0,
        }
        if snapshot is not None or replayed:
            await self.checkpoint()
        self.resumed["seconds"] = round(time.monotonic() - started, 3)
        logger.warning("castle: resumed %s", json.dumps(self.resumed))

    async def _replay(self, entry: dict) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
            "method": entry["method"], "path": entry["path"], "raw_path": entry["path"].encode("latin-1"),
            "query_string": entry["query"].encode("latin-1"), "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]],
            "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
        }
        status = 0

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, _replay_receive(base64.b64decode(entry["body"])), send)
        return status

    async def checkpoint(self) -> dict:
        """Data writes paused, those in flight finished: a snapshot that holds exactly the journal up to its seq."""
        async with self.checkpoint_lock:
            started = time.monotonic()
            self.open_gate.clear()
            try:
                await self.idle.wait()
                seq = self.journal.last_seq
                name = f"snapshot-{seq:012d}"
                tmp = DATA / "snapshot.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                persistence.STATE_DIR = str(tmp)
                persistence.save_all(ministack_app._build_persistence_save_dict())
                (tmp / "seq").write_text(str(seq))
                shutil.rmtree(DATA / name, ignore_errors=True)
                os.rename(tmp, DATA / name)
                persistence.STATE_DIR = str(DATA / name)
                self.journal.checkpointed(seq, name)
            finally:
                self.open_gate.set()
            return {"seq": seq, "snapshot": name, "seconds": round(time.monotonic() - started, 3)}

    async def _admin(self, scope, receive, send) -> None:
        if scope["path"] == "/_castle/checkpoint" and scope["method"] == "POST":
            status, body = 200, await self.checkpoint()
        elif scope["path"] == "/_castle/journal" and scope["method"] == "POST":
            # Off: writes are no longer journaled (the benchmark's persistence-off phase). On again: a
            # checkpoint first takes in what was written meanwhile, so the state is durable again.
            self.journaling = (await _read_body(receive)).strip() != b"off"
            status, body = 200, {"journaling": self.journaling, **(await self.checkpoint() if self.journaling else {})}
        elif scope["path"] == "/_castle/durability":
            status, body = 200, {"resumed": self.resumed, "snapshotSeq": self.journal.snapshot_seq,
                                 "journalSeq": self.journal.last_seq}
        else:
            status, body = 404, {"message": "not found"}
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _request_record(scope: dict, body: bytes) -> dict:
    return {
        "method": scope["method"], "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope.get("headers", [])],
        "body": base64.b64encode(body).decode("ascii"),
    }


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay_receive(body: bytes):
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a connection that stays open until the response is sent
        return {"type": "http.disconnect"}

    return receive


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    ministack_app.app = DurableApp(inner_app, Journal(DATA))  # main() serves the module's `app`
    sys.argv = [sys.argv[0]]
    ministack_app.main()


if __name__ == "__main__":
    main()
