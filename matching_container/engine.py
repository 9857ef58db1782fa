"""Entry point of the matching engine: `python -m matching_container.engine`.

The same command runs in the Fargate task and in the local cloud (`make up`).
Configuration comes from the environment (see `settings.py`): REDIS_URL is
required, CASTLE_SYMBOLS picks the shard's pairs (default: all listed pairs),
SNAPSHOTS_BUCKET and SNAPSHOTS_KEY_ARN turn on snapshots (S3, under KMS).
SIGTERM (ECS stopping the task) and SIGINT finish the current batch and exit.
The process's cyclic GC is paced between batches (`collector.py`,
CASTLE_GC_EVERY_S): automatic collection is off once the books are recovered.
The engine runs compiled (Cython) when that build is present and matches the
sources, else pure Python (`engine_build.py`, CASTLE_COMPILED); the log says which.
"""

from __future__ import annotations

import logging
import sys

from matching_container.engine_build import describe, use_compiled

if __name__ == "__main__":
    # As the process's entry point, before anything imports castle: the compiled engine first on
    # the path when it was built. (A test importing this module keeps the build it has.)
    use_compiled()

from castle.adapters.redis_streams import RedisBookMirror, RedisCommandStream, RedisEventLog, connect  # noqa: E402
from castle.symbols import default_symbols  # noqa: E402
from matching_container.collector import PacedCollector  # noqa: E402
from matching_container.process import run_process  # noqa: E402
from matching_container.settings import EngineSettings  # noqa: E402
from matching_container.shard import ShardRunner  # noqa: E402
from matching_container.snapshots import SnapshotPolicy  # noqa: E402

log = logging.getLogger(__name__)


def bootstrap(settings: EngineSettings, client=None, snapshots=None, collector=None) -> ShardRunner:
    """Wire the runner to Redis (the journal in; the event log and the depth mirror out) and to S3."""
    client = client or connect(settings.redis_url)
    listed = default_symbols()
    source = RedisCommandStream(client, settings.symbols, block_ms=settings.block_ms, count=settings.batch_size)
    sink = RedisEventLog(client, RedisBookMirror(client), reply_ttl_s=settings.reply_ttl_s)
    if snapshots is None and settings.snapshots_enabled:
        snapshots = s3_snapshots(settings)
    policy = SnapshotPolicy(settings.snapshot_every_commands, settings.snapshot_every_s,
                            keep=settings.snapshot_keep)
    return ShardRunner([listed[s] for s in settings.symbols], source, sink, snapshots, policy, collector)


def s3_snapshots(settings: EngineSettings):
    import boto3

    from castle.adapters.kms_envelope import KmsEnvelope
    from castle.adapters.s3_snapshots import S3Snapshots

    envelope = KmsEnvelope(boto3.client("kms"), settings.snapshots_key_arn)
    return S3Snapshots(boto3.client("s3"), envelope, settings.snapshots_bucket)


def run(settings: EngineSettings, stop) -> None:
    log.info("matching engine build: %s", describe())
    # Only the engine process paces its GC: a runner in a test's thread leaves its process's collector alone.
    bootstrap(settings, collector=PacedCollector(settings.gc_every_s)).run(stop)


def main() -> int:
    return run_process("matching engine", run)


if __name__ == "__main__":
    sys.exit(main())
