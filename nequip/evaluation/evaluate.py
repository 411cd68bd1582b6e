"""Evaluates a model on a data set: metrics (as in training) and the predicted/reference pairs."""

from typing import Dict, List, Tuple

import numpy as np
import torch

from ..data import keys
from ..data.batching import collate
from ..errors import DataError, ModelFileError
from ..train.loss import per_atom_energy
from ..train.metrics import ModelMetrics


def evaluate(
    model: torch.nn.Module, dataset, type_names: List[str], batch_size: int = 16, device: str = "cpu"
) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """Returns ``(metrics, pairs)``. ``metrics`` has MAE/RMSE keys as logged in training (eV, Å);
    ``pairs`` maps ``energy_per_atom``, ``forces`` (and ``stress``) to ``[n, 2]`` arrays of
    (reference, prediction) over labelled entries, plus ``force_types`` (species index of each force
    component) for per-species plots. Raises ``ValueError`` naming the frames (indices into
    ``dataset``) where the model predicts a NaN or infinite energy, force or stress, and when a metric
    is not finite (an infinite label): no metric is ever NaN."""
    metrics = ModelMetrics(type_names)
    collected: Dict[str, List[np.ndarray]] = {"energy_per_atom": [], "forces": [], "stress": [], "force_types": []}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    model.eval()
    first = 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = model(batch)
        _check_finite_predictions(pred, batch, first)
        first += int(batch[keys.NUM_ATOMS].numel())
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
    computed = metrics.compute()
    bad = sorted(k for k, v in computed.items() if not np.isfinite(v))
    if bad:
        raise DataError(f"metrics {', '.join(bad)} are not finite: the data has infinite labels; fix or drop those frames")
    return computed, pairs


def _check_finite_predictions(pred: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor], first: int) -> None:
    """Raises :class:`ModelFileError` naming the frames (``first`` = dataset index of the batch's first frame)
    with a non-finite predicted energy, force or stress."""
    num_frames = int(batch[keys.NUM_ATOMS].numel())
    bad = torch.zeros(num_frames, dtype=torch.bool, device=batch[keys.NUM_ATOMS].device)
    for key in (keys.TOTAL_ENERGY, keys.STRESS):
        if key in pred:
            bad |= ~torch.isfinite(pred[key].detach().reshape(num_frames, -1)).all(dim=1)
    if keys.FORCES in pred:
        atom_bad = ~torch.isfinite(pred[keys.FORCES].detach()).all(dim=1)
        bad.index_put_((batch[keys.BATCH][atom_bad],), torch.ones((), dtype=torch.bool, device=bad.device))
    if bool(bad.any()):
        frames = (torch.nonzero(bad).flatten() + first).tolist()
        shown = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
        raise ModelFileError(
            f"the model predicts NaN or infinite energies/forces/stress for frame(s) {shown} of the data; "
            f"check those frames for atoms on top of each other, or the model for non-finite weights"
        )


def _pairs(reference: torch.Tensor, prediction: torch.Tensor) -> np.ndarray:
    valid = ~torch.isnan(reference)
    return torch.stack([reference[valid], prediction.detach()[valid]], dim=-1).cpu().double().numpy()
