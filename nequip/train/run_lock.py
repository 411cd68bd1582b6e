"""One training per ``run_dir``: a lock file that works on cluster file systems (NFS, Lustre).

The lock is ``run_dir/nequip-train.lock``, a small JSON file naming its holder (host, PID, start
time). It is created atomically without ``flock`` (which NFS and Lustre do not honour reliably):
the holder's record is written to a uniquely named file, then ``link()``-ed to the lock name, which
fails if the lock exists (``link`` is atomic on NFS; when its reply is lost, the link count of the
unique file tells whether it succeeded).

A lock is *stale*, and is taken over with a notice, when
  - its host is this host and its PID is no longer running, or
  - its host is another host and its file has not been touched for ``STALE_AFTER_S`` seconds: the
    holder refreshes the file's mtime every ``HEARTBEAT_S`` seconds from a background thread
    (clocks of the nodes are assumed synchronised to well within a minute, as on any cluster), or
  - it was taken by an earlier incarnation of this SLURM job (same ``SLURM_JOB_ID``, a lower
    ``SLURM_RESTART_COUNT``): SLURM ends a job before requeueing it, possibly on other nodes.
A takeover renames the stale lock to a unique name first (only one of two racing processes can),
checks that what it renamed is the record it judged stale, and then creates its own lock.

The lock is released when the training ends, with an error too, and on SIGTERM (turned into a
clean exit while the lock is held). A kill -9 leaves the lock behind; the next run on the same host
finds its PID gone and takes it over.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Optional

from ..errors import ConfigError

LOCK_NAME = "nequip-train.lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0

_log = logging.getLogger(__name__)


class RunDirLockedError(ConfigError):
    """Another training holds the run_dir; the message is one line naming the holder."""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read(path: str) -> Optional[Dict[str, Any]]:
    """The holder's record; ``{}`` for an unreadable or half-written file; None if there is no lock."""
    try:
        with open(path) as f:
            record = json.load(f)
        return record if isinstance(record, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _describe(record: Dict[str, Any]) -> str:
    return (
        f"PID {record.get('pid', '?')} on host {record.get('host', '?')} "
        f"(started {record.get('start_time', '?')})"
    )


class RunLock:
    """Holds ``run_dir/nequip-train.lock`` while in its ``with`` block.

    Raises :class:`RunDirLockedError` on entry when another live training holds the lock. Gives a
    notice to ``notify`` (default: a warning of this module's logger) when it takes over a stale one.
    """

    def __init__(self, run_dir: str, notify: Callable[[str], None] = _log.warning, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        self.run_dir = os.path.abspath(run_dir)
        self.path = os.path.join(self.run_dir, LOCK_NAME)
        self.notify = notify
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": uuid.uuid4().hex,
            "slurm_job": os.environ.get("SLURM_JOB_ID"),
            "slurm_restart": int(os.environ.get("SLURM_RESTART_COUNT") or 0),
        }
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._previous_sigterm = None

    # --- acquiring ----------------------------------------------------------------------------------
    def _try_create(self) -> bool:
        """Atomically creates the lock with our record; False if a lock exists."""
        unique = f"{self.path}.{self.record['host']}.{self.record['pid']}.{self.record['token']}"
        with open(unique, "w") as f:
            json.dump(self.record, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(unique, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:
            # NFS: the link may have been made although the reply was lost
            return os.stat(unique).st_nlink == 2
        finally:
            os.unlink(unique)

    def _is_stale(self, record: Dict[str, Any]) -> bool:
        job = self.record["slurm_job"]
        if job is not None and record.get("slurm_job") == job:
            restart = record.get("slurm_restart")
            if isinstance(restart, int) and restart < self.record["slurm_restart"]:
                return True
        if record.get("host") == self.record["host"] and isinstance(record.get("pid"), int):
            return not _pid_running(record["pid"])
        try:
            age = time.time() - os.stat(self.path).st_mtime
        except FileNotFoundError:
            return False  # released meanwhile: just try again
        return age > self.stale_after_s

    def _take_over(self, record: Dict[str, Any]) -> bool:
        """Moves the stale lock aside; False if another process changed it meanwhile."""
        aside = f"{self.path}.stale.{self.record['token']}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        if _read(aside) != record:  # a fresh lock was made between our read and the rename: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            os.unlink(aside)
            return False
        os.unlink(aside)
        self.notify(f"nequip-train: taking over the stale lock of {_describe(record)} in {self.run_dir}: its holder is gone")
        return True

    def acquire(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        for _ in range(10):  # a few rounds of races with other starters at most
            if self._try_create():
                self._start_heartbeat()
                return
            record = _read(self.path)
            if record is None:
                continue  # released between our attempt and the read
            # an unreadable (corrupt) record is judged by its age, like a lock of another host
            if not self._is_stale(record):
                raise RunDirLockedError(
                    f"run_dir {self.run_dir} is in use by nequip-train {_describe(record)}; wait for it to finish "
                    f"or use another run_dir (if that process is surely gone, delete {self.path})"
                )
            self._take_over(record)
        raise RunDirLockedError(f"could not take the lock {self.path}: other processes keep changing it; retry")

    # --- holding -----------------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(self.heartbeat_s):
                try:
                    os.utime(self.path)
                except OSError:
                    pass  # the file system is briefly unavailable: the next beat tries again

        self._thread = threading.Thread(target=beat, name="nequip-run-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if _read(self.path) == self.record:  # never remove a lock someone else holds now
            os.unlink(self.path)

    def __enter__(self) -> "RunLock":
        self.acquire()
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (scancel, a time limit) before training starts would otherwise kill the process
            # without releasing the lock; during training Lightning's handlers take over and restore this
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        self.release()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)
