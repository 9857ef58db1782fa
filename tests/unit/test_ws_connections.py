"""castle.adapters.connections: one @connections endpoint rule for both clouds."""

from __future__ import annotations

from castle.adapters.connections import ApiGatewayConnections, management_endpoint

CONTEXT = {"apiId": "castlews", "stage": "ws", "domainName": "castlews.execute-api.us-east-1.amazonaws.com"}


def test_aws_posts_to_the_events_domain_and_stage():
    assert management_endpoint("castlews", "ws", CONTEXT["domainName"], {}) == (
        "https://castlews.execute-api.us-east-1.amazonaws.com/ws"
    )


def test_the_local_cloud_posts_through_the_emulators_execute_api_path():
    # ministack's domainName has no port, so its AWS form cannot be reached.
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"}
    assert management_endpoint("castlews", "ws", "castlews.execute-api.localhost", environ) == (
        "http://127.0.0.1:4566/_aws/execute-api/castlews/ws"
    )


class FakeManagementClient:
    class exceptions:  # noqa: N801 - boto3's shape
        class GoneException(Exception):
            pass

    def __init__(self, gone: bool = False) -> None:
        self.gone = gone
        self.sent: list[tuple[str, bytes]] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # noqa: N803 - boto3's names
        if self.gone:
            raise self.exceptions.GoneException()
        self.sent.append((ConnectionId, Data))


def test_frames_are_sent_as_compact_json():
    client = FakeManagementClient()
    assert ApiGatewayConnections("http://x", client).post("c1", {"result": None, "id": 1})
    assert client.sent == [("c1", b'{"result":null,"id":1}')]


def test_a_gone_connection_is_reported_not_raised():
    assert ApiGatewayConnections("http://x", FakeManagementClient(gone=True)).post("c1", {}) is False
