"""Shared behaviour of the console scripts: the common options (``--version``, ``--quiet``,
``--verbose``), where the library's log messages go, user errors as one line with exit code 2, and
freed memory kept for reuse (see nequip.utils.memory).

The library never prints and never configures logging: each module logs to the logger named after it
(under ``nequip`` and ``allegro``), which a program embedding the library configures or leaves
alone (Python then shows warnings and errors on stderr, and nothing else). A console script
configures those loggers once per run with :func:`configure_logging`: each record is written as its
bare message, so the output reads like plain lines (``--quiet``: warnings and errors only;
``--verbose``: debug messages too).
"""

import argparse
import logging
import os
import sys
from typing import Callable, Optional

from ..errors import UserError
from .distribution import add_version_argument
from .memory import keep_freed_memory

# the loggers a console script configures: the library's two top-level packages
LIBRARY_LOGGERS = ("nequip", "allegro")
# Lightning's own messages (devices found, checkpoints restored, ...): silenced by --quiet too
_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


class _HelpFormatter(argparse.HelpFormatter):
    """Plain-text help: the reST literals of our docstrings (````x````) shown as ``x``, and each
    option's default after its help when it has one worth saying (not ``None`` or a ``False`` flag)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(text.replace("``", ""), width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        help = (action.help or "").replace("``", "")
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in help or not action.option_strings:
            return help
        return f"{help} (default: %(default)s)" if help else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Formats its help with :class:`_HelpFormatter`; its subcommands' parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def cli_parser(prog: str, description: Optional[str] = None, **kwargs) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every console script has: ``--version`` (prints the
    version line and exits 0, before any other argument is checked), ``-q/--quiet`` and ``-v/--verbose``
    (mutually exclusive; read by :func:`run_cli`); help in plain text with the defaults."""
    parser = _Parser(prog=prog, description=description, **kwargs)
    add_version_argument(parser)
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="print debug messages too")
    return parser


class _ConsoleHandler(logging.Handler):
    """Writes each record's message to ``sys.stdout`` or ``sys.stderr`` as they are when the record is
    written (a redirection inside the process, e.g. a test capturing output, is followed)."""

    def __init__(self, stream: str):
        super().__init__()
        self.stream_name = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = getattr(sys, self.stream_name)
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never raise into the program; the handler reports it
            self.handleError(record)


def configure_logging(verbosity: int = 0, stream: str = "stderr") -> None:
    """Sends the library's log records at or above the level of ``verbosity`` (-1: WARNING, 0: INFO,
    1: DEBUG) to ``stream`` (``"stdout"`` or ``"stderr"``) as bare messages; -1 also quiets
    Lightning's INFO messages. Replaces what an earlier call installed (a script's ``main`` may run
    more than once in a process)."""
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _ConsoleHandler)]:
            logger.removeHandler(handler)
        logger.addHandler(_ConsoleHandler(stream))
        logger.setLevel(level)
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if verbosity < 0 else logging.INFO)


def verbosity_of(args: argparse.Namespace) -> int:
    """-1 for ``--quiet``, 1 for ``--verbose``, else 0 (arguments of :func:`cli_parser`)."""
    return -1 if getattr(args, "quiet", False) else 1 if getattr(args, "verbose", False) else 0


def run_cli(prog: str, body: Callable[[], int], args: Optional[argparse.Namespace] = None, log_stream: str = "stderr") -> int:
    """Runs ``body`` with the library's log messages configured from ``args`` (see :func:`cli_parser`,
    :func:`configure_logging`); a :class:`nequip.errors.UserError` (bad config, data or model file,
    unwritable output, missing setup) is printed as ``prog: error: ...`` with exit code 2, while any
    other exception is a bug and keeps its traceback. Set ``NEQUIP_DEBUG=1`` to see the traceback of
    a user error too. ``log_stream`` is ``"stderr"`` for scripts whose stdout is their result (a table, JSON)."""
    keep_freed_memory()
    configure_logging(verbosity_of(args) if args is not None else 0, log_stream)
    try:
        return body()
    except UserError as err:
        if os.environ.get("NEQUIP_DEBUG"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
