"""Reads a YAML config plus ``key=value`` overrides and validates it against :mod:`.schema`.

Every problem is one :class:`ConfigError` line that names the file, key or value and the fix.
"""

import dataclasses
import difflib
import os
from typing import Any, Dict, List, Sequence

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..model.registry import get_model_kind
from .schema import TrainConfig


class ConfigError(ValueError):
    """A config problem a user can fix; the message is one line."""


_CHOICES = {
    "model_dtype": ("float64", "float32"),
    "compile_mode": ("eager", "compile"),
    "loss.function": ("mse", "huber"),
    "optimizer.name": ("adam", "adamw"),
    "scheduler.name": ("plateau", "cosine", "none"),
    "logging.wandb_mode": ("offline", "online", "disabled"),
    "data.nonfinite_labels": ("error", "missing"),
}
_LOGGERS = ("csv", "tensorboard", "wandb")
# integer model hyperparameters may be 0 only where listed (all others: >= 1)
_MODEL_INT_MINIMUM = {"l_max": 0, "radial_mlp_depth": 0}


def _closest(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    return f"valid keys: {', '.join(sorted(valid))}"


def _valid_keys_at(path: str) -> List[str]:
    """Field names of the dataclass found at dotted ``path`` of the schema ('' = top level)."""
    node: Any = TrainConfig
    for part in [p for p in path.split(".") if p]:
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            return []
        default = fields[part].default_factory() if fields[part].default_factory is not dataclasses.MISSING else None
        if not dataclasses.is_dataclass(default):
            return []
        node = type(default)
    return [f.name for f in dataclasses.fields(node)]


def _read_yaml(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found")
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        raise ConfigError(f"{path}, line {line}: invalid YAML: {err.problem}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values, got {type(content).__name__}")
    return content


def _check_unknown(user: Dict[str, Any], prefix: str, source: str) -> None:
    valid = _valid_keys_at(prefix)
    for key, value in user.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in valid:
            raise ConfigError(f"{source}: unknown key '{full}'; {_closest(str(key), valid)}")
        if isinstance(value, dict) and _valid_keys_at(full):
            _check_unknown(value, full, source)


def _check_model_section(model: Dict[str, Any], source: str) -> None:
    try:
        kind = get_model_kind(model.get("kind", "nequip"))
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    valid = [f.name for f in dataclasses.fields(kind.config_class)]
    for key in model:
        if key not in valid:
            raise ConfigError(f"{source}: unknown key 'model.{key}' for kind '{model.get('kind', 'nequip')}'; {_closest(key, valid)}")
    # the model section is a free mapping in the schema, so its types are checked here against the
    # kind's dataclass (else 'num_layers: two' fails deep inside the model builder)
    try:
        typed = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(kind.config_class), model))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{source}: bad value for key 'model.{key}': {reason}") from None
    for key in model:
        model[key] = typed[key]
    for key, value in model.items():
        if type(value) is int and value < _MODEL_INT_MINIMUM.get(key, 1):
            raise ConfigError(f"{source}: model.{key} must be >= {_MODEL_INT_MINIMUM.get(key, 1)}, got {value}")


def _data_sources(value: Any, key: str, base: str, source: str) -> List[Dict[str, Any]]:
    """A path, or a list of paths / ``{path, weight}`` -> ``[{"path": absolute, "weight": float}]``.
    Relative paths are looked up in the current folder, then next to the config file."""
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise ConfigError(f"{source}: '{key}' is an empty list; give at least one data file")
    sources = []
    for index, entry in enumerate(entries):
        where = key if not isinstance(value, list) else f"{key}[{index}]"
        if isinstance(entry, dict):
            unknown = set(entry) - {"path", "weight"}
            if unknown or "path" not in entry:
                raise ConfigError(f"{source}: '{where}' must be a path or {{path: FILE, weight: W}}, got keys {sorted(entry)}")
            path, weight = entry["path"], entry.get("weight", 1.0)
        else:
            path, weight = entry, 1.0
        if not isinstance(path, str):
            raise ConfigError(f"{source}: '{where}' must be a file path, got {path!r}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"{source}: weight of '{where}' must be a positive number, got {weight!r}")
        resolved = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(base, path)
        if not os.path.exists(resolved):
            raise ConfigError(f"{source}: data file '{path}' (key {where}) not found")
        sources.append({"path": os.path.abspath(resolved), "weight": float(weight)})
    return sources


def load_config(path: str, overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """Config file + ``key=value`` overrides -> a validated plain dict (all defaults filled in).

    Raises :class:`ConfigError` on a missing file, invalid YAML, an unknown key (with the closest valid
    ones), a value of the wrong type, a value outside its choices, or a missing data file.
    """
    user = _read_yaml(path)
    _check_unknown(user, "", path)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. trainer.max_epochs=10)")
    try:
        cli = OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"command-line override: {err}") from None
    _check_unknown(OmegaConf.to_container(cli), "", "command line")

    try:
        merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), user, cli)
        config = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(err).splitlines()[0]
        raise ConfigError(f"bad value for key '{key}' (in {path} or the command line): {reason}") from None

    _check_values(config, path)
    return config


def _check_values(config: Dict[str, Any], source: str) -> None:
    for dotted, choices in _CHOICES.items():
        value: Any = config
        for part in dotted.split("."):
            value = value[part]
        if value not in choices:
            raise ConfigError(f"{source}: '{dotted}' is '{value}'; choose one of {', '.join(choices)}")
    for logger in config["logging"]["loggers"]:
        if logger not in _LOGGERS:
            raise ConfigError(f"{source}: unknown logger '{logger}' in logging.loggers; choose from {', '.join(_LOGGERS)}")
    if config["type_names"] == ["???"] or not config["type_names"]:
        raise ConfigError(f"{source}: 'type_names' is missing: list the chemical species of the data, e.g. [Cu, O]")
    if config["r_max"] <= 0:
        raise ConfigError(f"{source}: 'r_max' (cutoff radius in Å) is missing or not positive")
    if not isinstance(config["model"], dict):
        raise ConfigError(f"{source}: 'model' must be a mapping with at least 'kind: nequip' or 'kind: allegro'")
    _check_model_section(config["model"], source)
    data = config["data"]
    if data["train"] == "???":
        raise ConfigError(f"{source}: 'data.train' is missing: give the path of the training data file")
    base = os.path.dirname(os.path.abspath(source))
    for key in ("train", "val", "test"):
        if data[key] is not None:
            data[key] = _data_sources(data[key], f"data.{key}", base, source)
    split = data["split"]
    if len(split) != 3 or any(s < 0 for s in split) or abs(sum(split) - 1.0) > 1e-6 or split[0] <= 0:
        raise ConfigError(f"{source}: data.split must be three fractions (train, val, test) summing to 1, got {split}")
    if data["batch_size"] < 1 or data["val_batch_size"] < 1:
        raise ConfigError(f"{source}: data.batch_size and data.val_batch_size must be >= 1")
    if config["scheduler"]["name"] == "plateau" and data["val"] is None and split[1] == 0:
        raise ConfigError(
            f"{source}: scheduler 'plateau' follows val/loss, but there is no validation data (data.split {split} "
            "and no data.val); give a validation fraction in data.split or a data.val file, or set scheduler.name to cosine or none"
        )
    if config["scheduler"]["name"] == "plateau" and config["trainer"]["limit_val_batches"] == 0:
        raise ConfigError(
            f"{source}: scheduler 'plateau' follows val/loss, but trainer.limit_val_batches=0 turns validation off; "
            "set scheduler.name to cosine or none"
        )
    if not config["optimizer"]["lr"] > 0:
        raise ConfigError(f"{source}: optimizer.lr must be positive, got {config['optimizer']['lr']}")
    for term in ("energy", "forces", "stress"):
        if not config["loss"][term] >= 0:
            raise ConfigError(f"{source}: loss.{term} (a loss coefficient) must be >= 0, got {config['loss'][term]}")
    if config["num_threads"] is not None and config["num_threads"] < 1:
        raise ConfigError(f"{source}: num_threads must be >= 1 (or null for torch's default), got {config['num_threads']}")
    if data["min_distance"] < 0:
        raise ConfigError(f"{source}: data.min_distance (Å) must be >= 0, got {data['min_distance']}")
    if not 0.0 <= config["ema_decay"] < 1.0:
        raise ConfigError(f"{source}: ema_decay must be in [0, 1), got {config['ema_decay']}")
