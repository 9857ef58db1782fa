"""Castle's benchmarks, run as `PYTHONPATH=layers/core:. python -m benchmarks`.

Each benchmark is a module of this package that defines `NAME`,
`add_arguments(parser)` and `run(args) -> dict`; `__main__` discovers them,
runs the ones selected with `--only` (all by default) and writes each result
to `benchmarks/results/<NAME>.json`.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def discover() -> dict:
    """The benchmark modules present in this package, by NAME."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    return found
