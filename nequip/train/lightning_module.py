"""The LightningModule: the science of training (model, loss, metrics, EMA, optimizer, schedule).
Devices, DDP, checkpoints and loggers belong to the Trainer (see :mod:`.trainer`)."""

from typing import Any, Dict, Union

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from ..config import TrainConfig, config_to_dict
from ..data import keys
from ..model import build_model
from ..model.spec import ModelSpec
from ..model.compiled import compile_gradients
from ..model.fine_tune import load_initial_weights
from .ema import WarmupEMA
from .loss import EnergyForceStressLoss
from .metrics import ModelMetrics

# the sections of the validated config that the LightningModule reads
TRAIN_CONFIG_KEYS = ("loss", "optimizer", "scheduler", "ema_decay", "initialize_from", "compile_mode")


def train_config_of(config: TrainConfig) -> Dict[str, Any]:
    """Those sections as plain data (they are saved in checkpoints, which hold no classes)."""
    plain = config_to_dict(config)
    return {key: plain[key] for key in TRAIN_CONFIG_KEYS}


class NequIPLightningModule(L.LightningModule):
    """Trains a model built from ``spec`` (see nequip.model.spec) with the ``train_config`` sections
    (``TRAIN_CONFIG_KEYS``) of the validated config.

    With EMA on, validation, test and export use the EMA weights (``self.ema.module``), whose decay
    warms up over the first steps (nequip.train.ema). With
    ``compile_mode: compile`` the trained model runs through ``torch.compile`` (nequip.model.compiled);
    the EMA copy, used only for validation and test, runs eager.
    """

    def __init__(self, spec: Union[ModelSpec, Dict[str, Any]], train_config: Dict[str, Any]):
        super().__init__()
        if not isinstance(spec, ModelSpec):  # the plain form, as Lightning passes it back from a checkpoint
            spec = ModelSpec.from_dict(spec)
        # checkpoints hold plain data only, so that they load with torch.load(weights_only=True)
        self.save_hyperparameters({"spec": spec.to_dict(), "train_config": train_config})
        self.model = build_model(spec)
        if train_config["initialize_from"]:  # fine-tuning; a resumed run then loads its checkpoint over it
            new_species = load_initial_weights(self.model, train_config["initialize_from"])
            if new_species:
                rank_zero_info(f"initialize_from: new species {new_species} start from fresh weights")
        decay = train_config["ema_decay"]
        self.ema = WarmupEMA(self.model, decay) if decay > 0 else None
        if self.ema is not None:
            # averaged, never trained by gradients (DDP would also flag them as unused parameters)
            self.ema.requires_grad_(False)
        # after the EMA copy, which stays eager: the copy must not share the trained model's compiled function
        self.compiled = compile_gradients(self.model) if train_config["compile_mode"] == "compile" else None
        self.loss_fn = EnergyForceStressLoss(**train_config["loss"])
        self.last_train_loss = None
        self.metrics = torch.nn.ModuleDict({f"{stage}_metrics": ModelMetrics(list(spec.type_names)) for stage in ("train", "val", "test")})

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights used for validation, test and export: EMA if enabled."""
        return self.ema.module if self.ema is not None else self.model

    def forward(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return self.eval_model(batch)

    def training_step(self, batch: Dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred = self.model(batch)
        loss, terms = self.loss_fn(pred, batch)
        self.last_train_loss = loss.detach()  # checked with the gradients by NonFiniteGuard
        num_frames = int(batch[keys.NUM_ATOMS].shape[0])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=num_frames)
        for name, value in terms.items():
            self.log(f"train/loss_{name}", value, batch_size=num_frames)
        self.metrics["train_metrics"].update(pred, batch)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def _evaluate(self, batch: Dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        with torch.enable_grad():  # forces and stress are derivatives, also outside training
            pred = self.eval_model(batch)
        loss, _ = self.loss_fn(pred, batch)
        self.log(f"{stage}/loss", loss, batch_size=int(batch[keys.NUM_ATOMS].shape[0]), sync_dist=True, prog_bar=stage == "val")
        self.metrics[f"{stage}_metrics"].update(pred, batch)
        return loss

    def validation_step(self, batch: Dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "test")

    def _log_metrics(self, stage: str) -> None:
        # compute() has already summed over ranks; sync_dist only tells Lightning the value is global
        for name, value in self.metrics[f"{stage}_metrics"].compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=stage == "val" and name == "forces_mae", sync_dist=True)
        self.metrics[f"{stage}_metrics"].reset()

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")
        if self.compiled is not None:
            self.log("compile/recompilations", float(self.compiled.recompilations))

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self):
        opt = self.hparams.train_config["optimizer"]
        sched = self.hparams.train_config["scheduler"]
        optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt["name"]]
        # fused: one kernel over all parameters (CPU and CUDA), 3.6x faster than the per-tensor loop on
        # a small model's CPU step; the same update
        optimizer = optimizer_class(
            self.model.parameters(), lr=opt["lr"], weight_decay=opt["weight_decay"], amsgrad=opt["amsgrad"], fused=True
        )
        if sched["name"] == "none":
            return optimizer
        if sched["name"] == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=sched["factor"], patience=sched["patience"], min_lr=sched["min_lr"]
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"}}
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, int(self.trainer.estimated_stepping_batches)), eta_min=sched["min_lr"]
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
