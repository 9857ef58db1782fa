"""Deploy the real template.yaml into the local cloud with `sam build && sam deploy`.

There is no second list of resources here: SAM reads template.yaml and the
`local` environment of samconfig.toml, exactly as `sam deploy --guided` does
for AWS. The only difference is where boto3 points (`AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError

from local.processes import LaunchError

ARTIFACT_BUCKET = "castle-local-artifacts"
CONFIG_ENV = "local"


@dataclass(frozen=True)
class Stack:
    name: str
    endpoint: str
    outputs: dict[str, str]

    @property
    def rest_url(self) -> str:
        """The REST API's base URL in ministack's path form (its host form needs DNS we lack)."""
        return f"{self.endpoint}/_aws/execute-api/{self.outputs['RestApiId']}/{self.outputs['RestStage']}"


def aws_env(endpoint: str) -> dict[str, str]:
    """What every AWS client of the local cloud needs: dummy credentials and the endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
    }


def boto3_session():
    """A session with the local cloud's dummy credentials (the endpoint goes to each client)."""
    import boto3

    return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")


def samconfig_overrides(root: Path) -> list[str]:
    config = tomllib.loads((root / "samconfig.toml").read_text())
    raw = config.get(CONFIG_ENV, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return shlex.split(raw) if isinstance(raw, str) else list(raw)


def deploy(root: Path, endpoint: str, overrides: dict[str, str], log: Path) -> Stack:
    """sam build + sam deploy into the emulator; returns the stack's outputs."""
    env = {**os.environ, **aws_env(endpoint), "SAM_CLI_POLL_DELAY": "0.1"}
    env.pop("AWS_PROFILE", None)
    # sam build looks for python3.12 on PATH: the project's .venv is one.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    session = boto3_session()
    s3 = session.client("s3", endpoint_url=endpoint)
    try:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except BotoCoreError as e:
        raise LaunchError(f"cannot reach the AWS emulator at {endpoint}: {e}") from None
    # SAM re-parses each override with shell-like quoting: quote values, which may hold spaces.
    pairs = [item.split("=", 1) for item in samconfig_overrides(root)] + list(overrides.items())
    params = [f'{k}="{v}"' for k, v in pairs]
    # A private build folder per state folder: `make up`, the e2e fixture and `make test`'s
    # own `sam build` never overwrite each other's .aws-sam.
    build_dir, cache_dir = log.parent / "build", root / ".castle" / "build-cache"  # the cache is shared
    with open(log, "w") as out:
        for argv, what in (
            (
                ["sam", "build", "--config-env", CONFIG_ENV, "--config-file", str(root / "samconfig.toml"), "--build-dir", str(build_dir), "--cache-dir",
                 str(cache_dir)],
                "sam build",
            ),
            (
                ["sam", "deploy", "--config-env", CONFIG_ENV, "--config-file", str(root / "samconfig.toml"), "--template-file", str(build_dir / "template.yaml"),
                 "--parameter-overrides", *params],
                "sam deploy",
            ),
        ):
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            with build_lock(root) if what == "sam build" else contextlib.nullcontext():
                result = subprocess.run(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                raise LaunchError(f"{what} failed: {_last_error(log)} (full output in {log})")
    stack_name = tomllib.loads((root / "samconfig.toml").read_text())[CONFIG_ENV]["global"]["parameters"]["stack_name"]
    described = session.client("cloudformation", endpoint_url=endpoint).describe_stacks(StackName=stack_name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    return Stack(stack_name, endpoint, outputs)


@contextlib.contextmanager
def build_lock(root: Path):
    """One `sam build` at a time per checkout: incremental builds share `.aws-sam/deps` and
    delete each other's folders there (two local clouds, or `make up` beside `make test`)."""
    path = root / ".castle" / "sam-build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "failed" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"
