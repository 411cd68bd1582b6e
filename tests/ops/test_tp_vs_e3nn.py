"""Both tensor-product backends (pure-PyTorch reference, compiled extension) equal e3nn's
TensorProduct on random layouts (float64 to 1e-12, float32 to 1e-5) and are differentiable twice
(gradcheck, gradgradcheck)."""

import pytest
import torch
from e3nn import o3

from nequip.ops import ChannelwiseTP, ConvolutionTP

LAYOUTS = [
    ("3x0e+2x1o", "1x0e+1x1o+1x2e", "0e+1o+2e"),
    ("2x0e+2x0o+3x1o+1x1e+2x2e", "1x0e+1x1o+1x2e+1x3o", "0e+0o+1o+1e+2e+2o"),
    ("4x1o", "1x0e+1x1o", "0e+1e+2e"),
]


@pytest.fixture(params=["reference", "extension"])
def backend(request):
    return request.param


def _instructions(tp, mode, has_weight):
    return [(p_index_1, p_index_2, i, mode, has_weight) for i, (p_index_1, p_index_2) in enumerate(tp)]


def _index_pairs(irreps1, irreps2, layout_paths, irreps_1_starts, irreps_2_starts):
    starts1 = {s: i for i, s in enumerate(irreps_1_starts)}
    starts2 = {s: i for i, s in enumerate(irreps_2_starts)}
    return [(starts1[p.in1_start], starts2[p.in2_start]) for p in layout_paths]


def _starts(irreps):
    out, offset = [], 0
    for mul, ir in irreps:
        out.append(offset)
        offset += mul * ir.dim
    return out


def _e3nn_equivalent(module, irreps1, irreps2, mode, has_weight):
    pairs = _index_pairs(irreps1, irreps2, module.paths, _starts(irreps1), _starts(irreps2))
    return o3.TensorProduct(
        irreps1, irreps2, module.irreps_out, _instructions(pairs, mode, has_weight),
        shared_weights=False if has_weight else None, internal_weights=False if has_weight else None,
        irrep_normalization="component", path_normalization="element",
    )


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("irreps_in,irreps_sh,irreps_out", LAYOUTS)
def test_convolution_equals_e3nn(irreps_in, irreps_sh, irreps_out, dtype, tol, backend, float64_default):
    irreps_in, irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
    module = ConvolutionTP(irreps_in, irreps_sh, irreps_out, backend=backend).to(dtype)
    e3nn_tp = _e3nn_equivalent(module, irreps_in, irreps_sh, "uvu", True).to(dtype)
    assert e3nn_tp.weight_numel == module.weight_numel
    g = torch.Generator().manual_seed(0)
    n, e = 6, 30
    x = torch.randn(n, irreps_in.dim, generator=g, dtype=torch.float64).to(dtype)
    sh = torch.randn(e, irreps_sh.dim, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(e, module.weight_numel, generator=g, dtype=torch.float64).to(dtype)
    center, neighbor = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    expected = torch.zeros(n, module.irreps_out.dim, dtype=dtype).index_add(0, center, e3nn_tp(x[neighbor], sh, w))
    got = module(x, sh, w, center, neighbor)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < tol


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("mul", [1, 3])
def test_channelwise_equals_e3nn(mul, dtype, tol, backend, float64_default):
    irreps1 = o3.Irreps(f"{mul}x0e+{mul}x1o+{mul}x2e")
    irreps2 = o3.Irreps(f"{mul}x0e+{mul}x1o+{mul}x1e")
    module = ChannelwiseTP(irreps1, irreps2, "0e+0o+1o+1e+2e+2o", backend=backend).to(dtype)
    e3nn_tp = _e3nn_equivalent(module, irreps1, irreps2, "uuu", False).to(dtype)
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(20, irreps1.dim, generator=g, dtype=torch.float64).to(dtype)
    x2 = torch.randn(5, irreps2.dim, generator=g, dtype=torch.float64).to(dtype)
    index = torch.randint(0, 5, (20,), generator=g)
    expected = e3nn_tp(x1, x2[index])
    got = module(x1, x2, index)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < tol


def test_convolution_gradcheck_twice(backend, float64_default):
    module = ConvolutionTP("2x0e+1x1o", "1x0e+1x1o+1x2e", "0e+1o+2e", backend=backend)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 5, generator=g, requires_grad=True)
    sh = torch.randn(7, 9, generator=g, requires_grad=True)
    w = torch.randn(7, module.weight_numel, generator=g, requires_grad=True)
    center, neighbor = torch.randint(0, 4, (7,), generator=g), torch.randint(0, 4, (7,), generator=g)
    fn = lambda x, sh, w: module(x, sh, w, center, neighbor)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, sh, w))
    assert torch.autograd.gradgradcheck(fn, (x, sh, w))


def test_channelwise_gradcheck_twice(backend, float64_default):
    module = ChannelwiseTP("2x0e+2x1o", "2x0e+2x1o", "0e+1o+1e", backend=backend)
    g = torch.Generator().manual_seed(3)
    x1 = torch.randn(6, 8, generator=g, requires_grad=True)
    x2 = torch.randn(3, 8, generator=g, requires_grad=True)
    index = torch.randint(0, 3, (6,), generator=g)
    fn = lambda a, b: module(a, b, index)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x1, x2))
    assert torch.autograd.gradgradcheck(fn, (x1, x2))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="multiplicity 1"):
        ConvolutionTP("2x0e", "2x0e", "0e")
    with pytest.raises(ValueError, match="one multiplicity"):
        ChannelwiseTP("2x0e", "3x0e", "0e")
    with pytest.raises(ValueError, match="no tensor-product path"):
        ConvolutionTP("2x0e", "1x0e", "1o")
    with pytest.raises(ValueError, match="'fast' is unknown; choose one of reference, extension"):
        ConvolutionTP("2x0e", "1x0e", "0e", backend="fast")
