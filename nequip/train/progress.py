"""Training progress for log files and non-terminals: plain lines every N steps and after each
validation, with elapsed time and an estimate of the time left (a terminal gets Lightning's bar).

The lines are INFO records of the ``nequip.train.progress`` logger; ``nequip-train`` shows them as
they are on stdout (``--quiet`` hides them, see nequip.utils.cli)."""

import logging
import time
from typing import Optional

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ..utils.display_units import DISPLAY_UNITS


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


_log = logging.getLogger(__name__)


class PlainProgress(L.Callback):
    """Logs ``epoch E step S  loss L  elapsed T  ETA T`` every ``every_n_steps`` optimizer steps and
    a line of validation metrics after each validation (``nequip-train`` writes each line at once,
    readable with ``tail -f``)."""

    def __init__(self, every_n_steps: int = 50):
        self.every_n_steps = max(1, every_n_steps)
        self._start = 0.0
        self._start_step = 0

    def _print(self, text: str) -> None:
        _log.info(text)

    def _eta(self, trainer: L.Trainer) -> Optional[float]:
        done = trainer.global_step - self._start_step
        if done <= 0:
            return None
        per_step = (time.time() - self._start) / done
        remaining_steps = trainer.estimated_stepping_batches - trainer.global_step
        eta = remaining_steps * per_step if remaining_steps < float("inf") else None
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        if timer is not None and timer.time_remaining() is not None:
            eta = min(eta, timer.time_remaining()) if eta is not None else timer.time_remaining()
        return eta

    @rank_zero_only
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._start_step = time.time(), trainer.global_step
        self._print(f"training: {trainer.estimated_stepping_batches} steps at most, from step {trainer.global_step}")

    @rank_zero_only
    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        loss = trainer.callback_metrics.get("train/loss_step")
        eta = self._eta(trainer)
        self._print(
            f"epoch {trainer.current_epoch} step {trainer.global_step}"
            + (f"  loss {float(loss):.5g}" if loss is not None else "")
            + f"  elapsed {_duration(time.time() - self._start)}"
            + (f"  ETA {_duration(eta)}" if eta is not None else "")
        )

    @rank_zero_only
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch} validation"]
        if "val/loss" in m:
            parts.append(f"loss {float(m['val/loss']):.5g}")
        for name in ("energy_per_atom", "forces"):
            shown = DISPLAY_UNITS[name]
            if f"val/{name}_mae" in m:
                parts.append(f"{shown.short} MAE {float(m[f'val/{name}_mae']) * shown.factor:.2f} {shown.unit}")
        self._print("  ".join(parts))
