"""The edge inside the launcher: Binance's URL layout in front of the deployed APIs."""

from __future__ import annotations

from local.edge import EdgeConfig, EdgeServer


class EdgeRunner:
    def __init__(self, cloud, port: int) -> None:
        stack = cloud.info.stack
        # The heartbeat's timings come from CASTLE_WS_PING_S, CASTLE_WS_PONG_TIMEOUT_S, CASTLE_WS_LIFETIME_S.
        config = EdgeConfig.from_env(rest_url=stack.rest_url, ws_url=stack.ws_url or "", health=cloud.health, port=port)
        self.server = EdgeServer(config)

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
