"""`make reset`: wipe what the local cloud holds (.castle/data), once it is not running.

The Makefile asks first (or takes FORCE=1). Leftover processes of a killed
run are stopped first, as `make up` would; a running `make up` is refused.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from local.cloud import ROOT
from local.lifeline import AlreadyRunning, clear_leftovers


def main() -> int:
    state = Path(os.environ.get("CASTLE_STATE", ROOT / ".castle"))
    try:
        clear_leftovers(state / "pids.json")
    except AlreadyRunning as e:
        print(f"make reset: the local cloud is running (launcher pid {e.args[0]}): stop it first", file=sys.stderr)
        return 1
    data = state / "data"
    shutil.rmtree(data, ignore_errors=True)
    print(f"wiped {data}: the next make up starts empty", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
