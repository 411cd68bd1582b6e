"""What a rerun in an existing ``run_dir`` may do: resume only the same model on the same data
statistics, and never overwrite earlier checkpoints unless asked.

The settings of the run that wrote the checkpoints are read from ``run_dir/config.yaml`` (written at
every start, and not rewritten when a resume is refused). Keys that define the model or the
training-set statistics stored in it (:data:`MODEL_KEYS`) must be unchanged; everything else
(``trainer.max_epochs``, ``trainer.max_time``, logging, batch sizes, ...) may change on resume.
"""

import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

import yaml

from ..config import ConfigError, TrainConfig, config_to_dict
from ..model.registry import get_model_kind

# dotted keys that define the trained model (kind and hyperparameters under model.*) and the
# training-set statistics built into it (which files, which split)
MODEL_KEYS = ("type_names", "r_max", "model_dtype", "data.train", "data.split", "data.seed")


def _get(config: Dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _model_hyperparameters(model: Any) -> Dict[str, Any]:
    """The ``model:`` section with its kind's defaults filled in (an explicit default equals an omitted key)."""
    if not isinstance(model, dict):
        return {"": model}
    try:
        kind = get_model_kind(model.get("kind", "nequip"))
        return dataclasses.asdict(kind.config_class(**model))
    except (TypeError, ValueError):
        return dict(model)


def changed_model_keys(old: Dict[str, Any], new: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
    """``[(dotted key, old value, new value)]`` of the :data:`MODEL_KEYS` and ``model.*`` keys that differ."""
    changes = []
    old_hp, new_hp = _model_hyperparameters(old.get("model")), _model_hyperparameters(new.get("model"))
    if old_hp.get("kind") != new_hp.get("kind"):
        changes.append(("model.kind", old_hp.get("kind"), new_hp.get("kind")))
    else:
        for key in sorted(set(old_hp) | set(new_hp)):
            if old_hp.get(key) != new_hp.get(key):
                changes.append((f"model.{key}", old_hp.get(key), new_hp.get(key)))
    for key in MODEL_KEYS:
        if _get(old, key) != _get(new, key):
            changes.append((key, _get(old, key), _get(new, key)))
    return changes


def _short(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "path" in v for v in value):
        value = [v["path"] if v.get("weight", 1.0) == 1.0 else f"{v['path']} (weight {v['weight']})" for v in value]
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def read_previous_config(run_dir: str) -> Optional[Dict[str, Any]]:
    """``run_dir/config.yaml`` of the earlier run, or None if there is none (or it is unreadable)."""
    path = os.path.join(run_dir, "config.yaml")
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    return content if isinstance(content, dict) else None


def check_resume(run_dir: str, config: TrainConfig) -> None:
    """Raises :class:`ConfigError` (one line) when resuming in ``run_dir`` would continue a model other
    than the one ``config`` describes; lists each changed key as ``old -> new`` and how to proceed."""
    previous = read_previous_config(run_dir)
    if previous is None:
        return
    changes = changed_model_keys(previous, config_to_dict(config))
    if changes:
        listed = "; ".join(f"{key}: {_short(a)} -> {_short(b)}" for key, a, b in changes)
        raise ConfigError(
            f"run_dir {os.path.abspath(run_dir)} holds a run whose model or data statistics settings differ from this "
            f"config ({listed}); resuming would silently continue the old model: use a new run_dir, or "
            "resume=false overwrite=true to start over in this one"
        )


def existing_checkpoints(checkpoint_dir: str) -> List[str]:
    """The ``.ckpt`` files in ``checkpoint_dir`` (sorted paths; empty if there is no such folder)."""
    if not os.path.isdir(checkpoint_dir):
        return []
    return sorted(os.path.join(checkpoint_dir, name) for name in os.listdir(checkpoint_dir) if name.endswith(".ckpt"))


def check_fresh_start(run_dir: str, checkpoints: List[str], overwrite: bool, resume: bool) -> None:
    """Starting over (``resume=false``, or no ``last.ckpt`` to resume from): earlier checkpoints in
    ``run_dir`` are an error unless ``overwrite``."""
    if checkpoints and not overwrite:
        names = ", ".join(os.path.basename(p) for p in checkpoints)
        why = "starting over (there is no last.ckpt to resume from)" if resume else "resume=false"
        raise ConfigError(
            f"{why} would overwrite the checkpoints of an earlier run in {os.path.abspath(run_dir)} ({names}); "
            "add overwrite=true to delete them and start over, or use a new run_dir"
        )
