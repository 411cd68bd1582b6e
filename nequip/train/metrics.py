"""Error metrics of a model on labelled frames: MAE and RMSE of per-atom energy (eV/atom), forces
(eV/Å) and stress (eV/Å^3), and the force MAE of each species.

Sums are accumulated as torchmetrics states, so under DDP they are added over ranks before the
division (exact means, not means of means).
"""

from typing import Dict, List, Optional

import warnings

import torch
from torchmetrics import Metric

from ..data import keys
from .loss import per_atom_energy


class ErrorStats(Metric):
    """Accumulates ``sum |e|``, ``sum e^2`` and the count over non-NaN label entries."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("abs_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sq_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor, rows: Optional[torch.Tensor] = None) -> None:
        """Adds the entries of the ``rows`` (a boolean mask over the first dimension; all if None)
        whose label is not NaN. Masked, not indexed: no host synchronisation in a training step."""
        valid = ~torch.isnan(target)
        if rows is not None:
            valid = valid & rows.reshape(-1, *([1] * (target.dim() - 1)))
        err = torch.where(valid, pred.detach() - target, 0.0).to(torch.float64)
        self.abs_sum += err.abs().sum()
        self.sq_sum += err.square().sum()
        self.count += valid.sum()

    def compute(self) -> Dict[str, torch.Tensor]:
        n = self.count.clamp_min(1.0)
        return {"mae": self.abs_sum / n, "rmse": (self.sq_sum / n).sqrt(), "count": self.count}


class ModelMetrics(torch.nn.Module):
    """All metrics of one stage (train, val or test); :meth:`compute` returns a flat dict such as
    ``{"forces_mae": ..., "energy_per_atom_rmse": ..., "forces_mae_Cu": ...}`` for what was seen."""

    def __init__(self, type_names: List[str]):
        super().__init__()
        self.type_names = list(type_names)
        self.stats = torch.nn.ModuleDict(
            {name: ErrorStats() for name in ["energy_per_atom", "forces", "stress"]}
        )
        self.per_species = torch.nn.ModuleDict({t: ErrorStats() for t in self.type_names})

    def update(self, pred: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor]) -> None:
        if keys.TOTAL_ENERGY in target:
            self.stats["energy_per_atom"].update(per_atom_energy(pred), per_atom_energy(target))
        if keys.FORCES in target:
            self.stats["forces"].update(pred[keys.FORCES], target[keys.FORCES])
            types = target[keys.ATOM_TYPES]
            for index, name in enumerate(self.type_names):
                self.per_species[name].update(pred[keys.FORCES], target[keys.FORCES], rows=types == index)
        if keys.STRESS in target and keys.STRESS in pred:
            self.stats["stress"].update(pred[keys.STRESS], target[keys.STRESS])

    def compute(self) -> Dict[str, float]:
        """Every rank must call this (the sums are reduced over ranks); keys without data are left out."""
        out: Dict[str, float] = {}
        named = [(f"{name}_{{}}", stat, ("mae", "rmse")) for name, stat in self.stats.items()]
        named += [(f"forces_{{}}_{name}", stat, ("mae",)) for name, stat in self.per_species.items()]
        for pattern, stat, kinds in named:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "compute called before update" on a quantity not seen
                values = stat.compute()
            if float(values["count"]) > 0:
                out.update({pattern.format(kind): float(values[kind]) for kind in kinds})
        return out

    def reset(self) -> None:
        for stat in list(self.stats.values()) + list(self.per_species.values()):
            stat.reset()
