"""Find a Python 3.12 (the Lambda runtime's version): on PATH, else from pyenv."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess


def find_python312() -> str | None:
    candidates = [shutil.which("python3.12")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True)
    for path in filter(None, candidates):
        try:
            version = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True, text=True, timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version == "True":
            return path
    return None
