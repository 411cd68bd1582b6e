"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

Every output is written to a temporary file in the target folder and renamed over the target, so
a failure (disk full, kill) leaves an earlier file intact. Outputs get the mode a plain ``open()``
would give them (``0o666`` less the umask: 0644 under umask 022), not ``mkstemp``'s 0600, so that
colleagues sharing a project folder can read them. A write that fails with an ``OSError`` is
reported as a one-line ``ValueError`` naming the file (see nequip.utils.cli.run_cli).
"""

import contextlib
import os
import tempfile
from typing import Iterator

from ..errors import OutputError


def _umask() -> int:
    # os.umask is the only portable way to read it; set it back at once
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable_folder(path: str) -> str:
    """The folder of the output file ``path``, created if missing; raises ``ValueError`` naming it when
    it cannot be created or written (checked before any expensive work that would produce ``path``)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder '{folder}' for '{path}': {err.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{path}': the folder '{folder}' is not writable; choose another output path")
    return folder


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = "") -> Iterator[str]:
    """Yields a temporary path in the folder of ``path`` (ending with ``suffix``, for writers that
    insist on a file extension); when the block ends without error, the file written there gets the
    umask's mode and replaces ``path``. On any error the temporary file is removed and ``path`` is left
    as it was; an ``OSError`` becomes ``OutputError("cannot write 'path': ...")``."""
    folder = check_writable_folder(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.tmp-", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (see the module docstring), flushed to disk."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode())
