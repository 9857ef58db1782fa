"""What the WebSocket end-to-end tests share: the edge's ws:// URL, and reading frames until a condition holds."""

from __future__ import annotations

import asyncio
import json
import time



def ws_url(cloud, path: str) -> str:
    return cloud.edge_url.replace("http://", "ws://") + path


async def frames_until(ws, done, timeout_s: float = 20.0, frames: list[dict] | None = None) -> list[dict]:
    """JSON frames (appended to `frames`, if given) until `done(frames)` holds."""
    frames = [] if frames is None else frames
    deadline = time.monotonic() + timeout_s
    while not done(frames):
        left = deadline - time.monotonic()
        try:
            assert left > 0
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except (AssertionError, TimeoutError):
            raise AssertionError(f"timed out after {len(frames)} frames; the last: {frames[-3:]}") from None
    return frames
