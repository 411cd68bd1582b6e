"""A data source of the config (``data.train``, ``data.val``, ``data.test``): files with loss weights,
resolved once by the config loader into :class:`DataSource` objects the DataModule receives."""

import os
from dataclasses import dataclass
from typing import Any, Dict, List

from ..errors import ConfigError


@dataclass(frozen=True)
class DataSource:
    """One data file (absolute path) and the factor on the loss weight of its frames."""

    path: str
    weight: float = 1.0

    def to_dict(self) -> Dict[str, Any]:
        return {"path": self.path, "weight": self.weight}


def resolve_sources(value: Any, key: str, base_dir: str, where: str) -> List[DataSource]:
    """A path, or a list of paths / ``{path, weight}`` -> sources with absolute paths. Relative paths
    are looked up in the current folder, then in ``base_dir`` (the config file's folder). Raises
    :class:`ConfigError` prefixed by ``where`` (the value's origin) on a bad entry or a missing file."""
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise ConfigError(f"{where}: '{key}' is an empty list; give at least one data file")
    sources = []
    for index, entry in enumerate(entries):
        name = key if not isinstance(value, list) else f"{key}[{index}]"
        if isinstance(entry, dict):
            if set(entry) - {"path", "weight"} or "path" not in entry:
                raise ConfigError(f"{where}: '{name}' must be a path or {{path: FILE, weight: W}}, got keys {sorted(entry)}")
            path, weight = entry["path"], entry.get("weight", 1.0)
        else:
            path, weight = entry, 1.0
        if not isinstance(path, str):
            raise ConfigError(f"{where}: '{name}' must be a file path, got {path!r}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
            raise ConfigError(f"{where}: weight of '{name}' must be a positive number, got {weight!r}")
        resolved = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(base_dir, path)
        if not os.path.exists(resolved):
            raise ConfigError(f"{where}: data file '{path}' (key {name}) not found")
        sources.append(DataSource(os.path.abspath(resolved), float(weight)))
    return sources
