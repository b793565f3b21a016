"""Named pause points for crash tests: a process told to stop at one waits there, so a test can kill it exactly.

Example::

    RECSYS_FAILPOINT=import:before-commit RECSYS_FAILPOINT_FILE=/tmp/at python -m recsys import ...
    # the import pauses inside its transaction, after touching /tmp/at; the test sends SIGKILL

``RECSYS_FAILPOINT`` names one point, optionally with the hit to pause at (``batch:chunk:3`` pauses the third
time the code passes ``batch:chunk``). Without the variable a failpoint costs one environment lookup.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_hits: dict[str, int] = {}
_guard = threading.Lock()


def failpoint(name: str) -> None:
    """Pause forever here when RECSYS_FAILPOINT names `name` (and its hit count, if given)."""
    wanted = os.environ.get("RECSYS_FAILPOINT")
    if not wanted or not wanted.startswith(name):
        return
    rest = wanted[len(name):]
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return
    with _guard:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
    if rest and hit != int(rest[1:]):
        return
    marker = os.environ.get("RECSYS_FAILPOINT_FILE")
    if marker:
        Path(marker).write_text(f"{name} {os.getpid()}\n")
    while True:  # until the test kills the process
        time.sleep(3600)
