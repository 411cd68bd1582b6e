"""Training callbacks: a clean save-and-stop on SIGTERM / SIGINT, so that rerunning the same command
resumes where the run stopped."""

import os
import signal

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class SaveOnInterrupt(L.Callback):
    """On SIGTERM (Lightning catches it) or SIGINT (Ctrl-C), finishes the current optimizer step, writes
    ``last_checkpoint`` (atomically) and stops with :class:`SIGTERMException`."""

    def __init__(self, last_checkpoint: str):
        self.last_checkpoint = last_checkpoint
        self._sigint = False
        self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        self._sigint = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not (self._sigint or trainer.received_sigterm):
            return
        trainer.save_checkpoint(self.last_checkpoint)
        rank_zero_info(
            f"interrupted: saved {os.path.abspath(self.last_checkpoint)} at step {trainer.global_step}; "
            "rerun the same command to resume"
        )
        raise SIGTERMException()
