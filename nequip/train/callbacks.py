"""Training callbacks: a clean save-and-stop on SIGTERM (SLURM preemption and time limits) and
SIGINT (Ctrl-C), so that rerunning the same command resumes where the run stopped."""

import os
import signal

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class SaveOnInterrupt(L.Callback):
    """Writes ``last_checkpoint`` (atomically) when training stops on SIGTERM or SIGINT.

    Lightning turns SIGTERM into :class:`SIGTERMException` between two optimizer steps, on all DDP
    ranks at the same step (rank 0's flag is broadcast), so the checkpoint is consistent and every
    rank reaches the save together. SIGINT is forwarded as SIGTERM to take the same path.
    """

    def __init__(self, last_checkpoint: str):
        self.last_checkpoint = last_checkpoint
        self._previous = None

    @staticmethod
    def _forward_as_sigterm(signum, frame) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._previous = signal.signal(signal.SIGINT, self._forward_as_sigterm)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if not isinstance(exception, SIGTERMException):
            return
        trainer.save_checkpoint(self.last_checkpoint)
        rank_zero_info(
            f"interrupted: saved {os.path.abspath(self.last_checkpoint)} at step {trainer.global_step}; "
            "rerun the same command to resume"
        )
