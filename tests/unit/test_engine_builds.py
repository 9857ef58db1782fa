"""The compiled (Cython) engine and the pure Python one are the same engine.

Each build runs in a fresh interpreter (their modules share names). Without a build (`make engine`)
the comparisons skip, unless CASTLE_REQUIRE_COMPILED=1 (as `make pytest` sets) makes that a failure.
That the engine process picks the compiled build: tests/integration/test_engine_process_build.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from matching_container import engine_build

ROOT = Path(__file__).resolve().parents[2]


def run_python(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]), **env}
    environ.pop("CASTLE_TEST_ENGINE", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def compiled_built() -> None:
    reason = engine_build.why_not(engine_build.DEFAULT_DIR, ROOT / "layers" / "core" / "castle")
    if reason is not None:
        if os.environ.get("CASTLE_REQUIRE_COMPILED") == "1":
            pytest.fail(f"the compiled engine is required here: {reason}")
        pytest.skip(reason)


def replay(seed: int, **env: str) -> dict:
    done = run_python(["-m", "tests.engine_journal", "--seed", str(seed), "--commands", "3000"], **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_and_pure_engines_emit_identical_events_for_a_seeded_journal(compiled_built, seed):
    pure = replay(seed, CASTLE_COMPILED="0")
    compiled = replay(seed, CASTLE_COMPILED="")
    assert (pure["build"], compiled["build"]) == (engine_build.PURE, engine_build.COMPILED)
    assert sum(len(e) for e in pure["events"]) > 3000
    for i, (a, b) in enumerate(zip(pure["events"], compiled["events"], strict=True)):
        assert a == b, f"command {i}"
    assert pure["depth"] == compiled["depth"]
    assert pure["open_orders"] == compiled["open_orders"]
    assert pure["state_hash"] == compiled["state_hash"]


def test_a_build_of_other_sources_is_not_used(tmp_path):
    src = tmp_path / "castle"
    src.mkdir()
    for name in engine_build.MODULES:
        (src / f"{name}.py").write_text("")
    (tmp_path / engine_build.MANIFEST).write_text(json.dumps({"sources_sha256": "0" * 64}))
    suffix = engine_build.importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in engine_build.MODULES:
        (tmp_path / "castle" / f"{name}{suffix}").write_bytes(b"")
    assert "built from other sources" in engine_build.why_not(tmp_path, src)


def test_compiled_castle_zero_means_pure_python():
    assert engine_build.why_not(engine_build.compiled_dir({"CASTLE_COMPILED": "0"}), None) == "CASTLE_COMPILED=0"


def test_this_run_has_the_engine_it_was_asked_for():
    """Under CASTLE_TEST_ENGINE=cython (make pytest's second pass) every engine test ran compiled."""
    want = engine_build.COMPILED if os.environ.get("CASTLE_TEST_ENGINE") == "cython" else engine_build.PURE
    assert engine_build.current() == want
