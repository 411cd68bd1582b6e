"""Training callbacks: the loader's position inside the epoch, and a clean save-and-stop on SIGTERM
(SLURM preemption and time limits) and SIGINT (Ctrl-C), so that rerunning the same command resumes
where the run stopped."""

import os
import signal

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from ..data.sampler import ResumableLoader


class TrackEpochPosition(L.Callback):
    """Tells the training loader how many batches of this epoch finished training, so that its
    checkpointed state resumes at the next unseen batch. The hooks' ``batch_idx`` counts from the
    start of the epoch, across a resume (Lightning restores it with the loop's progress)."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            loader.batches_done = batch_idx + 1


class SaveOnInterrupt(L.Callback):
    """Writes ``last_checkpoint`` (atomically) when training stops on SIGTERM or SIGINT.

    The signal handler only notes the request. At the end of each training batch the ranks agree on
    it with one all-reduce, so every DDP rank stops after the same step, whichever rank (or all, under
    SLURM) got the signal; Lightning then raises :class:`SIGTERMException` at its next check on all
    ranks together, and the checkpoint is consistent. (Lightning's own handler broadcasts from inside
    the signal handler, which can pair with another collective and hang a DDP run.)
    """

    def __init__(self, last_checkpoint: str):
        self.last_checkpoint = last_checkpoint
        self._previous = {}
        self._requested = False

    def _note_request(self, signum, frame) -> None:
        self._requested = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._requested = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._note_request)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        requested = self._requested
        if torch.distributed.is_available() and torch.distributed.is_initialized() and trainer.world_size > 1:
            flag = torch.tensor([int(requested)], device=trainer.strategy.root_device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            requested = bool(flag.item())
        if requested:
            # Lightning raises SIGTERMException at the end of this step, after its progress counters
            trainer._signal_connector.received_sigterm = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if not isinstance(exception, SIGTERMException):
            return
        trainer.save_checkpoint(self.last_checkpoint)
        rank_zero_info(
            f"interrupted: saved {os.path.abspath(self.last_checkpoint)} at step {trainer.global_step}; "
            "rerun the same command to resume"
        )
