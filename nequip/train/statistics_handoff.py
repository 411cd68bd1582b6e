"""Training-set statistics computed once, by rank 0, and shared with the other ranks through
``run_dir/statistics.json``.

The model (its per-type shifts and scales) must exist before Lightning sets up DDP, so there is no
process group yet to broadcast with: ranks started together by ``srun`` wait for rank 0's file,
matched by a fingerprint of the data it was computed from (never a stale file of an earlier run).
"""

import json
import os
import time
from typing import Any, Callable, Dict

from ..config import ConfigError, TrainConfig

from ..utils.atomic import atomic_write_text

FILE_NAME = "statistics.json"


def data_fingerprint(config: TrainConfig) -> str:
    """Identifies the training data and the settings statistics depend on (paths, sizes, mtimes)."""
    data = config.data
    files = {}
    for key in ("train", "val", "test"):
        for source in getattr(data, key) or []:
            stat = os.stat(source.path)
            files.setdefault(key, []).append([source.path, source.weight, stat.st_size, stat.st_mtime_ns])
    keyed = {"files": files, "split": list(data.split), "seed": data.seed, "type_names": list(config.type_names),
             "r_max": config.r_max, "dtype": config.model_dtype.value}
    return json.dumps(keyed, sort_keys=True)


def shared_statistics(
    compute: Callable[[], Dict[str, Any]], run_dir: str, fingerprint: str, rank: int, timeout_s: float = 7200.0
) -> Dict[str, Any]:
    """Rank 0 runs ``compute`` and writes the result atomically; other ranks poll for it.

    Raises :class:`ConfigError` naming the file if rank 0 has not written it within ``timeout_s``.
    """
    path = os.path.join(run_dir, FILE_NAME)
    if rank == 0:
        statistics = compute()
        atomic_write_text(path, json.dumps({"fingerprint": fingerprint, "statistics": statistics}, indent=1))
        return statistics
    deadline = time.monotonic() + timeout_s
    while True:
        if os.path.exists(path):
            with open(path) as f:
                content = json.load(f)
            if content.get("fingerprint") == fingerprint:
                return content["statistics"]
        if time.monotonic() > deadline:
            raise ConfigError(
                f"rank {rank} waited {timeout_s:.0f} s for rank 0 to write {path}; is run_dir on a file system "
                "shared by all nodes?"
            )
        time.sleep(0.5)
