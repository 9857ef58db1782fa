"""The edge inside the launcher: Binance's URL layout in front of the deployed APIs."""

from __future__ import annotations

from local.edge import EdgeConfig, EdgeServer


class EdgeRunner:
    def __init__(self, cloud, port: int) -> None:
        stack = cloud.info.stack
        config = EdgeConfig.from_env(rest_url=stack.rest_url, ws_url=cloud.info.gateway_url or "",
                                     health=cloud.health, port=port)
        self.server = EdgeServer(config)

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
