"""The local cloud: ministack + redis-server + the deployed stack + the engine (+ the edge).

One process tree. `LocalCloud.start()` brings it up in dependency order and
returns what clients need; `stop()` takes it down in reverse, leaving no
processes or temp folders. `make up` and the end-to-end test fixture use this
same class.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from local import ministack
from local.lifeline import AlreadyRunning, Lifeline, clear_leftovers
from local.processes import LaunchError, RestartPolicy, Supervisor, free_port, port_is_free, wait_for_port
from local.redis_server import start_redis
from local.stack import Stack, aws_env, boto3_session, deploy
from local.task_definitions import GATEWAY_TASK, MATCHING_TASK, Container, containers

ROOT = Path(__file__).resolve().parents[1]
# The matching task's processes come back after a crash, as ECS restarts an essential container
# (CASTLE_RESTART_MAX crashes a minute, then the launcher gives up and stops).
# What each container does, for its line at start (which containers there are is the template's to say).
WHAT = {
    "matching": "commands on castle:{SYMBOL}:cmd",
    "settlement": "events -> orders, trades, ledger (DynamoDB)",
    "marketdata": "events -> trades, aggTrades, klines for /api/v3 (castle:{SYMBOL}:md:*)",
    "publisher": "events + depth -> Binance's stream messages, on the frame bus (Redis pub/sub)",
}
RESTART_POLICY = RestartPolicy(max_crashes=int(os.environ.get("CASTLE_RESTART_MAX", "10")), window_s=60.0)


@dataclass
class CloudInfo:
    endpoint: str
    redis_url: str
    stack: Stack
    edge_url: str | None = None
    gateway_url: str | None = None  # the stream gateway (Binance's /ws and /stream), behind the edge
    timings: dict[str, float] = field(default_factory=dict)
    admin_token: str = ""  # the stack's AdminToken: the `castle` CLI's credential

    def env(self) -> dict[str, str]:
        """The environment a tool or test needs to talk to this cloud."""
        env = {**aws_env(self.endpoint), "REDIS_URL": self.redis_url, "CASTLE_REST_URL": self.stack.rest_url}
        if self.gateway_url:
            env["CASTLE_WS_URL"] = self.gateway_url
        if self.edge_url:
            env["CASTLE_URL"] = self.edge_url
        if self.admin_token:
            env["CASTLE_ADMIN_TOKEN"] = self.admin_token
        env.update(self.stack.outputs)
        return env


class LocalCloud:
    def __init__(self, root: Path = ROOT, state: Path | None = None, edge_port: int | None = None) -> None:
        self.root = root
        self.state = state or root / ".castle"
        self.edge_port = edge_port
        self.data = self.state / "data"  # everything the cloud holds; `make reset` wipes it
        self.supervisor = Supervisor(notify=lambda name, detail: self.announce(name, detail))
        self.lifeline: Lifeline | None = None
        self.restart_policy = RESTART_POLICY
        self.info: CloudInfo | None = None
        self._edge = None

    # The launcher prints one line per component through this hook.
    def announce(self, name: str, detail: str) -> None:
        print(f"{name:<11}{detail}", flush=True)

    def start(self) -> CloudInfo:
        self.state.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        self._clear_leftovers()
        if self.edge_port is not None and not port_is_free(self.edge_port):
            raise LaunchError(f"port {self.edge_port} is already in use: stop what holds it, or set CASTLE_PORT")
        self.lifeline = Lifeline(self.state / "pids.json")
        self.supervisor.on_spawn = self.lifeline.hold
        resuming = (self.data / "ministack" / "CURRENT").exists()
        self.announce("data", f"{self._rel(self.data)}: " + (
            "resuming what the last run left (make reset wipes it)" if resuming else "new and empty"))
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            self.announce("redis", f"{redis_url}  (REDIS_URL, not started here)")
        else:
            redis = start_redis(self.supervisor, self.root, self.data / "redis", log=self.state / "redis.log")
            redis_url = redis.url
            self.announce("redis", f"{redis_url}  (log {self._rel(redis.log)})")
        timings["redis"] = time.monotonic() - t0

        python = ministack.ensure_venv(self.root / ".venv-ministack")
        timings["venv"] = time.monotonic() - t0

        ms = ministack.start_ministack(
            self.supervisor, python, self.root, self.state / "tmp", self.data / "ministack",
            log=self.state / "ministack.log",
        )
        self.announce("ministack", f"{ms.url}  (AWS_ENDPOINT_URL; log {self._rel(ms.log)})")
        if resuming:
            resumed = ministack.durability(ms.url)["resumed"]
            self.announce("resumed", f"{resumed['snapshot']} + {resumed['replayed']} journaled writes replayed "
                                     f"in {resumed['seconds']:.1f}s")
        timings["ministack"] = time.monotonic() - t0

        admin_token = self._admin_token()
        stack = deploy(
            self.root, ms.url, {"RedisUrl": redis_url, "AdminToken": admin_token}, log=self.state / "deploy.log"
        )
        ministack.checkpoint(ms.url)  # the deploy's resources (KMS keys, functions) are not journaled
        self.announce("stack", f"{stack.name} deployed by sam  (log {self._rel(self.state / 'deploy.log')})")
        self.announce("rest-api", stack.rest_url)
        timings["deploy"] = time.monotonic() - t0

        self.info = CloudInfo(ms.url, redis_url, stack, timings=timings, admin_token=admin_token)
        self._warm_up(stack)
        timings["warm"] = time.monotonic() - t0
        self._start_engine()
        timings["engine"] = time.monotonic() - t0
        self._start_edge()
        timings["edge"] = time.monotonic() - t0
        self._write_env()
        return self.info

    def _clear_leftovers(self) -> None:
        """Processes of an earlier run whose launcher was killed (its pids are in pids.json) are stopped."""
        try:
            stopped = clear_leftovers(self.state / "pids.json")
        except AlreadyRunning as e:
            raise LaunchError(f"another local cloud (launcher pid {e.args[0]}) is running on {self._rel(self.state)}: "
                              "stop it first (Ctrl-C in its terminal, or kill it: its children follow)") from None
        if stopped:
            self.announce("leftovers", f"stopped {len(stopped)} process groups of an earlier run: "
                                       + " ".join(map(str, stopped)))

    def _admin_token(self) -> str:
        """The stack's AdminToken, kept with the data: the same across restarts (hex: never a leading "-")."""
        path = self.data / "admin-token"
        if not path.exists():
            self.data.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def _warm_up(self, stack: Stack, timeout_s: float = 30.0) -> None:
        """Up means healthy: wait until the REST API's first (cold) Lambda answers."""
        deadline = time.monotonic() + timeout_s
        while not _http_ok(f"{stack.rest_url}/api/v3/ping", timeout_s=10):
            if time.monotonic() > deadline:
                raise LaunchError(f"the REST API did not answer /api/v3/ping within {timeout_s:.0f}s")
            time.sleep(0.2)

    def _start_engine(self) -> None:
        """The matching task's containers, then the stream gateway's: as their task definitions say."""
        session = boto3_session()
        stack = self.info.stack
        local_env = {
            **os.environ,
            **self.info.env(),
            # Locally, snapshots come often, so that every restart exercises them.
            "CASTLE_SNAPSHOT_EVERY_COMMANDS": os.environ.get("CASTLE_SNAPSHOT_EVERY_COMMANDS", "200"),
            "CASTLE_SNAPSHOT_EVERY_S": os.environ.get("CASTLE_SNAPSHOT_EVERY_S", "5"),
            "PYTHONPATH": os.pathsep.join([str(self.root / "layers" / "core"), str(self.root)]),
        }
        for container in containers(session, stack.endpoint, stack.name, MATCHING_TASK):
            self._start_process(container.name, container.argv, {**local_env, **container.environment},
                                WHAT.get(container.name, ""))
        for container in containers(session, stack.endpoint, stack.name, GATEWAY_TASK):
            self._start_gateway(container, {**local_env, **container.environment})

    def _start_gateway(self, container: Container, env: dict) -> None:
        """The stream gateway service (its own ECS service behind a load balancer in AWS), on a free port."""
        port = free_port()
        # The edge stands in for CloudFront and the load balancer, and sends no X-Castle-Origin: its
        # X-Viewer-Address counts as is (CASTLE_ORIGIN_SECRET unset).
        env = {**env, "CASTLE_GATEWAY_HOST": "127.0.0.1", "CASTLE_GATEWAY_PORT": str(port), "CASTLE_ORIGIN_SECRET": ""}
        self._start_process(container.name, container.argv, env,
                            f"Binance's WebSocket streams on ws://127.0.0.1:{port} (/ws, /stream)")
        wait_for_port(port, self.supervisor.get(container.name).proc, container.name)
        self.info.gateway_url = f"ws://127.0.0.1:{port}"
        if not _ws_ok(f"{self.info.gateway_url}/ws", 10):
            raise LaunchError("the stream gateway did not accept a connection")

    def _start_process(self, name: str, argv: list[str], env: dict, what: str) -> None:
        log = self.state / f"{name}.log"
        component = self.supervisor.start(name, argv, self.info.redis_url, cwd=self.root, env=env, log=log)
        time.sleep(0.3)
        if component.proc.poll() is not None:
            raise LaunchError(f"{name} exited at start (see {self._rel(log)})")
        self.supervisor.supervise(component, self.restart_policy)  # from now on, a crash means a restart
        self.announce(name, f"pid {component.proc.pid}, {what}  (log {self._rel(log)})")

    def _start_edge(self) -> None:
        if self.edge_port is None:
            return
        from local.edge_runner import EdgeRunner

        self._edge = EdgeRunner(self, self.edge_port)
        self.info.edge_url = self._edge.start()
        self.announce("edge", f"{self.info.edge_url}  (Binance URLs: /api/v3, /ws, /stream; /docs; /health)")

    def _write_env(self) -> None:
        lines = [f"{k}={v}" for k, v in sorted(self.info.env().items())]
        (self.state / "local.env").write_text("\n".join(lines) + "\n")

    def health(self) -> dict[str, dict]:
        """Every component's state, for the edge's /health."""
        components: dict[str, dict] = {}
        for c in self.supervisor.components:
            components[c.name] = {"status": c.status(), "url": c.url}
            if c.restart is not None:
                components[c.name].update(pid=c.proc.pid, restarts=c.restarts, gaveUp=c.gave_up)
        if self.info is not None:
            ok = ministack.is_ready(self.info.endpoint)
            components.setdefault("ministack", {})["status"] = "ok" if ok else "down"
            components["redis"] = {"status": "ok" if _redis_ok(self.info.redis_url) else "down",
                                   "url": self.info.redis_url}
            components["stack"] = {"status": "ok", "name": self.info.stack.name}
            components["rest-api"] = {"status": "ok" if _http_ok(f"{self.info.stack.rest_url}/api/v3/ping") else "down",
                                      "url": self.info.stack.rest_url}
        return components

    def first_exit(self):
        return self.supervisor.first_exit()

    def stop(self) -> None:
        if self._edge is not None:
            self._edge.stop()
            self._edge = None
        self.supervisor.stop()
        if self.lifeline is not None:
            self.lifeline.close()
            self.lifeline = None
        shutil.rmtree(self.state / "tmp", ignore_errors=True)

    def _rel(self, path: Path | None) -> str:
        try:
            return str(path.relative_to(self.root))
        except (ValueError, AttributeError):
            return str(path)


def _http_ok(url: str, timeout_s: float = 3) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def _ws_ok(url: str, timeout_s: float = 3) -> bool:
    """A connect and a close: the stream gateway accepts clients."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=timeout_s, close_timeout=timeout_s):
            return True
    except (OSError, TimeoutError, WebSocketException):
        return False


def _redis_ok(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False
