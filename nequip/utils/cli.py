"""Shared behaviour of the console scripts: user errors are one line and exit code 2."""

import os
import sys
from typing import Callable


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Runs ``body``; a ``ValueError``/``FileNotFoundError`` (bad config, data or model file) is printed as
    ``prog: error: ...`` with exit code 2. Set ``NEQUIP_DEBUG=1`` to see the traceback instead."""
    try:
        return body()
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("NEQUIP_DEBUG"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
