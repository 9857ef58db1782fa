"""The edge's front door: a WebSocket upgrade becomes a byte tunnel to the stream gateway.

A market stream is thousands of frames a second, each to hundreds of clients;
parsing every frame and building it again, as a WebSocket proxy does, made the
edge the slowest hop. So the edge looks at each new connection's first request
head: a WebSocket upgrade on `/ws`, `/ws/<...>` or `/stream` goes to the
gateway as it came (plus the client's address, as CloudFront's viewer-request
function adds it), and from then on the edge only copies bytes, both ways, with
back-pressure. Anything else (REST, docs, health) is handed, bytes and all, to
the aiohttp app, which also proxies an upgrade that comes later on a kept-alive
connection (`edge.proxy_ws`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

log = logging.getLogger("castle.edge")
MAX_HEAD = 16 * 1024  # beyond it without an end of head: aiohttp answers (431)
BAD_GATEWAY = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again.",
               "detail": "the stream gateway is unreachable"}


def is_stream_upgrade(head: bytes) -> bool:
    """A GET of Binance's stream paths asking `Upgrade: websocket`."""
    request_line, _, headers = head.partition(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        return False
    path = parts[1].split(b"?", 1)[0]
    if path not in (b"/ws", b"/stream") and not path.startswith(b"/ws/"):
        return False
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and value.strip().lower() == b"websocket":
            return True
    return False


def viewer_headers(prior_forwarded_for: str | None, peer: str) -> dict[str, str]:
    """What the edge tells the gateway about the client, as CloudFront's viewer-request function does:
    its address in X-Viewer-Address (replacing any the client sent), appended to X-Forwarded-For."""
    return {"X-Forwarded-For": f"{prior_forwarded_for}, {peer}" if prior_forwarded_for else peer,
            "X-Viewer-Address": peer}


def forwarded_head(head: bytes, peer: str) -> bytes:
    """The request head as the gateway sees it: the client's own lines, with `viewer_headers` in place of its
    X-Viewer-Address and X-Forwarded-For."""
    lines = head.split(b"\r\n")
    kept, prior = [lines[0]], None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"x-viewer-address":
            continue
        if name == b"x-forwarded-for":
            prior = value.strip().decode("latin-1")
            continue
        kept.append(line)
    kept += [f"{name}: {value}".encode("latin-1") for name, value in viewer_headers(prior, peer).items()]
    return b"\r\n".join(kept) + b"\r\n\r\n"


def bad_gateway() -> bytes:
    body = json.dumps(BAD_GATEWAY).encode()
    return (b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


class FrontDoor(asyncio.Protocol):
    """One client connection: sniffing its first request head, then a tunnel or the aiohttp app's."""

    def __init__(self, http: Callable[[], asyncio.Protocol], gateway: tuple[str, int], tunnels: set) -> None:
        self.http, self.gateway, self.tunnels = http, gateway, tunnels
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upstream: asyncio.Transport | None = None
        self.tunneling = False

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.tunneling:
            if self.upstream is not None:
                self.upstream.write(data)
            else:
                self.buffer += data  # still connecting to the gateway
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 and len(self.buffer) <= MAX_HEAD:
            return
        if end >= 0 and is_stream_upgrade(bytes(self.buffer[:end])):
            self.tunneling = True
            self.tunnels.add(self)
            asyncio.get_running_loop().create_task(self._open(end))
        else:
            self._hand_to_http()

    def _hand_to_http(self) -> None:
        protocol = self.http()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        data, self.buffer = bytes(self.buffer), bytearray()
        protocol.data_received(data)

    async def _open(self, end: int) -> None:
        peer = (self.transport.get_extra_info("peername") or ("",))[0]
        head = forwarded_head(bytes(self.buffer[:end]), peer)
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(lambda: GatewaySide(self), *self.gateway)
        except OSError as e:
            log.warning("stream gateway %s:%s unreachable: %s", *self.gateway, e)
            if not self.transport.is_closing():
                self.transport.write(bad_gateway())
                self.transport.close()
            return
        if self.transport.is_closing():  # the client left while we connected
            upstream.close()
            return
        self.upstream = upstream
        rest, self.buffer = bytes(self.buffer[end + 4:]), bytearray()
        upstream.write(head + rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnels.discard(self)
        if self.upstream is not None:
            self.upstream.close()

    def pause_writing(self) -> None:  # the client reads slower than the gateway writes
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class GatewaySide(asyncio.Protocol):
    """The tunnel's other end: what the gateway sends goes to the client as it is."""

    def __init__(self, front: FrontDoor) -> None:
        self.front = front

    def data_received(self, data: bytes) -> None:
        self.front.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.transport.close()  # after what is buffered: the gateway's close frame reaches the client

    def pause_writing(self) -> None:  # the gateway reads slower than the client writes
        self.front.transport.pause_reading()

    def resume_writing(self) -> None:
        self.front.transport.resume_reading()
