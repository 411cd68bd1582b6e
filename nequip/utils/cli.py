"""Shared behaviour of the console scripts: user errors are one line and exit code 2; freed memory is
kept for reuse (see nequip.utils.memory)."""

import os
import sys
from typing import Callable

from .memory import keep_freed_memory


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Runs ``body``; a ``ValueError``/``FileNotFoundError`` (bad config, data or model file) is printed as
    ``prog: error: ...`` with exit code 2. Set ``NEQUIP_DEBUG=1`` to see the traceback instead."""
    keep_freed_memory()
    try:
        return body()
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("NEQUIP_DEBUG"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
