"""Which build of the matching engine a process runs: Cython-compiled, or the pure Python sources.

The engine's hot path (`MODULES` of `castle`) is compiled by `build_engine.py` from the same .py
files, augmented by the .pxd files beside them, into a folder of its own (`build/engine/` here,
`/app/compiled` in the image). Never into layers/core: `sam build` ships that folder to Lambda,
where an extension built on this machine may not load, and the functions run the pure sources.

The matching process (and the benchmark) call `use_compiled()` before anything imports `castle`:
it puts the compiled folder first on sys.path, and `castle`, a namespace package, then finds the
compiled modules before the sources. The folder is used only when it was built from exactly the
sources this process would otherwise run (a hash of them, kept beside the modules), so a stale
build never changes the engine's behaviour; otherwise, or with CASTLE_COMPILED=0, the process
runs pure Python. Either way `current()` says which, and the process logs it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import sys
from pathlib import Path

MODULES = ("orders", "book", "events", "stats", "matching")  # dependencies first
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "build" / "engine"
MANIFEST = "engine-build.json"
COMPILED, PURE = "cython", "python"


def compiled_dir(environ=None) -> Path | None:
    """CASTLE_COMPILED: the folder of compiled modules (default build/engine/), or 0 for pure Python."""
    value = (os.environ if environ is None else environ).get("CASTLE_COMPILED", "")
    if value == "0":
        return None
    return Path(value) if value else DEFAULT_DIR


def source_dir() -> Path | None:
    """The `castle` sources this process would import: the first on sys.path that has the engine."""
    for entry in sys.path:
        candidate = Path(entry or ".") / "castle"
        if (candidate / "matching.py").is_file():
            return candidate
    return None


def sources_digest(src: Path) -> str:
    """What a build is keyed to: the compiled modules' .py and .pxd files."""
    h = hashlib.sha256()
    for name in MODULES:
        for suffix in (".py", ".pxd"):
            path = src / f"{name}{suffix}"
            h.update(f"{name}{suffix}\0".encode())
            h.update(path.read_bytes() if path.is_file() else b"")
    return h.hexdigest()


def why_not(folder: Path | None, src: Path | None) -> str | None:
    """None when `folder` holds a complete build of the sources in `src`; otherwise the reason."""
    if folder is None:
        return "CASTLE_COMPILED=0"
    if src is None:
        return "castle's sources are not on sys.path"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no compiled engine in {folder} (make engine)"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    missing = [m for m in MODULES if not (folder / "castle" / f"{m}{suffix}").is_file()]
    if missing:
        return f"{folder} lacks {', '.join(missing)} for this interpreter ({suffix})"
    if manifest.get("sources_sha256") != sources_digest(src):
        return f"{folder} was built from other sources than {src} (make engine)"
    return None


def use_compiled(environ=None) -> str:
    """Put the compiled engine first on sys.path if it fits; returns the build this process will run.

    Call it before anything imports `castle`: modules already imported stay as they are, so
    once one is, this changes nothing (and never mixes builds).
    """
    if any(f"castle.{m}" in sys.modules for m in MODULES):
        return current()
    folder = compiled_dir(environ)
    if why_not(folder, source_dir()) is None:
        path = str(folder)
        if path not in sys.path:
            sys.path.insert(0, path)
    return current()


def current() -> str:
    """The build of `castle.matching` this process runs (imports it)."""
    import castle.matching

    return PURE if castle.matching.__file__.endswith(".py") else COMPILED


def describe(environ=None) -> str:
    """One line for the log: which build runs, and why not the compiled one when it is pure."""
    build = current()
    if build == COMPILED:
        import castle.matching

        return f"{COMPILED} ({Path(castle.matching.__file__).parent.parent})"
    reason = why_not(compiled_dir(environ), source_dir())
    return f"{PURE} ({reason or 'castle was imported before use_compiled()'})"
