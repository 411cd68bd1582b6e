"""The training loss: weighted per-atom energy, force and stress errors (MSE or Huber).

Labels missing from a frame are NaN in the batch (see nequip.data.batching) and are left out;
per-frame weights (key ``weight``) scale every term of that frame.
"""

from typing import Dict, Tuple

import torch

from ..data import keys
from ..errors import ConfigError, DataError


def _pointwise(function: str, huber_delta: float):
    if function == "mse":
        return lambda diff: diff.square()
    if function == "huber":
        return lambda diff: torch.nn.functional.huber_loss(
            diff, torch.zeros_like(diff), reduction="none", delta=huber_delta
        )
    raise ConfigError(f"loss.function must be 'mse' or 'huber', got '{function}'")


def masked_weighted_mean(pointwise, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of ``pointwise(pred - target)`` over the entries whose ``target`` is not NaN.

    ``weight`` ([B] or [N]) is broadcast over the trailing dimensions of ``pred``. A missing (NaN)
    target is replaced by ``pred`` itself (detached) *before* the difference, so its error is an
    exact zero and the backward pass never multiplies by NaN (masking afterwards would give
    ``0 * NaN = NaN`` gradients). Zero when no entry is labelled.
    """
    valid = ~torch.isnan(target)
    filled = torch.where(valid, target, pred.detach())
    w = weight.reshape(weight.shape + (1,) * (pred.dim() - weight.dim())).expand_as(pred) * valid
    return (pointwise(pred - filled) * w).sum() / w.sum().clamp_min(1e-12)


def per_atom_energy(data: Dict[str, torch.Tensor]) -> torch.Tensor:
    return data[keys.TOTAL_ENERGY] / data[keys.NUM_ATOMS].to(data[keys.TOTAL_ENERGY].dtype)


class EnergyForceStressLoss:
    """``loss = c_E * L(E/N) + c_F * L(F) + c_S * L(stress)``, each term a masked, weighted mean."""

    def __init__(self, energy: float, forces: float, stress: float, function: str = "mse", huber_delta: float = 0.01):
        self.coefficients = {"energy": energy, "forces": forces, "stress": stress}
        self.pointwise = _pointwise(function, huber_delta)

    def __call__(
        self, pred: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Returns the total loss and its terms (before coefficients)."""
        frame_weight = target.get(keys.FRAME_WEIGHT)
        if frame_weight is None:
            frame_weight = torch.ones_like(target[keys.NUM_ATOMS], dtype=pred[keys.TOTAL_ENERGY].dtype)
        terms: Dict[str, torch.Tensor] = {}
        if self.coefficients["energy"] and keys.TOTAL_ENERGY in target:
            ref = per_atom_energy(target)
            terms["energy"] = masked_weighted_mean(self.pointwise, per_atom_energy(pred), ref, frame_weight)
        if self.coefficients["forces"] and keys.FORCES in target:
            ref = target[keys.FORCES]
            atom_weight = frame_weight[target[keys.BATCH]]
            terms["forces"] = masked_weighted_mean(self.pointwise, pred[keys.FORCES], ref, atom_weight)
        if self.coefficients["stress"] and keys.STRESS in target:
            ref = target[keys.STRESS]
            terms["stress"] = masked_weighted_mean(self.pointwise, pred[keys.STRESS], ref, frame_weight)
        if not terms:
            raise DataError(
                "the batch has none of the labels the loss uses (total_energy, forces, stress with a nonzero "
                "coefficient); check the data file and the loss section of the config"
            )
        total = sum(self.coefficients[name] * value for name, value in terms.items())
        return total, terms
