"""The matching engine process runs the compiled engine when it was built, pure Python otherwise, and logs which."""

from __future__ import annotations

import os

import pytest
from matching_container import engine_build

from tests.integration.engine_process import ROOT, serve_one_order

pytestmark = pytest.mark.integration


def test_engine_process_runs_and_reports_the_compiled_engine_when_built(redis_url, redis_client):
    reason = engine_build.why_not(engine_build.DEFAULT_DIR, ROOT / "layers" / "core" / "castle")
    if reason is not None:
        if os.environ.get("CASTLE_REQUIRE_COMPILED") == "1":
            pytest.fail(f"the compiled engine is required here: {reason}")
        pytest.skip(reason)
    out = serve_one_order(redis_url, redis_client, CASTLE_COMPILED="")
    assert f'"message": "matching engine build: cython ({engine_build.DEFAULT_DIR})"' in out, out


def test_engine_process_runs_and_reports_pure_python_without_a_build(redis_url, redis_client, tmp_path):
    out = serve_one_order(redis_url, redis_client, CASTLE_COMPILED=str(tmp_path))
    assert f'"message": "matching engine build: python (no compiled engine in {tmp_path} (make engine))"' in out, out
