"""The domain is pure: no cloud SDKs, no network, no clock, no randomness, no environment.

That is what makes the engine deterministic and so replayable. Adapters (if a
`castle.adapters` subpackage exists) are where such imports belong.
"""

import ast
from pathlib import Path

import pytest

FORBIDDEN = {
    "boto3",
    "botocore",
    "redis",
    "requests",
    "urllib",
    "http",
    "socket",
    "time",
    "random",
    "datetime",
    "os",
    "uuid",
}
DOMAIN = Path(__file__).resolve().parents[2] / "layers" / "core" / "castle"


def domain_modules() -> list[Path]:
    return sorted(p for p in DOMAIN.rglob("*.py") if "adapters" not in p.relative_to(DOMAIN).parts)


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every absolute import in the module, wherever it appears."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
            "__import__",
            "import_module",
        ):
            roots.update(a.value.split(".")[0] for a in node.args[:1] if isinstance(a, ast.Constant))
    return roots


def test_the_domain_package_has_modules_to_check():
    assert {p.name for p in domain_modules()} >= {"money.py", "matching.py", "book.py", "symbols.py"}


@pytest.mark.parametrize("module", domain_modules(), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_nothing_impure(module):
    assert imported_roots(module) & FORBIDDEN == set()


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize("module", domain_modules(), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_no_adapter(module):
    """Ports live in the domain; the adapters depend on them, never the other way round."""
    assert {m for m in imported_modules(module) if m == "castle.adapters" or m.startswith("castle.adapters.")} == set()


def test_the_adapter_guard_catches_an_adapter_import(tmp_path):
    sample = tmp_path / "leaky.py"
    sample.write_text("from castle import adapters\nfrom castle.adapters.ports import CommandEntry\n")
    assert {"castle.adapters", "castle.adapters.ports"} <= imported_modules(sample)


def test_the_guard_catches_a_forbidden_import(tmp_path):
    sample = tmp_path / "impure.py"
    sample.write_text(
        "import os.path\nfrom time import monotonic\ndef f():\n    import random\n    __import__('uuid')\n"
    )
    assert imported_roots(sample) & FORBIDDEN == {"os", "time", "random", "uuid"}
