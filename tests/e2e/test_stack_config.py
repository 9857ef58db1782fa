"""How the template deploys into the local cloud, read back from the emulator."""

from __future__ import annotations


def test_deployed_functions_send_no_xray_traces_locally(local_cloud):
    """The local cloud has no X-Ray daemon: Powertools' tracer is off there, on in AWS (the default)."""
    client = local_cloud.client("lambda")
    functions = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    ours = [f for f in functions if f["FunctionName"].startswith("castle-")]
    assert ours
    assert {f["FunctionName"]: f["Environment"]["Variables"].get("POWERTOOLS_TRACE_DISABLED") for f in ours} == {
        f["FunctionName"]: "true" for f in ours
    }
