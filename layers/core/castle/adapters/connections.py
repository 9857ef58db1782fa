"""ApiGatewayConnections: frames to WebSocket clients through API Gateway's @connections API.

The one place that knows both clouds' management endpoints:
- AWS: `https://{domainName}/{stage}` (the domain from the event's requestContext);
- the local cloud: `{AWS_ENDPOINT_URL}/_aws/execute-api/{apiId}/{stage}`. ministack
  sets AWS_ENDPOINT_URL for every handler and AWS never does; its domainName
  carries no port, so the AWS form cannot work there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache

import boto3


def management_endpoint(api_id: str, stage: str, domain_name: str, environ: Mapping[str, str] = os.environ) -> str:
    local = environ.get("AWS_ENDPOINT_URL")
    if local:
        return f"{local.rstrip('/')}/_aws/execute-api/{api_id}/{stage}"
    return f"https://{domain_name}/{stage}"


@lru_cache(maxsize=8)
def _client(endpoint: str):
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)


class ApiGatewayConnections:
    """Posts JSON frames to one WebSocket API stage."""

    def __init__(self, endpoint: str, client=None) -> None:
        self.endpoint = endpoint
        self.client = client or _client(endpoint)

    @classmethod
    def for_request(cls, request_context: Mapping, environ: Mapping[str, str] = os.environ) -> ApiGatewayConnections:
        """The poster for the API and stage that sent this WebSocket event."""
        return cls(
            management_endpoint(
                request_context["apiId"], request_context["stage"], request_context.get("domainName", ""), environ
            )
        )

    def post(self, connection_id: str, frame: dict) -> bool:
        return self.post_raw(connection_id, json.dumps(frame, separators=(",", ":")).encode())

    def post_raw(self, connection_id: str, data: bytes) -> bool:
        """Send one frame already serialised (the publisher serialises once per stream, not per client)."""
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self.client.exceptions.GoneException:
            return False
        return True

    def delete(self, connection_id: str) -> None:
        """Close a connection (a consumer too slow to keep up); a gone one is already closed."""
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except self.client.exceptions.GoneException:
            pass
