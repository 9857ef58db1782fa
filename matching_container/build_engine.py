"""Compile the engine's hot path with Cython: `python -m matching_container.build_engine [--out DIR]`.

The sources are the plain .py modules of layers/core/castle (pure-Python mode), typed by the .pxd
files beside them; the extensions go to DIR (default build/engine/), never into the layer (see
engine_build.py). Nothing is rebuilt when DIR already holds a build of the same sources. The
build happens in a scratch copy and replaces DIR whole, so a failed build leaves no half.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from matching_container.engine_build import DEFAULT_DIR, MANIFEST, MODULES, ROOT, sources_digest, why_not

SOURCES = ROOT / "layers" / "core" / "castle"
# Python's semantics kept: annotations are documentation here (the .pxd files hold the C types).
DIRECTIVES = {"language_level": 3, "annotation_typing": False}


def build(src: Path, out: Path, jobs: int = 2) -> None:
    from Cython import __version__ as cython_version
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    with tempfile.TemporaryDirectory(prefix="castle-engine-") as scratch:
        work = Path(scratch)
        package = work / "src" / "castle"
        package.mkdir(parents=True)
        for name in MODULES:
            for suffix in (".py", ".pxd"):
                if (src / f"{name}{suffix}").is_file():
                    shutil.copy2(src / f"{name}{suffix}", package / f"{name}{suffix}")
        staged = work / "out"
        extensions = [Extension(f"castle.{m}", [str(package / f"{m}.py")]) for m in MODULES]
        extensions = cythonize(
            extensions, compiler_directives=DIRECTIVES, include_path=[str(package.parent)], nthreads=jobs, quiet=True
        )
        dist = Distribution({"ext_modules": extensions, "script_name": "build_engine", "script_args": []})
        command = dist.get_command_obj("build_ext")
        command.build_lib = str(staged)
        command.build_temp = str(work / "tmp")
        command.parallel = jobs
        dist.run_command("build_ext")
        manifest = {"sources_sha256": sources_digest(src), "modules": list(MODULES), "cython": cython_version}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matching_container.build_engine", description=__doc__)
    parser.add_argument("--src", type=Path, default=SOURCES, help="the castle package's sources")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="where the compiled package goes")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    if not args.force and why_not(args.out, args.src) is None:
        print(f"engine: {args.out} is up to date", file=sys.stderr)
        return 0
    print(f"engine: compiling {', '.join(MODULES)} with Cython into {args.out}", file=sys.stderr)
    build(args.src.resolve(), args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
