"""The trainer's stdout protocol: one JSON object per line, nothing else on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

Emit = Callable[[dict[str, object]], None]


def emit_stdout(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def emit_nothing(_event: dict[str, object]) -> None:
    pass
