"""What every process of the matching task does the same way: JSON logs, settings, signals.

`run_process` reads the settings (a bad one is one line on stderr and exit
status 2), logs one JSON object per line (as CloudWatch Logs Insights reads
it), and turns SIGTERM (ECS stopping the task) and SIGINT into a stop event
that the process's loop watches, so each finishes its batch and exits.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable

from matching_container.settings import EngineSettings, SettingsError


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def run_process(
    name: str,
    run: Callable[[EngineSettings, threading.Event], None],
    required_env: tuple[str, ...] = (),
    environ=None,
) -> int:
    import os

    environ = os.environ if environ is None else environ
    try:
        settings = EngineSettings.from_env(environ)
        for var in required_env:
            if not environ.get(var):
                raise SettingsError(f"{var} is required")
    except SettingsError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, stop)
    return 0
