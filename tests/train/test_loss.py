"""The loss leaves out missing labels (NaN), applies per-frame weights, and supports Huber."""

import math

import pytest
import torch

from nequip.data import keys
from nequip.train.loss import EnergyForceStressLoss


def batch(energy, forces, stress=None, weight=None):
    data = {
        keys.NUM_ATOMS: torch.tensor([2, 1]),
        keys.BATCH: torch.tensor([0, 0, 1]),
        keys.TOTAL_ENERGY: torch.tensor(energy, dtype=torch.float64),
        keys.FORCES: torch.tensor(forces, dtype=torch.float64),
    }
    if stress is not None:
        data[keys.STRESS] = torch.tensor(stress, dtype=torch.float64)
    if weight is not None:
        data[keys.FRAME_WEIGHT] = torch.tensor(weight, dtype=torch.float64)
    return data


PRED = batch([2.0, 1.0], [[1.0, 0, 0], [0, 0, 0], [0, 0, 0]], stress=torch.zeros(2, 3, 3).tolist())


def test_mse_terms():
    target = batch([0.0, 0.0], [[0.0] * 3] * 3)
    loss, terms = EnergyForceStressLoss(1.0, 2.0, 0.0)(PRED, target)
    assert terms["energy"].item() == pytest.approx((1.0**2 + 1.0**2) / 2)  # per-atom energies 1 and 1
    assert terms["forces"].item() == pytest.approx(1.0 / 9)
    assert loss.item() == pytest.approx(1.0 + 2.0 / 9)


def test_missing_labels_are_left_out():
    nan = math.nan
    target = batch([nan, 0.0], [[nan] * 3, [nan] * 3, [0.0] * 3])
    _, terms = EnergyForceStressLoss(1.0, 1.0, 0.0)(PRED, target)
    assert terms["energy"].item() == pytest.approx(1.0)  # only frame 1 (one atom, error 1)
    assert terms["forces"].item() == pytest.approx(0.0)  # only atom 2, which has zero error


def test_frame_weights():
    target = batch([0.0, 0.0], [[0.0] * 3] * 3, weight=[1.0, 0.0])
    _, terms = EnergyForceStressLoss(1.0, 1.0, 0.0)(PRED, target)
    assert terms["energy"].item() == pytest.approx(1.0)
    assert terms["forces"].item() == pytest.approx(1.0 / 6)  # frame 0's two atoms only


def test_huber_is_quadratic_then_linear():
    target = batch([0.0, 0.0], [[0.0] * 3] * 3)
    _, terms = EnergyForceStressLoss(0.0, 1.0, 0.0, function="huber", huber_delta=0.5)(PRED, target)
    assert terms["forces"].item() == pytest.approx(0.5 * (1.0 - 0.25) / 9)


def test_no_usable_label_is_clear_error():
    target = {k: v for k, v in batch([0.0, 0.0], [[0.0] * 3] * 3).items() if k not in (keys.FORCES, keys.TOTAL_ENERGY)}
    with pytest.raises(ValueError, match="none of the labels"):
        EnergyForceStressLoss(1.0, 1.0, 0.0)(PRED, target)
