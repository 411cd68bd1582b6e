"""Stopping a run before a non-finite loss or gradient reaches the weights, and never writing a
checkpoint whose weights are not finite.

A NaN or infinite loss or gradient (a bad frame, a learning rate that diverges) would turn every
weight NaN at the next optimizer step, and the run would go on to write NaN checkpoints and exit 0.
:class:`NonFiniteGuard` checks the step's loss and gradients just before the optimizer step and
raises :class:`NonFiniteError` naming the step and the frames of the batch (file and index in it),
so the last checkpoint written is the last finite one. ``nequip-train`` prints it as one line with
exit code 2 (``NonFiniteError`` is a :class:`~nequip.errors.UserError`, see nequip.utils.cli).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence

import lightning as L
import torch

from ..data import keys
from ..errors import UserError

# frames named in the message; a larger batch is summarised with a count
_MAX_NAMED_FRAMES = 20


class NonFiniteError(UserError):
    """A non-finite loss, gradient or weight; the message is one line that names where it came from."""


def batch_frame_names(batch: Mapping[str, torch.Tensor], source_paths: Sequence[str]) -> List[str]:
    """``["frame 3 of /data/train.xyz", ...]`` for the frames of ``batch`` (``frame_index`` and
    ``frame_source``, see nequip.data.dataset); ``source_paths`` is the DataModule's list of files.
    Frames without these keys are counted as ``frame k of the batch``."""
    if keys.FRAME_INDEX not in batch or keys.FRAME_SOURCE not in batch:
        return [f"frame {k} of the batch" for k in range(int(batch[keys.NUM_ATOMS].shape[0]))]
    names = []
    for index, source in zip(batch[keys.FRAME_INDEX].tolist(), batch[keys.FRAME_SOURCE].tolist()):
        path = source_paths[source] if 0 <= source < len(source_paths) else f"data file #{source}"
        names.append(f"frame {index} of {path}")
    return names


def _summary(names: List[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED_FRAMES])
    return shown + (f" and {len(names) - _MAX_NAMED_FRAMES} more" if len(names) > _MAX_NAMED_FRAMES else "")


def _all_finite(tensors: List[torch.Tensor]) -> torch.Tensor:
    """One 0-dim bool tensor: all entries of all ``tensors`` are finite (one reduction each, no sync)."""
    if not tensors:
        return torch.tensor(True)
    return torch.stack([t.isfinite().all() for t in tensors]).all()


class NonFiniteGuard(L.Callback):
    """Raises :class:`NonFiniteError` before an optimizer step whose loss or gradient is not finite.

    Reads the loss the LightningModule kept of the step (``last_train_loss``) and the gradients
    after backward (under DDP, already all-reduced). The ranks agree on the outcome with one
    all-reduce, and gather the names of their batches' frames, so every rank stops at the same step
    (no rank waits in a collective for one that has stopped) and the message names all the frames.

    A non-finite validation loss (the weights are finite, but the model gives NaN or inf on some
    validation frames) also stops the run, after validation and before any checkpoint of that epoch
    is written or marked best (Lightning runs checkpoint callbacks after the others); the message
    names the frames of the validation batches whose loss was not finite.
    """

    def __init__(self):
        self._batch: Optional[Dict[str, torch.Tensor]] = None
        self._bad_val_frames: List[str] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._batch = batch

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        loss = getattr(pl_module, "last_train_loss", None)
        loss_ok = _all_finite([loss] if loss is not None else [])
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        grads_ok = _all_finite(grads)
        bad = torch.stack([~loss_ok, ~grads_ok]).to(torch.int32).to(trainer.strategy.root_device)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized() and trainer.world_size > 1
        if distributed:
            torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MAX)
        if not bool(bad.any()):
            return
        datamodule = getattr(trainer, "datamodule", None)
        names = batch_frame_names(self._batch, getattr(datamodule, "source_paths", [])) if self._batch is not None else []
        if distributed:
            gathered: List[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, names)
            names = [name for rank_names in gathered for name in rank_names]
        what = "loss" if bool(bad[0]) else "gradient"
        value = f" ({float(loss):g})" if loss is not None and what == "loss" and trainer.world_size == 1 else ""
        raise NonFiniteError(
            f"non-finite {what}{value} at step {trainer.global_step} (epoch {trainer.current_epoch}); the batch holds "
            f"{_summary(names)}; stopped before the weights changed (checkpoints hold the last finite weights): "
            "check these frames (labels, geometry) or lower optimizer.lr"
        )


    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._bad_val_frames = []

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if torch.is_tensor(outputs) and not bool(outputs.isfinite().all()):
            datamodule = getattr(trainer, "datamodule", None)
            self._bad_val_frames += batch_frame_names(batch, getattr(datamodule, "source_paths", []))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # val/loss is reduced over ranks (sync_dist), so every rank takes the same decision here
        loss = trainer.callback_metrics.get("val/loss")
        if loss is None or bool(torch.as_tensor(loss).isfinite()):
            return
        names = self._bad_val_frames
        if torch.distributed.is_available() and torch.distributed.is_initialized() and trainer.world_size > 1:
            gathered: List[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, names)
            names = [name for rank_names in gathered for name in rank_names]
        raise NonFiniteError(
            f"non-finite validation loss after step {trainer.global_step} (epoch {trainer.current_epoch}): the model "
            f"gives NaN or inf on a validation batch holding {_summary(names)}; check these frames (geometry, "
            "labels); no checkpoint of this epoch was written"
        )


def check_finite_weights(state_dict: Mapping[str, torch.Tensor], path: str) -> None:
    """Raises :class:`NonFiniteError` naming ``path`` and the first tensor of ``state_dict`` (weights,
    buffers, EMA copy) with a NaN or infinite entry."""
    for name, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(value.isfinite().all()):
            raise NonFiniteError(f"refusing to write {path}: its weight '{name}' is not finite (NaN or inf)")
