"""`make up`: the whole exchange on this machine, in the foreground. Ctrl-C stops it.

ministack (the AWS data plane, with template.yaml deployed into it by sam), a
redis-server, the matching engine (the Fargate service's entry point) and the
edge on 127.0.0.1:8000 (CASTLE_PORT changes it). One line per component;
stack outputs go to .castle/local.env for tools and tests. What the cloud
holds lives in .castle/data and is resumed by the next `make up`
(CASTLE_STATE moves the whole folder).

SIGINT, SIGTERM and SIGHUP stop everything within 10 s, also in the middle of
the start; a SIGKILL is the lifeline's (local/lifeline.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from local.cloud import ROOT, LocalCloud
from local.processes import LaunchError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """A stop signal arrived."""


def main() -> int:
    port = int(os.environ.get("CASTLE_PORT", "8000"))
    state = Path(os.environ.get("CASTLE_STATE", ROOT / ".castle"))
    cloud = LocalCloud(state=state, edge_port=port)

    def request_stop(signum, _frame) -> None:
        for sig in STOP_SIGNALS:  # one stop: a second signal must not interrupt it
            signal.signal(sig, signal.SIG_IGN)
        raise Stop(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, request_stop)
    status = 0
    started = time.monotonic()
    try:
        cloud.start()
        print(f"castle is up in {time.monotonic() - started:.1f}s (env in {cloud._rel(state / 'local.env')}, "
              f"data in {cloud._rel(cloud.data)}); Ctrl-C stops it.", flush=True)
        while True:
            dead = cloud.first_exit()
            if dead is not None:
                print(f"{dead.name} exited with status {dead.proc.returncode}; stopping.", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    except Stop as e:
        print(f"{e.args[0]}: stopping.", flush=True)
    except LaunchError as e:
        print(f"make up: {e}", file=sys.stderr)
        status = 1
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        cloud.stop()
        print("castle stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
