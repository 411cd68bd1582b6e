"""Builds the ``lightning.Trainer`` from the validated config: loggers, checkpoints, interrupts."""

import dataclasses
import os
import sys
from typing import List

import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger

from ..config import ConfigError, TrainConfig
from ..config.classes import instantiate
from .callbacks import SaveOnInterrupt, TrackEpochPosition
from .checkpoint_io import AtomicCheckpointIO
from .nonfinite import NonFiniteGuard
from .progress import PlainProgress


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def last_checkpoint(run_dir: str) -> str:
    return os.path.join(checkpoint_dir(run_dir), "last.ckpt")


def best_checkpoint(run_dir: str) -> str:
    return os.path.join(checkpoint_dir(run_dir), "best.ckpt")


def _loggers(config: TrainConfig) -> List[Logger]:
    """Each start or resume logs into a new ``version_N`` folder: Lightning's CSV logger would
    otherwise delete the metrics file of the interrupted run."""
    run_dir, logging = config.run_dir, config.logging
    loggers = []
    for entry in logging.loggers:
        if isinstance(entry, dict):
            loggers.append(instantiate(entry, Logger))
        elif entry == "csv":
            loggers.append(L.pytorch.loggers.CSVLogger(run_dir, name="logs"))
        elif entry == "tensorboard":
            loggers.append(L.pytorch.loggers.TensorBoardLogger(run_dir, name="tensorboard"))
        elif entry == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                raise ConfigError("logging.loggers has 'wandb' but wandb is not installed: pip install wandb") from None
            mode = logging.wandb_mode.value
            loggers.append(
                L.pytorch.loggers.WandbLogger(project=logging.wandb_project, save_dir=run_dir, offline=mode != "online", mode=mode)
            )
    return loggers


def build_trainer(config: TrainConfig) -> L.Trainer:
    """A Trainer writing to ``run_dir``: ``checkpoints/last.ckpt`` (every epoch and on interrupt),
    ``checkpoints/best.ckpt`` (lowest ``val/loss``), ``logs/version_N/metrics.csv`` and others; with
    the config's extra ``callbacks`` after ours."""
    run_dir = config.run_dir
    callbacks = [
        TrackEpochPosition(),
        ModelCheckpoint(
            dirpath=checkpoint_dir(run_dir), filename="best", monitor="val/loss", mode="min",
            save_last=True, save_top_k=1, enable_version_counter=False,
        ),
        SaveOnInterrupt(last_checkpoint(run_dir)),
        NonFiniteGuard(),
    ]
    callbacks += [instantiate(entry, Callback) for entry in config.callbacks]
    loggers = _loggers(config)
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    trainer_args = dataclasses.asdict(config.trainer)
    # a live bar on a terminal; plain periodic lines in a log file or pipe
    trainer_args["enable_progress_bar"] = trainer_args["enable_progress_bar"] and sys.stdout.isatty()
    if not trainer_args["enable_progress_bar"]:
        callbacks.append(PlainProgress(every_n_steps=trainer_args["log_every_n_steps"]))
    return L.Trainer(
        default_root_dir=run_dir,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        inference_mode=False,  # validation needs autograd for forces
        use_distributed_sampler=False,  # the DataModule shards frames per rank itself (no duplicates)
        num_sanity_val_steps=0,
        **trainer_args,
    )
