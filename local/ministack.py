"""The emulated AWS data plane: ministack, from its own Python 3.12 venv.

Handlers run on ministack's interpreter, so its venv must match the
`python3.12` runtime and stay apart from the project's: a handler that imports
something its layer does not ship fails here as it would on AWS (boto3 is the
exception, as on AWS). The venv is created on first use and reinstalled only
when `requirements-ministack.txt` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from local.processes import Component, LaunchError, Supervisor, remembered_port
from local.python312 import find_python312

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-ministack.txt"


def ensure_venv(venv: Path) -> Path:
    """The venv's python, created or updated from the pinned requirements."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        base = find_python312()
        if base is None:
            raise LaunchError(
                "Python 3.12 not found (the Lambda runtime's version): put python3.12 on PATH or `pyenv install 3.12`"
            )
        _run([base, "-m", "venv", str(venv)], "creating ministack's venv")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        "installing ministack",
    )
    stamp.write_text(wanted)
    return python


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise LaunchError(f"{what} failed: {last[0]}")


def start_ministack(supervisor: Supervisor, python: Path, cwd: Path, tmp: Path, data: Path, log: Path) -> Component:
    """ministack with its write-ahead journal (local/ministack_durable.py): its state lives in `data`."""
    data.mkdir(parents=True, exist_ok=True)
    port = remembered_port(data / "port")
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "CASTLE_MINISTACK_DATA": str(data),
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "IOT_MTLS_ENABLED": "0",
        "SFTP_ENABLED": "0",
        "TMPDIR": str(tmp),  # its Lambda worker folders go here, and go away with it
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    url = f"http://127.0.0.1:{port}"
    argv = [str(python), "-m", "local.ministack_durable"]
    component = supervisor.start("ministack", argv, url, cwd=cwd, env=env, log=log)
    wait_until_ready(url, component, timeout_s=300)  # a resume replays the journal before the port opens
    return component




def durability(url: str) -> dict:
    """What the journal resumed at start, and where it stands."""
    import json

    with urllib.request.urlopen(f"{url}/_castle/durability", timeout=5) as response:
        return json.loads(response.read())


def checkpoint(url: str) -> dict:
    """A snapshot of every service now (after a deploy: its control-plane changes are not journaled)."""
    import json

    request = urllib.request.Request(f"{url}/_castle/checkpoint", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def wait_until_ready(url: str, component: Component, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if component.proc.poll() is not None:
            raise LaunchError(f"ministack exited at start with status {component.proc.returncode} (see {component.log})")
        try:
            with urllib.request.urlopen(f"{url}/_ministack/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise LaunchError(f"ministack was not ready after {timeout_s:.0f}s (see {component.log})")


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_ministack/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def set_journaling(url: str, on: bool) -> dict:
    """Journal data writes or not (off only to measure what the journal costs: the state is then not durable)."""
    import json

    request = urllib.request.Request(f"{url}/_castle/journal", method="POST", data=b"on" if on else b"off")
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())
