"""The stream gateway: `python -m matching_container.gateway`, Binance's WebSocket streams served directly.

Clients connect here (in AWS through CloudFront and an Application Load
Balancer; locally through the edge), with Binance's URL layout: `/ws`,
`/ws/<stream>/<stream>`, `/ws/<listenKey>` and `/stream?streams=a/b`. The
gateway speaks the live-subscription protocol (castle.streams), keeps Binance's
heartbeat and limits, and writes each client the frames the publisher puts on
the frame bus (castle.adapters.redis_frames): one Redis subscription per
channel that any of its clients listens to, however many clients that is.

Why not API Gateway's WebSocket API: it pushes with one `@connections` HTTP
call per frame per client, so a depth stream at 100 ms to a few hundred
clients is thousands of calls a second. Here a frame is encoded once by the
publisher, and written to each socket from memory.

A subscription is answered only once it is live: the gateway waits for
Redis's confirmation of the channel's SUBSCRIBE before it sends a SUBSCRIBE's
answer, or a connect URL's 101. The publisher reads who listens after reading
its input and before building messages, so every message produced after the
answer reaches the client, the first connection after a start as the
hundredth (frames that come before the 101 wait in the client, in order).

A message becomes one WebSocket frame (its bytes built once, for all the
clients of a shape: raw, or combined under a name) that is written to each
client's socket as it is: the per-client cost is one write. What a client does
not read waits in its socket's buffer, bounded: a client that lets it fill is
disconnected (Binance drops consumers that fall behind), and never slows the
others. Gateways keep no state that matters: any number can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from castle import streams
from castle.adapters.redis_keys import GATEWAY_CONTROL, USER_CHANNEL_PREFIX, market_channel, user_channel, ws_connects_key
from castle.adapters.redis_listen_keys import RedisListenKeys
from castle.marketdata import stream_messages as msg
from castle.symbols import default_symbols
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.gateway")
VIEWER_HEADER = "X-Viewer-Address"  # set by CloudFront's viewer-request function, and by the local edge
ORIGIN_HEADER = "X-Castle-Origin"  # CloudFront's origin header: the viewer address is CloudFront's word
CONTROL = GATEWAY_CONTROL  # subscribed from the start: redis-py reads only once something is
SLOW_CONSUMER = (1008, "slow consumer: send buffer overflow")
TOO_MANY_MESSAGES = (1008, "too many messages")
REFUSED = {"code": 2, "msg": "Invalid request: connection refused"}
UNAVAILABLE = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}


@dataclass(frozen=True)
class GatewayConfig:
    redis_url: str
    symbols: frozenset[str]
    host: str = "0.0.0.0"
    port: int = 8080
    # Binance (web-socket-streams.md): "The WebSocket server will send a ping frame every 20 seconds.
    # If the WebSocket server does not receive a pong frame back from the connection within a minute
    # the connection will be disconnected." "A single connection ... is only valid for 24 hours."
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    lifetime_s: float = 24 * 3600.0
    buffer_limit: int = 1 << 20  # bytes waiting for one client, beyond what its kernel socket buffer holds
    listen_key_check_s: float = 1.0
    # When set (in AWS), X-Viewer-Address counts only from a request carrying it in X-Castle-Origin;
    # unset (the local cloud: loopback, behind the edge), the header is trusted as it is.
    origin_secret: str = ""

    @classmethod
    def from_env(cls, settings: EngineSettings, environ=os.environ, **overrides) -> GatewayConfig:
        values = {
            "redis_url": settings.redis_url,
            # Every listed symbol, whichever shard trades it: clients connect to any gateway.
            "symbols": frozenset(default_symbols()),
            "host": environ.get("CASTLE_GATEWAY_HOST", "0.0.0.0"),
            "port": int(environ.get("CASTLE_GATEWAY_PORT", "8080")),
            "ping_interval_s": float(environ.get("CASTLE_WS_PING_S", "20")),
            "pong_timeout_s": float(environ.get("CASTLE_WS_PONG_TIMEOUT_S", "60")),
            "lifetime_s": float(environ.get("CASTLE_WS_LIFETIME_S", str(24 * 3600))),
            "buffer_limit": int(environ.get("CASTLE_WS_BUFFER_BYTES", str(1 << 20))),
            "origin_secret": environ.get("CASTLE_ORIGIN_SECRET", ""),
        }
        return cls(**{**values, **overrides})


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked, uncompressed text frame (RFC 6455 §5.2): what a server sends."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


class Client:
    """One connection: what it listens to, and the socket its frames are written to."""

    __slots__ = ("ws", "transport", "limit", "combined", "channels", "user", "ending", "ended", "window", "messages",
                 "held")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, combined: bool, limit: int) -> None:
        self.ws = ws
        self.transport = transport
        self.limit = limit
        self.combined = combined
        self.channels: dict[str, str] = {}  # channel -> the stream's name as the client knows it
        self.user: tuple[str, int] | None = None  # (listenKey, account) of a user data stream
        self.ending = asyncio.Event()  # the gateway ends it, for the reason in `ended`
        self.ended: tuple[int, str] | None = None
        self.window, self.messages = -1, 0
        self.held: list[bytes] | None = []  # frames heard before the handshake went out; None once it has

    def hold(self) -> None:
        """Keep frames back while a subscription is made: its answer goes out before them."""
        if self.held is None:
            self.held = []

    def open(self, first: bytes = b"") -> None:
        """The answer (the handshake, or `first`) went out: write what was heard meanwhile, then frames as they come."""
        held, self.held = self.held, None
        if first or held:
            self.push(first + b"".join(held or ()))

    def streams(self) -> tuple[str, ...]:
        return tuple(name for channel, name in self.channels.items() if not channel.startswith(USER_CHANNEL_PREFIX))

    def push(self, frame: bytes) -> None:
        """Write whole frames: frames never interleave, and aiohttp's own (pings, close) go between them."""
        if self.ended is not None:
            return
        if self.held is not None:
            self.held.append(frame)
            return
        transport = self.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.limit:
            self.end(SLOW_CONSUMER)
            return
        transport.write(frame)

    def send(self, payload: dict | list) -> None:
        self.push(text_frame(json.dumps(payload, separators=(",", ":")).encode()))

    def end(self, why: tuple[int, str]) -> None:
        if self.ended is None:
            self.ended = why
            self.ending.set()

    def over_message_limit(self, now_ms: int) -> bool:
        limit = streams.MESSAGES_PER_CONNECTION
        window = limit.window(now_ms)
        if window != self.window:
            self.window, self.messages = window, 0
        self.messages += 1
        return limit.exceeded(self.messages)


class Hub:
    """Channel -> its clients, and the one Redis subscription per channel that feeds them."""

    def __init__(self, pubsub, confirm_timeout_s: float = 5.0) -> None:
        self.pubsub = pubsub
        self.listeners: dict[str, set[Client]] = {}
        self.clients: set[Client] = set()
        self.delivered = 0
        self.confirm_timeout_s = confirm_timeout_s
        # channel -> its SUBSCRIBEs sent and not yet confirmed, oldest first (Redis confirms in order).
        self.unconfirmed: dict[str, list[asyncio.Future]] = {}

    async def join(self, client: Client, channel: str, name: str) -> None:
        """Listen to a channel; returns once Redis has the subscription, so nothing published after is missed."""
        client.channels[channel] = name
        listeners = self.listeners.get(channel)
        if listeners is None:
            listeners = self.listeners[channel] = set()
            confirmed = asyncio.get_running_loop().create_future()
            self.unconfirmed.setdefault(channel, []).append(confirmed)
            listeners.add(client)
            await self.pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(confirmed), self.confirm_timeout_s)
            return
        listeners.add(client)
        pending = self.unconfirmed.get(channel)
        if pending:  # another client's SUBSCRIBE of it is on its way: live once that one is
            await asyncio.wait_for(asyncio.shield(pending[-1]), self.confirm_timeout_s)

    def confirmed(self, channel: str) -> None:
        pending = self.unconfirmed.get(channel)
        if not pending:
            return
        future = pending.pop(0)
        if not pending:
            del self.unconfirmed[channel]
        if not future.done():
            future.set_result(None)

    async def leave(self, client: Client, channel: str) -> None:
        client.channels.pop(channel, None)
        listeners = self.listeners.get(channel)
        if listeners is None:
            return
        listeners.discard(client)
        if not listeners:
            del self.listeners[channel]
            await self.pubsub.unsubscribe(channel)

    async def leave_all(self, client: Client) -> None:
        for channel in list(client.channels):
            await self.leave(client, channel)

    def deliver(self, messages: list[tuple[str, bytes]]) -> None:
        """Bus messages to their listeners, in order: one frame for the raw ones, one per name for the combined,
        and one write per client for the whole batch (the publisher sends a step's messages together)."""
        outbox: dict[Client, list[bytes]] = {}
        for channel, data in messages:
            listeners = self.listeners.get(channel)
            if not listeners:
                continue
            raw = None
            wrapped: dict[str, bytes] = {}
            for client in listeners:
                if client.combined:
                    name = client.channels[channel]
                    frame = wrapped.get(name)
                    if frame is None:
                        frame = wrapped[name] = text_frame(b'{"stream":"%s","data":%s}' % (name.encode(), data))
                else:
                    frame = raw = raw or text_frame(data)
                frames = outbox.get(client)
                if frames is None:
                    outbox[client] = [frame]
                else:
                    frames.append(frame)
            self.delivered += len(listeners)
        for client, frames in outbox.items():
            client.push(frames[0] if len(frames) == 1 else b"".join(frames))

    async def run(self, batch: int = 256) -> None:
        get = self.pubsub.get_message
        while True:
            message = await get(timeout=1.0)
            messages = []
            while message is not None:
                kind = message["type"]
                if kind == "message":
                    messages.append((message["channel"].decode(), message["data"]))
                elif kind == "subscribe":
                    if messages:  # what came before the confirmation goes out first, in order
                        self.deliver(messages)
                        messages = []
                    self.confirmed(message["channel"].decode())
                if len(messages) >= batch:
                    break
                message = await get(timeout=0.0)  # what has already arrived
            if messages:
                self.deliver(messages)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.redis = aioredis.Redis.from_url(config.redis_url, decode_responses=True)
        self.bus = aioredis.Redis.from_url(config.redis_url)  # frames stay bytes: they go out as they came
        # Rare lookups (a listenKey at connect, the expiry sweep) reuse the sync adapter, off the loop.
        self.listen_keys = RedisListenKeys(redis.Redis.from_url(config.redis_url, decode_responses=True))
        self.hub: Hub | None = None
        self.tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------ lifecycle
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/ws", self.connect)
        app.router.add_get("/ws/{streams:.*}", self.connect)
        app.router.add_get("/stream", self.connect)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        pubsub = self.bus.pubsub()
        await pubsub.subscribe(CONTROL)
        self.hub = Hub(pubsub)
        self.tasks = [asyncio.create_task(self._forever(self.hub.run, "bus reader")),
                      asyncio.create_task(self._forever(self.sweep_listen_keys, "listenKey sweep"))]

    async def _stop(self, app: web.Application) -> None:
        for task in self.tasks:
            task.cancel()
        for client in list(self.hub.clients):
            client.end((1001, "going away"))
        with contextlib.suppress(Exception):
            await self.hub.pubsub.aclose()
            await self.bus.aclose()
            await self.redis.aclose()

    async def _forever(self, job, name: str) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; restarting it", name)
                await asyncio.sleep(1.0)

    async def health(self, request: web.Request) -> web.Response:
        hub = self.hub
        return web.json_response({"status": "ok", "connections": len(hub.clients), "channels": len(hub.listeners),
                                  "delivered": hub.delivered})

    # -------------------------------------------------------------- connect
    async def connect(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"code": -1020, "msg": "This operation is not supported."}, status=404)
        try:
            over = await self._over_connect_limit(request)
        except redis.RedisError:
            log.exception("could not count the connect")
            return web.json_response(UNAVAILABLE, status=503)
        if over:
            return web.json_response(REFUSED, status=429)
        combined = request.path.startswith("/stream")
        path_streams = request.query.get("streams") if combined else request.match_info.get("streams", "")
        listen_key = streams.listen_key_of(path_streams)
        names: list[str] = []
        if listen_key is None:
            try:
                names = streams.parse_stream_list(path_streams, self.config.symbols)
            except ValueError:
                return web.json_response(REFUSED, status=400)
        # No permessage-deflate: frames are written as built, once for every client.
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 16)
        client = Client(ws, request.transport, combined, self.config.buffer_limit)
        hub = self.hub
        hub.clients.add(client)
        try:
            try:
                # Subscribed before the 101: the connect is the answer, and what follows it is heard.
                for name in names:
                    await hub.join(client, market_channel(name), name)
                if listen_key is not None:
                    client.user = (listen_key, await self._account_of(listen_key))
                    if client.user[1] >= 0:
                        await hub.join(client, user_channel(client.user[1]), listen_key)
            except (redis.RedisError, TimeoutError):
                log.exception("could not subscribe a connection")
                return web.json_response(UNAVAILABLE, status=503)
            await ws.prepare(request)
            client.open()
            if client.user is not None and client.user[1] < 0:
                self._tell_expired(client)
            await self._serve(client)
        except redis.RedisError:
            log.exception("lost Redis while serving a connection")
            await ws.close(code=1011, message=b"internal error")
        finally:
            hub.clients.discard(client)
            await hub.leave_all(client)
        return ws

    async def _over_connect_limit(self, request: web.Request) -> bool:
        limit = streams.CONNECTS_PER_IP
        address = client_address(request, self.config.origin_secret)
        window = limit.window(int(time.time() * 1000))
        key = ws_connects_key(address, window)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expireat(key, limit.expires_at(window))
        count, _ = await pipe.execute()
        return limit.exceeded(int(count))

    async def _account_of(self, listen_key: str) -> int:
        """A listenKey's account, or -1: a closed or expired key hears `listenKeyExpired` once connected."""
        account = await asyncio.to_thread(self.listen_keys.account_of, listen_key)
        return -1 if account is None else account

    def _tell_expired(self, client: Client) -> None:
        listen_key = client.user[0]
        frame = msg.listen_key_expired(listen_key, int(time.time() * 1000))
        client.send(msg.combined(listen_key, frame) if client.combined else frame)

    async def sweep_listen_keys(self) -> None:
        """Binance: a closed or expired listenKey gets `listenKeyExpired`, and its stream stops."""
        while True:
            await asyncio.sleep(self.config.listen_key_check_s)
            users = [c for c in self.hub.clients if c.user is not None and c.user[1] >= 0]
            if not users:
                continue
            accounts = await asyncio.to_thread(self.listen_keys.accounts_of, [c.user[0] for c in users])
            for client, account in zip(users, accounts, strict=True):
                if account != client.user[1]:
                    await self.hub.leave(client, user_channel(client.user[1]))
                    client.user = (client.user[0], -1)
                    self._tell_expired(client)

    # --------------------------------------------------------------- serve
    async def _serve(self, client: Client) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        heartbeat = streams.Heartbeat(config.ping_interval_s, config.pong_timeout_s, config.lifetime_s, loop.time())
        tasks = {asyncio.create_task(self._read(client, heartbeat)),
                 asyncio.create_task(self._keep_alive(client, heartbeat)), asyncio.create_task(client.ending.wait())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception) and not isinstance(outcome, ConnectionError | RuntimeError):
                    log.error("connection task failed: %r", outcome)
        ended = client.ended
        if ended is not None and not client.ws.closed:
            # A slow consumer's socket may be full: give the close frame a moment, then let the handler drop it.
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(client.ws.close(code=ended[0], message=ended[1].encode()), 5.0)

    async def _read(self, client: Client, heartbeat: streams.Heartbeat) -> None:
        ws, loop = client.ws, asyncio.get_running_loop()
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                if client.over_message_limit(int(time.time() * 1000)):
                    client.end(TOO_MANY_MESSAGES)  # Binance disconnects, with no answer to the one that went over
                    return
                await self._answer(client, frame.data)
            elif frame.type == WSMsgType.PING:
                await ws.pong(frame.data)
            elif frame.type == WSMsgType.PONG:
                heartbeat.pong(frame.data, loop.time())
            elif frame.type == WSMsgType.ERROR:
                return

    async def _answer(self, client: Client, text: str) -> None:
        session = streams.Session(client.streams(), client.combined)
        answer = streams.respond(text, session, self.config.symbols)
        if answer.ok:
            for name in answer.unsubscribe:
                await self.hub.leave(client, market_channel(name))
            if answer.combined is not None:
                client.combined = answer.combined
        # The answer goes out once the new streams are live, and before their first message, as Binance's does.
        frame = text_frame(json.dumps(answer.frame, separators=(",", ":")).encode())
        if not answer.subscribe:
            client.push(frame)
            return
        client.hold()
        try:
            for name in answer.subscribe:
                await self.hub.join(client, market_channel(name), name)
        except BaseException:
            client.open()
            raise
        client.open(frame)

    async def _keep_alive(self, client: Client, heartbeat: streams.Heartbeat) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            ended = heartbeat.expired(now)
            if ended is not None:
                client.end(ended)
                return
            payload = heartbeat.ping(now)
            if payload is not None:
                await client.ws.ping(payload)
            await asyncio.sleep(heartbeat.wait(loop.time()) + 0.001)


def client_address(request: web.Request, origin_secret: str = "") -> str:
    """Who connects: CloudFront's (or the edge's) X-Viewer-Address; else the address the load balancer appended
    last to X-Forwarded-For (the earlier entries are the client's to write); else the peer."""
    viewer = request.headers.get(VIEWER_HEADER)
    trusted = not origin_secret or hmac.compare_digest(request.headers.get(ORIGIN_HEADER, ""), origin_secret)
    if viewer and trusted:
        return viewer.strip()
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last or request.remote or "unknown"


class GatewayServer:
    """The gateway on its own event loop in a thread: the process's main, and in-process tests."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: web.AppRunner | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="gateway", daemon=True)
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        self.thread.start()
        if not self.started.wait(timeout_s) or not self.url:
            raise RuntimeError("the stream gateway did not start")
        return self.url

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._open())
        except Exception:
            log.exception("the stream gateway could not listen")
            self.started.set()
            return
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    async def _open(self) -> None:
        self.runner = web.AppRunner(Gateway(self.config).app(), access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        await site.start()
        port = self.runner.addresses[0][1]
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        self.url = f"ws://{host}:{port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout_s)


def run(settings: EngineSettings, stop: threading.Event) -> None:
    server = GatewayServer(GatewayConfig.from_env(settings))
    url = server.start()
    log.info("listening on %s", url)
    stop.wait()
    server.stop()


def main() -> int:
    return run_process("stream gateway", run)


if __name__ == "__main__":
    sys.exit(main())
