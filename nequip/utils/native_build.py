"""Where and how our JIT-built native code (the operator library, the LAMMPS plugin) is built:
one cache root, a cache key over the sources and the toolchain, a cross-process lock around a
build, and an atomic publish of its result. Concurrent processes (DDP ranks, MPI ranks, test
workers) then build once, and none ever loads a half-written shared object.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Tuple


def cache_dir(name: str, override: str) -> Path:
    """The cache folder of one kind of build: ``$<override>`` if set (e.g. ``NEQUIP_OPS_CACHE``),
    else ``$NEQUIP_CACHE_DIR/<name>``, else ``$XDG_CACHE_HOME/nequip/<name>`` (by default
    ``~/.cache/nequip/<name>``). A user cache, not the install location, which may be read-only."""
    if os.environ.get(override):
        return Path(os.environ[override])
    if os.environ.get("NEQUIP_CACHE_DIR"):
        return Path(os.environ["NEQUIP_CACHE_DIR"]) / name
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nequip" / name


def cache_key(files: Iterable[Tuple[str, Path]], *toolchain: str) -> str:
    """12 hex digits of a hash over each ``(name, path)``'s name and bytes (empty when the file is
    missing) and then the ``toolchain`` strings (torch build, compiler id, ...): any edit or upgrade
    gives a new key, so a stale build is never reused."""
    digest = hashlib.sha1()
    for name, path in files:
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b""))
    for part in toolchain:
        digest.update(part.encode())
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``<target>.lock`` (creating its folder): one process builds
    ``target`` while the others wait, then find it built. Released when the process dies."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def private_build_dir(target: Path) -> Iterator[Path]:
    """A fresh folder next to ``target`` to build in, removed afterwards (built or failed)."""
    build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    try:
        yield build_dir
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def publish(built: Path, target: Path) -> None:
    """Moves ``built`` to ``target`` in one rename (same file system): readers see no file or the
    whole file, never part of it."""
    os.replace(built, target)
