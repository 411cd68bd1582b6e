"""The device kernels of extensions/csrc (tp_kernels.cuh, launched by tp_launch.h) against the CPU
operators, slot by slot: every `open` slot (forward, backward and double backward are all one of
them), both operators, float32 and float64, l up to 7 (kMaxDim), both parities, several
multiplicities, no edges, atoms without edges, a centre with hundreds of edges; the scatter kernels
(atomics) and the owner kernels (deterministic), and the index arithmetic at values beyond 2^31.

Where no GPU is present the kernels run on the host under an emulated launch (extensions/testing/:
every thread of the real grid, in an order shuffled from a seed); on a GPU the same cases also run
on the device (bench/gpu_check.sh runs this module first)."""

import os
import sys
import zlib

import pytest
import torch

from nequip.ops import ChannelwiseTP, ConvolutionTP

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import emulation  # noqa: E402
from helpers import relative_error  # noqa: E402

PARITY_WALK = "+".join(f"1x{l}{'eo'[l % 2]}" for l in range(8))  # 0e+1o+2e+...+7o
HIGH_L = "+".join(f"1x{l}{p}" for l in range(8) for p in "eo")  # every l <= 7, both parities
CONV_LAYOUTS = {
    "mixed": ("2x0e+2x0o+3x1o+1x1e+2x2e+1x3o", "1x0e+1x1o+1x2e+1x3o", "0e+0o+1o+1e+2e+2o+3o+3e"),
    "lmax7": ("2x0e+1x3o+1x5e+1x6o+1x7o+1x7e", PARITY_WALK, HIGH_L),
    "wide": ("16x0e+8x1o", "1x0e+1x1o", "0e+1o+1e"),
}
CHANNELWISE_LAYOUTS = {
    "mixed": ("3x0e+3x1o+3x2e+3x3o", "3x0e+3x1o+3x2e", "0e+0o+1o+1e+2e+2o+3o"),
    "lmax7": (PARITY_WALK, "1x0e+1x1e+1x4o+1x7e", HIGH_L),
    "wide": ("16x0e+16x1o", "16x0e+16x1o", "0e+1o+1e"),
}
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}
ON_GPU = torch.cuda.is_available()


@pytest.fixture(scope="module")
def emulated():
    return emulation.load()


def _graphs(seed):
    """(name, nodes, center, neighbor) edge sets: random, none, atoms without edges, a hub."""
    g = torch.Generator().manual_seed(seed)
    randint = lambda high, size: torch.randint(0, high, (size,), generator=g)  # noqa: E731
    hub_center = torch.cat([torch.zeros(300, dtype=torch.int64), randint(5, 20)])
    hub_neighbor = torch.cat([torch.ones(150, dtype=torch.int64), randint(5, 170)])
    return [
        ("random", 7, randint(7, 40), randint(7, 40)),
        ("no edges", 4, randint(4, 0), randint(4, 0)),
        ("isolated atoms", 12, randint(4, 25), randint(4, 25)),  # atoms 4..11 have no edges
        ("hub", 5, hub_center, hub_neighbor),
    ]


def _conv_slots(module, nodes, edges, dtype, g):
    shapes = [(nodes, module.irreps_in.dim), (edges, module.irreps_sh.dim), (edges, module.weight_numel),
              (nodes, module.irreps_out.dim)]
    return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for shape in shapes]


def _channelwise_slots(module, nodes, edges, dtype, g):
    shapes = [(edges, module.irreps_in1.dim), (nodes, module.irreps_in2.dim), (edges, module.irreps_out.dim)]
    return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for shape in shapes]


def _calls(operator, layout, graph, dtype, seed):
    """Yields (open slot, arguments without open/rows/cols, rows, cols) for every slot of one case."""
    name, nodes, center, neighbor = graph
    g = torch.Generator().manual_seed(seed + 1)
    if operator == "conv_contract":
        module = ConvolutionTP(*layout, backend="extension").to(dtype)
        slots = _conv_slots(module, nodes, len(center), dtype, g)
        indices = (center, neighbor)
    else:
        module = ChannelwiseTP(*layout, backend="extension").to(dtype)
        slots = _channelwise_slots(module, nodes, len(center), dtype, g)
        indices = (center,)  # the channel-wise index: edge -> row of x2
    for open in range(len(slots)):
        filled = [slot if s != open else slot.new_empty(0) for s, slot in enumerate(slots)]
        rows, cols = slots[open].shape
        yield open, (*filled, *indices, module.path_table, module.cg_index, module.cg_value), rows, cols


def _run_emulated(emulated, operator, args, open, rows, cols, seed, deterministic):
    return getattr(emulated, operator)(*args, open, rows, cols, seed, deterministic)


def _run_cuda(operator, args, open, rows, cols, deterministic):
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic)
    try:
        result = getattr(torch.ops.nequip_ops, operator)(*[a.cuda() for a in args], open, rows, cols)
        return result.cpu()
    finally:
        torch.use_deterministic_algorithms(before)


CASES = [("conv_contract", name, layout) for name, layout in CONV_LAYOUTS.items()] + [
    ("channelwise_contract", name, layout) for name, layout in CHANNELWISE_LAYOUTS.items()
]


@pytest.mark.parametrize("deterministic", [False, True], ids=["scatter", "owner"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("operator,layout_name,layout", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_kernels_equal_cpu_operator(emulated, operator, layout_name, layout, dtype, deterministic, float64_default):
    """Every slot, every edge set; the emulation with a seed per case (the atomics' order varies)."""
    seed = zlib.crc32(f"{operator}{layout_name}{dtype}{deterministic}".encode()) % 1000  # fixed per case
    reference = getattr(torch.ops.nequip_ops, operator)
    for graph in _graphs(seed):
        for open, args, rows, cols in _calls(operator, layout, graph, dtype, seed):
            expected = reference(*args, open, rows, cols)
            runs = {"emulated": _run_emulated(emulated, operator, args, open, rows, cols, seed, deterministic)}
            if ON_GPU:
                runs["cuda"] = _run_cuda(operator, args, open, rows, cols, deterministic)
            for where, got in runs.items():
                assert got.shape == expected.shape and got.dtype == dtype
                context = f"{where} {graph[0]} open={open} seed={seed}"
                assert torch.isfinite(got).all(), context
                if expected.any():
                    assert relative_error(got, expected) < TOLERANCE[dtype], context
                else:  # no edges (or all of them in the other slots' empty rows)
                    assert not got.any(), context
                if graph[0] == "isolated atoms" and (operator, open) in (("conv_contract", 0), ("conv_contract", 3)):
                    assert not got[4:].any(), context  # rows of atoms without edges stay zero


@pytest.mark.parametrize("operator", ["conv_contract", "channelwise_contract"])
def test_owner_kernels_are_deterministic(emulated, operator, float64_default):
    """The owner kernels give the same bits whatever order the threads run in (and on the GPU, run
    after run); the hub sums hundreds of edges into one row."""
    layout = (CONV_LAYOUTS if operator == "conv_contract" else CHANNELWISE_LAYOUTS)["mixed"]
    hub = _graphs(3)[3]
    for open, args, rows, cols in _calls(operator, layout, hub, torch.float32, 3):
        first = _run_emulated(emulated, operator, args, open, rows, cols, 1, True)
        assert torch.equal(first, _run_emulated(emulated, operator, args, open, rows, cols, 2, True)), open
        if ON_GPU:
            on_gpu = _run_cuda(operator, args, open, rows, cols, True)
            assert torch.equal(on_gpu, _run_cuda(operator, args, open, rows, cols, True)), open


def test_nonzeros_in_any_order(emulated, float64_default):
    """The staged kernel needs each path's nonzeros grouped by their first index (path_tables' order);
    a table in another order takes the owner kernel and gives the same numbers."""
    for open, args, rows, cols in _calls("conv_contract", CONV_LAYOUTS["mixed"], _graphs(5)[0], torch.float64, 5):
        *head, paths, cg_index, cg_value = args
        expected = torch.ops.nequip_ops.conv_contract(*args, open, rows, cols)
        order = torch.cat([torch.arange(b, e).flip(0) for b, e in paths[:, 8:10].tolist()])  # CG_BEGIN, CG_END
        shuffled = (*head, paths, cg_index[order], cg_value[order])
        got = emulated.conv_contract(*shuffled, open, rows, cols, 5, True)
        assert relative_error(got, expected) < 1e-12, open


def test_index_arithmetic_beyond_int32(emulated):
    """locate, find_row and the grid at item numbers and table entries no test tensor could reach."""
    assert emulated.item_grid(2**40 + 1) == [2**32 + 1, 256]
    assert emulated.item_grid(0) == [0, 256] and emulated.item_grid(256) == [1, 256]
    table = torch.tensor([[0], [2**31 - 1], [2**31], [2**40]])
    for q, row in [(0, 0), (2**31 - 2, 0), (2**31 - 1, 1), (2**31, 2), (2**40 - 1, 2), (2**40, 3), (2**62, 3)]:
        assert emulated.find_row(table, 0, q) == row, q
    # 3 paths of multiplicities 5, 2**31, 7: items per edge 2**31 + 12
    paths = torch.zeros(3, 10, dtype=torch.int64)  # [P, PATH_COLUMNS] (tp_layout.h)
    paths[:, 0] = torch.tensor([5, 2**31, 7])
    paths[:, 7] = torch.tensor([0, 5, 2**31 + 5])  # WEIGHT_START
    per_edge = 2**31 + 12
    for item, expected in [
        (0, [0, 0, 0]),
        (4, [0, 0, 4]),
        (5, [0, 1, 0]),
        (2**31 + 4, [0, 1, 2**31 - 1]),
        (2**31 + 5, [0, 2, 0]),
        (3 * per_edge + 2**31 + 11, [3, 2, 6]),
        (2**20 * per_edge + 7, [2**20, 1, 2]),  # an item number above 2^51
    ]:
        assert emulated.locate(item, per_edge, paths) == expected, item


def _first_conv_call(dtype=torch.float64, layout=CONV_LAYOUTS["mixed"], graph=None):
    graph = graph or _graphs(0)[0]
    return next(c for c in _calls("conv_contract", layout, graph, dtype, 0) if c[0] == 3)


def test_limits_are_one_line_errors(emulated, float64_default):
    _, args, rows, cols = _first_conv_call()
    conv = emulated.conv_contract
    # 40 edges x 84 (path, channel) items
    with pytest.raises(RuntimeError, match=r"14 blocks of 256 threads exceed the emulated grid limit of 2 blocks; split"):
        conv(*args, 3, rows, cols, 0, False, 90, 2)
    with pytest.raises(RuntimeError, match=r"float64 on this GPU needs compute capability 6.0 .* use float32, or torch.use_deterministic"):
        conv(*args, 3, rows, cols, 0, False, 52)
    assert conv(*args, 3, rows, cols, 0, True, 52).shape == (rows, cols)  # the owner kernels use no atomics
    _, args32, _, _ = _first_conv_call(torch.float32)
    assert conv(*args32, 3, rows, cols, 0, False, 52).shape == (rows, cols)
    too_high = ConvolutionTP("1x8e", "1x0e", "8e", backend="extension")
    x, sh, w = torch.randn(3, 17), torch.randn(2, 1), torch.randn(2, 1)
    index = torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match=r"path 0 has l = 8 but the GPU kernels hold at most 15 components \(l <= 7\); lower the model's l_max"):
        conv(x, sh, w, x.new_empty(0), index, index, too_high.path_table, too_high.cg_index, too_high.cg_value, 3, 3, 17, 0, False)
    bad = list(args)
    bad[5] = bad[5].clone()
    bad[5][2] = 7
    with pytest.raises(RuntimeError, match=r"neighbor has entries in \[\d, 7\], outside \[0, 7\)"):
        conv(*bad, 3, rows, cols, 0, True)


@pytest.mark.skipif(not ON_GPU, reason="needs a GPU: the device checks of the CUDA launcher")
def test_tensors_on_different_devices_are_one_line_errors(float64_default):
    _, args, rows, cols = _first_conv_call()
    on_gpu = [a.cuda() for a in args]
    on_gpu[4] = on_gpu[4].cpu()  # center
    with pytest.raises(RuntimeError, match="center is on cpu but the features are on cuda"):
        torch.ops.nequip_ops.conv_contract(*on_gpu, 3, rows, cols)
