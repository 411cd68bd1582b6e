"""The value checks of a typed config: ranges, and rules that span several keys. Types, choices and
key names are checked by omegaconf against :mod:`.schema`; everything else is here, in one place."""

import dataclasses

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger

from ..errors import ConfigError
from ..ops.modules import BACKENDS
from .classes import resolve_class
from .origin import Origin
from .schema import SchedulerName, TrainConfig

BUILTIN_LOGGERS = ("csv", "tensorboard", "wandb")
# integer model hyperparameters may be 0 only where listed (all others: >= 1)
_MODEL_INT_MINIMUM = {"l_max": 0, "radial_mlp_depth": 0}


def _require(ok: bool, origin: Origin, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{origin.of(key)}: {message}")


def check_values(config: TrainConfig, origin: Origin) -> None:
    """Raises :class:`ConfigError` naming the value's origin (file and line, or command line) and the fix."""
    _require(len(set(config.type_names)) == len(config.type_names), origin, "type_names",
             f"type_names {config.type_names} lists a species twice; list each once")
    _require(config.r_max > 0, origin, "r_max", f"'r_max' (cutoff radius in Å) must be positive, got {config.r_max}")
    _check_model(config, origin)
    _check_data(config, origin)
    _check_training(config, origin)
    for index, entry in enumerate(config.logging.loggers):
        key = f"logging.loggers[{index}]"
        if isinstance(entry, dict):
            resolve_class(entry, key, origin.of("logging.loggers"), Logger)
        else:
            _require(entry in BUILTIN_LOGGERS, origin, "logging.loggers",
                     f"unknown logger '{entry}' in logging.loggers; choose from {', '.join(BUILTIN_LOGGERS)} or give {{class: import.path.Logger, ...}}")
    for index, entry in enumerate(config.callbacks):
        resolve_class(entry, f"callbacks[{index}]", origin.of("callbacks"), Callback)


def _check_model(config: TrainConfig, origin: Origin) -> None:
    for field in dataclasses.fields(config.model):
        value, key = getattr(config.model, field.name), f"model.{field.name}"
        minimum = _MODEL_INT_MINIMUM.get(field.name, 1)
        if type(value) is int:
            _require(value >= minimum, origin, key, f"{key} must be >= {minimum}, got {value}")
    backend = getattr(config.model, "tp_backend", None)
    if backend is not None:
        _require(backend in BACKENDS, origin, "model.tp_backend",
                 f"'model.tp_backend' is '{backend}'; choose one of {', '.join(BACKENDS)}")


def _check_data(config: TrainConfig, origin: Origin) -> None:
    data = config.data
    split = data.split
    _require(len(split) == 3 and all(s >= 0 for s in split) and abs(sum(split) - 1.0) <= 1e-6 and split[0] > 0, origin,
             "data.split", f"data.split must be three fractions (train, val, test) summing to 1, got {list(split)}")
    _require(data.batch_size >= 1, origin, "data.batch_size", f"data.batch_size must be >= 1, got {data.batch_size}")
    _require(data.val_batch_size >= 1, origin, "data.val_batch_size", f"data.val_batch_size must be >= 1, got {data.val_batch_size}")
    _require(data.num_workers >= 0, origin, "data.num_workers", f"data.num_workers must be >= 0, got {data.num_workers}")
    _require(data.min_distance >= 0, origin, "data.min_distance", f"data.min_distance (Å) must be >= 0, got {data.min_distance}")


def _check_training(config: TrainConfig, origin: Origin) -> None:
    if config.scheduler.name == SchedulerName.plateau:
        _require(config.data.val is not None or config.data.split[1] > 0, origin, "scheduler.name",
                 f"scheduler 'plateau' follows val/loss, but there is no validation data (data.split {list(config.data.split)} "
                 "and no data.val); give a validation fraction in data.split or a data.val file, or set scheduler.name to cosine or none")
        _require(config.trainer.limit_val_batches != 0, origin, "trainer.limit_val_batches",
                 "scheduler 'plateau' follows val/loss, but trainer.limit_val_batches=0 turns validation off; "
                 "set scheduler.name to cosine or none")
    _require(config.optimizer.lr > 0, origin, "optimizer.lr", f"optimizer.lr must be positive, got {config.optimizer.lr}")
    _require(config.optimizer.weight_decay >= 0, origin, "optimizer.weight_decay",
             f"optimizer.weight_decay must be >= 0, got {config.optimizer.weight_decay}")
    for term in ("energy", "forces", "stress"):
        value = getattr(config.loss, term)
        _require(value >= 0, origin, f"loss.{term}", f"loss.{term} (a loss coefficient) must be >= 0, got {value}")
    _require(config.loss.huber_delta > 0, origin, "loss.huber_delta", f"loss.huber_delta must be positive, got {config.loss.huber_delta}")
    _require(config.num_threads is None or config.num_threads >= 1, origin, "num_threads",
             f"num_threads must be >= 1 (or null for torch's default), got {config.num_threads}")
    _require(0.0 <= config.ema_decay < 1.0, origin, "ema_decay", f"ema_decay must be in [0, 1), got {config.ema_decay}")
