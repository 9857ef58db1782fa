"""`make deploy-local`: redeploy template.yaml into the running local cloud after a code change.

Reads the running cloud's endpoint and Redis from .castle/local.env (written by
`make up`), then runs the same `sam build && sam deploy` as the launcher. The
next request is served by the new code. The data stays: the deploy updates the
stack in place, and ministack then takes a checkpoint, as `make up` does after
its own deploy. (The matching engine is a process, not a stack resource:
`make up` again restarts it.)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from local import ministack
from local.processes import LaunchError
from local.stack import deploy

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("CASTLE_STATE", ROOT / ".castle"))


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        raise LaunchError(f"{path.relative_to(ROOT)} not found: start the local cloud first with `make up`")
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def main() -> int:
    started = time.monotonic()
    try:
        env = read_env(STATE / "local.env")
        overrides = {"RedisUrl": env["REDIS_URL"], "AdminToken": env.get("CASTLE_ADMIN_TOKEN", "")}
        stack = deploy(ROOT, env["AWS_ENDPOINT_URL"], overrides, log=STATE / "deploy.log")
        ministack.checkpoint(env["AWS_ENDPOINT_URL"])  # the deploy's changes are not journaled
    except LaunchError as e:
        print(f"make deploy-local: {e}", file=sys.stderr)
        return 1
    print(f"redeployed {stack.name} in {time.monotonic() - started:.1f}s ({stack.rest_url})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
