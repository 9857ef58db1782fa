"""Which address the stream gateway counts connects by (Binance: 300 per 5 minutes per IP)."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from matching_container.gateway import client_address


def request(**headers):
    return make_mocked_request("GET", "/ws", headers=headers)


def test_the_edges_viewer_address_wins():
    assert client_address(request(**{"X-Viewer-Address": "198.51.100.7", "X-Forwarded-For": "1.2.3.4"})) == "198.51.100.7"


def test_without_the_edge_the_load_balancers_last_forwarded_entry_counts_not_the_clients_own():
    assert client_address(request(**{"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})) == "203.0.113.9"


def test_with_no_header_the_peer_counts():
    assert client_address(request()) not in ("", None)


def test_with_an_origin_secret_the_viewer_address_counts_only_from_cloudfront():
    headers = {"X-Viewer-Address": "198.51.100.7", "X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    assert client_address(request(**headers), "s3cret") == "203.0.113.9"  # straight to the load balancer: spoofed
    assert client_address(request(**headers, **{"X-Castle-Origin": "s3cret"}), "s3cret") == "198.51.100.7"
