"""Run Castle's benchmarks: `PYTHONPATH=layers/core:. python -m benchmarks [--only NAME] [options]`."""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks import RESULTS_DIR, discover


def main(argv: list[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=sorted(benchmarks), help="run only this benchmark (repeatable)"
    )
    for module in benchmarks.values():
        group = parser.add_argument_group(module.NAME)
        module.add_arguments(group)
    args = parser.parse_args(argv)
    selected = args.only or sorted(benchmarks)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in selected:
        result = benchmarks[name].run(args)
        path = RESULTS_DIR / f"{name}.json"
        text = json.dumps(result, indent=2)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(path)
        print(text)
        print(f"[{name}] written to {path}", file=sys.stderr)
        for problem in result.get("failures", []):
            print(f"[{name}] FAILED: {problem}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
