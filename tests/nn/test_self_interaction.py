"""The species self-interaction (nequip.nn.self_interaction) against the e3nn tensor product it
stands for: same weights and layout, same values and derivatives (what force training uses)."""

import pytest
import torch
from e3nn import o3

from helpers import relative_error
from nequip.nn.self_interaction import SpeciesSelfInteraction

pytestmark = pytest.mark.usefixtures("float64_default")

LAYOUTS = [
    ("32x0e+32x1o", "32x0e+32x0e+32x1o"),  # NequIP l_max 1 (features + gates)
    ("4x0e+2x0e+3x1o+2x1e+2x2e", "5x0e+3x1o+2x2e+3x2o"),  # repeated irreps; 2o reached by nothing
]


def _pair(irreps_in, irreps_out, num_types):
    fast = SpeciesSelfInteraction(o3.Irreps(irreps_in), o3.Irreps(f"{num_types}x0e"), o3.Irreps(irreps_out))
    reference = o3.FullyConnectedTensorProduct(o3.Irreps(irreps_in), o3.Irreps(f"{num_types}x0e"), o3.Irreps(irreps_out))
    reference.load_state_dict(fast.state_dict())  # the same parameters: checkpoints load either way
    return fast, reference


@pytest.mark.parametrize("irreps_in,irreps_out", LAYOUTS)
@pytest.mark.parametrize("num_types", [1, 3])
def test_equals_e3nn_with_derivatives(irreps_in, irreps_out, num_types):
    fast, reference = _pair(irreps_in, irreps_out, num_types)
    g = torch.Generator().manual_seed(num_types)
    features = torch.randn(9, fast.irreps_in1.dim, generator=g)
    types = torch.nn.functional.one_hot(torch.randint(0, num_types, (9,), generator=g), num_types).double()

    def derivatives(module):
        x = features.clone().requires_grad_()
        out = module(x, types)
        probe = torch.cos(torch.arange(out.numel(), dtype=out.dtype)).reshape(out.shape)
        (grad_x,) = torch.autograd.grad((out * probe).sum(), x, create_graph=True)
        (grad_w,) = torch.autograd.grad(grad_x.square().sum(), module.weight)
        return out, grad_x, grad_w

    for got, expected in zip(derivatives(fast), derivatives(reference)):
        assert relative_error(got, expected) < 1e-12


def test_types_must_be_scalars():
    with pytest.raises(ValueError, match="one block of scalars"):
        SpeciesSelfInteraction(o3.Irreps("2x0e"), o3.Irreps("2x1o"), o3.Irreps("2x1o"))
