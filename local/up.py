"""`make up`: the whole exchange on this machine, in the foreground. Ctrl-C stops it.

ministack (the AWS data plane, with template.yaml deployed into it by sam), a
redis-server, the matching engine (the Fargate service's entry point) and the
edge on 127.0.0.1:8000 (CASTLE_PORT changes it). One line per component;
stack outputs go to .castle/local.env for tools and tests.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from local.cloud import LocalCloud
from local.processes import LaunchError


def main() -> int:
    port = int(os.environ.get("CASTLE_PORT", "8000"))
    cloud = LocalCloud(edge_port=port)
    stopping = False

    def request_stop(*_) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    status = 0
    started = time.monotonic()
    try:
        cloud.start()
        print(f"castle is up in {time.monotonic() - started:.1f}s (env in .castle/local.env); Ctrl-C stops it.",
              flush=True)
        while not stopping:
            dead = cloud.first_exit()
            if dead is not None:
                print(f"{dead.name} exited with status {dead.proc.returncode}; stopping.", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    except LaunchError as e:
        print(f"make up: {e}", file=sys.stderr)
        status = 1
    finally:
        cloud.stop()
        print("castle stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
