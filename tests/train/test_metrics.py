"""Training and validation metrics against direct computations, with NaN labels (missing entries)
and per-species force errors, accumulated over several batches."""

import torch

from nequip.data import keys
from nequip.train.metrics import ModelMetrics


def _batch(seed: int, num_atoms: int, nan_rows=()):
    g = torch.Generator().manual_seed(seed)
    target = {
        keys.ATOM_TYPES: torch.randint(0, 3, (num_atoms,), generator=g),
        keys.FORCES: torch.randn(num_atoms, 3, generator=g, dtype=torch.float64),
        keys.TOTAL_ENERGY: torch.randn(2, generator=g, dtype=torch.float64),
        keys.NUM_ATOMS: torch.tensor([num_atoms // 2, num_atoms - num_atoms // 2]),
    }
    target[keys.FORCES][list(nan_rows)] = float("nan")
    pred = {name: value + 0.1 * torch.randn(value.shape, generator=g, dtype=value.dtype) if value.is_floating_point() else value
            for name, value in target.items()}
    pred[keys.FORCES] = torch.nan_to_num(pred[keys.FORCES])  # a model never predicts NaN here
    return pred, target


def test_metrics_equal_direct_computation():
    batches = [_batch(0, 9, nan_rows=(2, 5)), _batch(1, 6), _batch(2, 11, nan_rows=(0,))]
    metrics = ModelMetrics(["H", "C", "O"])
    for pred, target in batches:
        metrics.update(pred, target)
    got = metrics.compute()

    errors = torch.cat([p[keys.FORCES] - t[keys.FORCES] for p, t in batches])
    types = torch.cat([t[keys.ATOM_TYPES] for _, t in batches])
    valid = ~errors.isnan()
    assert abs(got["forces_mae"] - errors[valid].abs().mean().item()) < 1e-12
    assert abs(got["forces_rmse"] - errors[valid].square().mean().sqrt().item()) < 1e-12
    for index, name in enumerate(["H", "C", "O"]):
        species = errors[types == index]
        assert abs(got[f"forces_mae_{name}"] - species[~species.isnan()].abs().mean().item()) < 1e-12
    per_atom = torch.cat([(p[keys.TOTAL_ENERGY] - t[keys.TOTAL_ENERGY]) / t[keys.NUM_ATOMS] for p, t in batches])
    assert abs(got["energy_per_atom_mae"] - per_atom.abs().mean().item()) < 1e-12
    assert "stress_mae" not in got  # never seen: left out
