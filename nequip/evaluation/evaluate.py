"""Evaluates a model on a data set: metrics (as in training) and the predicted/reference pairs."""

from typing import Dict, List, Tuple

import numpy as np
import torch

from ..data import keys
from ..data.batching import collate
from ..train.loss import per_atom_energy
from ..train.metrics import ModelMetrics


def evaluate(
    model: torch.nn.Module, dataset, type_names: List[str], batch_size: int = 16, device: str = "cpu"
) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """Returns ``(metrics, pairs)``. ``metrics`` has MAE/RMSE keys as logged in training (eV, Å);
    ``pairs`` maps ``energy_per_atom``, ``forces`` (and ``stress``) to ``[n, 2]`` arrays of
    (reference, prediction) over labelled entries, plus ``force_types`` (species index of each force
    component) for per-species plots."""
    metrics = ModelMetrics(type_names)
    collected: Dict[str, List[np.ndarray]] = {"energy_per_atom": [], "forces": [], "stress": [], "force_types": []}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    model.eval()
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = model(batch)
        metrics.update(pred, batch)
        if keys.TOTAL_ENERGY in batch:
            collected["energy_per_atom"].append(_pairs(per_atom_energy(batch), per_atom_energy(pred)))
        if keys.FORCES in batch:
            collected["forces"].append(_pairs(batch[keys.FORCES], pred[keys.FORCES]))
            types = batch[keys.ATOM_TYPES][:, None].expand(-1, 3)
            valid = ~torch.isnan(batch[keys.FORCES])
            collected["force_types"].append(types[valid].cpu().numpy())
        if keys.STRESS in batch:
            collected["stress"].append(_pairs(batch[keys.STRESS], pred[keys.STRESS]))
    pairs = {k: np.concatenate(v) for k, v in collected.items() if v}
    return metrics.compute(), pairs


def _pairs(reference: torch.Tensor, prediction: torch.Tensor) -> np.ndarray:
    valid = ~torch.isnan(reference)
    return torch.stack([reference[valid], prediction.detach()[valid]], dim=-1).cpu().double().numpy()
