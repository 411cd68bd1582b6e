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


@pytest.mark.parametrize("function", ["mse", "huber"])
def test_missing_labels_give_finite_gradients(function):
    """A frame without energy and atoms without forces or stress: the gradient is finite and equals
    the gradient of the loss over the labelled entries only (no 0 * NaN in the backward pass)."""
    nan = math.nan
    energy = torch.tensor([2.0, 1.0], dtype=torch.float64, requires_grad=True)
    forces = torch.tensor([[1.0, 0.5, 0], [0, -1.0, 0], [0.3, 0, 0]], dtype=torch.float64, requires_grad=True)
    stress = torch.ones(2, 3, 3, dtype=torch.float64, requires_grad=True)
    pred = dict(batch([0.0, 0.0], [[0.0] * 3] * 3), total_energy=energy, forces=forces, stress=stress)
    target = batch([nan, 0.5], [[nan] * 3, [nan] * 3, [0.0] * 3], stress=[[[nan] * 3] * 3, [[0.0] * 3] * 3])
    loss, terms = EnergyForceStressLoss(1.0, 1.0, 1.0, function=function, huber_delta=0.5)(pred, target)
    loss.backward()
    for grad in (energy.grad, forces.grad, stress.grad):
        assert torch.isfinite(grad).all()
    assert energy.grad[0].item() == 0.0 and (forces.grad[:2] == 0).all() and (stress.grad[0] == 0).all()
    # the labelled entries get the gradient of their own error
    expected_e = 2 * (1.0 - 0.5) if function == "mse" else 0.5  # huber: linear beyond delta (slope delta)
    assert energy.grad[1].item() == pytest.approx(expected_e)
    assert forces.grad[2, 0].item() == pytest.approx((2 * 0.3 if function == "mse" else 0.3) / 3)
    assert torch.isfinite(loss) and terms["energy"].item() == pytest.approx(0.25 if function == "mse" else 0.5 * (0.5 - 0.25))


def test_all_labels_missing_gives_zero_loss_and_zero_gradient():
    nan = math.nan
    energy = torch.tensor([2.0, 1.0], dtype=torch.float64, requires_grad=True)
    pred = dict(batch([0.0, 0.0], [[0.0] * 3] * 3), total_energy=energy)
    target = {k: v for k, v in batch([nan, nan], [[0.0] * 3] * 3).items() if k != keys.FORCES}
    loss, _ = EnergyForceStressLoss(1.0, 0.0, 0.0)(pred, target)
    loss.backward()
    assert loss.item() == 0.0 and (energy.grad == 0).all()
