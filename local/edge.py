"""The edge: Binance's URL layout on 127.0.0.1:8000 in front of the REST API and the stream gateway.

In AWS, the CloudFront distribution in template.yaml (EdgeDistribution) does
this job. Here a thin aiohttp proxy does it:

- `/api/*`, `/sapi/*`, `/fapi/*` go to the REST API stage as they came: the
  method, the raw path and query string (signatures are computed over them,
  byte for byte), the body and the headers; the answer comes back the same way.
- `/ws`, `/ws/<a>/<b>` and `/stream?streams=a/b` go to the stream gateway
  (matching_container.gateway) as they came, with the client's address in
  X-Viewer-Address (as CloudFront's viewer-request function sets it); frames,
  pings, pongs and close codes are piped both ways. Binance's heartbeat is the
  gateway's, as in AWS.
- `/openapi.json` goes to the REST API too: the spot Lambda serves its own
  OpenAPI 3.1 document (as CloudFront's default behaviour routes it in AWS).
  `/docs` (Swagger UI, served from the files Powertools ships: no CDN) reads
  it, and `/health` gives the launcher's component checks.

Nothing a client sends may crash it: unknown paths get Binance's -1020, large
bodies API Gateway's 413, a dead upstream a 502 with Binance's -1001.

`python -m local.edge` serves from the environment (CASTLE_REST_URL,
CASTLE_WS_URL, CASTLE_PORT); the launcher uses `EdgeServer(config).start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from local.ws_tunnel import FrontDoor, viewer_headers

log = logging.getLogger("castle.edge")

# RFC 9110 §7.6.1 hop-by-hop headers, plus what the proxy recomputes itself.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
REST_PREFIXES = ("api", "sapi", "fapi")
UNSUPPORTED = {"code": -1020, "msg": "This operation is not supported."}
DISCONNECTED = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
TIMEOUT = {
    "code": -1007,
    "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
}
UNKNOWN = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
TOO_LONG = {"message": "Request Too Long"}  # API Gateway's answer past its payload limit
# Close codes that must not appear in a close frame (RFC 6455 §7.4.1).
RESERVED_CLOSE = frozenset({1005, 1006, 1015})

HealthCheck = Callable[[], Mapping[str, Mapping]]


@dataclass(frozen=True)
class EdgeConfig:
    rest_url: str  # e.g. http://127.0.0.1:4566/_aws/execute-api/castlerest/v1
    ws_url: str  # the stream gateway, e.g. ws://127.0.0.1:8765
    health: HealthCheck | None = None  # component name -> {"status": "ok" | ..., ...}; may block
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1 << 20
    upstream_timeout_s: float = 30.0
    title: str = "Castle"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides) -> EdgeConfig:
        values = {
            "rest_url": environ.get("CASTLE_REST_URL", ""),
            "ws_url": environ.get("CASTLE_WS_URL", ""),
            "port": int(environ.get("CASTLE_PORT", "8000")),
            "max_body_bytes": int(environ.get("CASTLE_EDGE_MAX_BODY", str(1 << 20))),
        }
        return cls(**{**values, **overrides})


def json_response(body: Mapping, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=lambda v: json.dumps(v, separators=(",", ":")))


def config_of(request: web.Request) -> EdgeConfig:
    return request.app[CONFIG]


CONFIG = web.AppKey("config", EdgeConfig)
CLIENT = web.AppKey("client", aiohttp.ClientSession)
WS_CLIENT = web.AppKey("ws_client", aiohttp.ClientSession)


# ------------------------------------------------------------------ REST
def forwarded_headers(request: web.Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    return headers


async def proxy_rest(request: web.Request) -> web.StreamResponse:
    config = config_of(request)
    declared = request.content_length
    if declared is not None and declared > config.max_body_bytes:
        return json_response(TOO_LONG, 413)
    body = await request.read()  # the app's client_max_size stops a body without Content-Length
    # raw_path keeps the query string exactly as the client encoded and ordered it.
    target = URL(config.rest_url.rstrip("/") + request.raw_path, encoded=True)
    try:
        async with request.app[CLIENT].request(
            request.method,
            target,
            headers=forwarded_headers(request),
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
        ) as upstream:
            payload = await upstream.read()
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=payload, headers=headers)
    except TimeoutError:
        return json_response(TIMEOUT, 504)
    except aiohttp.ClientError as e:
        log.warning("REST upstream %s failed: %s", target, e)
        return json_response({**DISCONNECTED, "detail": f"the REST API is unreachable ({type(e).__name__})"}, 502)


# ------------------------------------------------------------- WebSocket
def upstream_ws_url(request: web.Request) -> URL:
    """The stream gateway speaks Binance's URL layout itself: the path and query go as they came."""
    return URL(config_of(request).ws_url.rstrip("/") + request.rel_url.raw_path_qs, encoded=True)


async def pipe(source, sink, name: str) -> str:
    """Copy frames, pings and pongs until `source` closes; the reason of its close frame, if any."""
    while True:
        msg = await source.receive()
        if msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.PING:
            await sink.ping(msg.data)
        elif msg.type == WSMsgType.PONG:
            await sink.pong(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            return msg.extra or ""
        else:  # CLOSING, CLOSED, ERROR
            if msg.type == WSMsgType.ERROR:
                log.info("%s socket error: %s", name, source.exception())
            return ""


def close_code(code: int | None, fallback: int) -> int:
    return fallback if code is None or code in RESERVED_CLOSE else code


async def proxy_ws(request: web.Request) -> web.StreamResponse:
    """A transparent pipe: Binance's heartbeat (pings, pong timeout, lifetime) is the gateway's, as in AWS."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return json_response(UNSUPPORTED, 404)
    target = upstream_ws_url(request)
    try:
        upstream = await request.app[WS_CLIENT].ws_connect(
            target, autoping=False, headers=forwarded_ws_headers(request)
        )
    except aiohttp.WSServerHandshakeError as e:
        # The gateway refused the connect (over 1024 streams, too many connects from this address).
        if 400 <= e.status < 500:
            return json_response({"code": 2, "msg": "Invalid request: connection refused"}, e.status)
        return json_response({**DISCONNECTED, "detail": f"the stream gateway answered {e.status}"}, 502)
    except (aiohttp.ClientError, TimeoutError) as e:
        log.warning("WebSocket upstream %s failed: %s", target, e)
        return json_response({**DISCONNECTED, "detail": f"the stream gateway is unreachable ({type(e).__name__})"}, 502)
    client = web.WebSocketResponse(autoping=False)  # pings and pongs pass through
    try:
        await client.prepare(request)
        down = asyncio.create_task(pipe(upstream, client, "upstream"))
        up = asyncio.create_task(pipe(client, upstream, "client"))
        done, pending = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if down in done:  # the gateway closed: pass its code and reason on to the client
            await client.close(code=close_code(upstream.close_code, 1011), message=down.result().encode())
        else:  # the client left
            await upstream.close(code=close_code(client.close_code, 1000))
    except Exception:
        log.exception("WebSocket pipe failed")
    finally:
        await upstream.close()
        if not client.closed:
            await client.close(code=1011)
    return client


def forwarded_ws_headers(request: web.Request) -> dict[str, str]:
    headers = {}
    for name in ("User-Agent", "X-MBX-APIKEY", "Origin"):
        if name in request.headers:
            headers[name] = request.headers[name]
    headers.update(viewer_headers(request.headers.get("X-Forwarded-For"), request.remote or ""))
    return headers


# ----------------------------------------------------------- docs, health
def swagger_assets() -> Path:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    return Path(swagger_ui.__file__).parent


SWAGGER_FILES = {"swagger-ui.css": "swagger-ui.min.css", "swagger-ui-bundle.js": "swagger-ui-bundle.min.js"}
DOCS_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
  </script>
</body>
</html>
"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML.format(title=config_of(request).title), content_type="text/html")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = SWAGGER_FILES.get(request.match_info["name"])
    if name is None:
        return json_response(UNSUPPORTED, 404)
    return web.FileResponse(swagger_assets() / name, headers={"Cache-Control": "max-age=3600"})


async def health(request: web.Request) -> web.Response:
    check = config_of(request).health
    try:
        components = dict(await asyncio.get_running_loop().run_in_executor(None, check)) if check else {}
    except Exception as e:
        log.exception("health check failed")
        components = {"edge": {"status": "error", "detail": f"{type(e).__name__}: {e}"}}
    healthy = all(c.get("status") == "ok" for c in components.values())
    body = {"status": "ok" if healthy else "degraded", "components": components}
    return json_response(body, 200 if healthy else 503)


# ------------------------------------------------------------------- app
@web.middleware
async def binance_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure as JSON: Binance's -1020 for unknown paths, API Gateway's 413, -1000 otherwise."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return json_response(TOO_LONG, 413)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return json_response(UNSUPPORTED, 404)
    except web.HTTPException as e:
        return json_response({"code": -1000, "msg": e.reason}, e.status)
    except Exception:
        log.exception("edge error on %s %s", request.method, request.path)
        return json_response(UNKNOWN, 500)


def create_app(config: EdgeConfig) -> web.Application:
    app = web.Application(middlewares=[binance_errors], client_max_size=config.max_body_bytes)
    app[CONFIG] = config

    async def client_session(app: web.Application):
        timeout = aiohttp.ClientTimeout(total=config.upstream_timeout_s, connect=5)
        connector = aiohttp.TCPConnector(limit=256)
        # A WebSocket holds its upstream connection for its whole life: in the REST pool, 256 open streams
        # would take every slot and every REST request would time out. So streams get an unbounded pool.
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False) as session, \
                aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as streams:
            app[CLIENT], app[WS_CLIENT] = session, streams
            yield

    app.cleanup_ctx.append(client_session)
    for prefix in REST_PREFIXES:
        app.router.add_route("*", f"/{prefix}/{{tail:.*}}", proxy_rest)
    app.router.add_get("/ws", proxy_ws)
    app.router.add_get("/ws/{streams:.+}", proxy_ws)
    app.router.add_get("/stream", proxy_ws)
    app.router.add_get("/openapi.json", proxy_rest)
    app.router.add_get("/docs", docs)
    app.router.add_get("/docs/{name}", docs_asset)
    app.router.add_get("/health", health)
    return app


class EdgeServer:
    """The edge on its own thread and event loop, for the launcher: `start()` returns its URL."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> str:
        self._thread = threading.Thread(target=self._serve, name="castle-edge", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the edge did not start within {timeout_s:.0f}s")
        if self._error is not None:
            raise RuntimeError(f"the edge could not start: {self._error}") from self._error
        return self.url

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:  # reported to start(); the thread must not die silently
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(create_app(self.config), handle_signals=False, access_log=None)
        await runner.setup()
        tunnels: set[FrontDoor] = set()
        server = None
        try:
            gateway = URL(self.config.ws_url) if self.config.ws_url else None
            if gateway is not None and gateway.host and gateway.port:
                # Stream upgrades become byte tunnels to the gateway; the rest is the app's (local/ws_tunnel.py).
                target = (gateway.host, gateway.port)
                server = await asyncio.get_running_loop().create_server(
                    lambda: FrontDoor(runner.server, target, tunnels), self.config.host, self.config.port)
                host, port = server.sockets[0].getsockname()[:2]
            else:
                site = web.TCPSite(runner, self.config.host, self.config.port)
                await site.start()
                host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            if server is not None:
                server.close()
            for tunnel in list(tunnels):
                tunnel.close()
            await runner.cleanup()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None


def run(config: EdgeConfig) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    import signal

    server = EdgeServer(config)
    url = server.start()
    print(f"edge      {url} -> {config.rest_url} | {config.ws_url}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    settings = EdgeConfig.from_env()
    if not settings.rest_url or not settings.ws_url:
        sys.exit("set CASTLE_REST_URL and CASTLE_WS_URL (make up writes them to .castle/local.env)")
    run(settings)
