"""The compiled operators of extensions/ against the reference path: every first and second
derivative on random layouts, edge cases, clear errors, torch.compile and torch.export, and a
compile-only check of the CUDA sources."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch

from nequip.ops import ChannelwiseTP, ConvolutionTP, extension

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from helpers import cu_au_atoms, frame, relative_error, small_model, small_spec  # noqa: E402

CONV_LAYOUTS = [
    ("3x0e+2x1o", "1x0e+1x1o+1x2e", "0e+1o+2e"),
    ("2x0e+2x0o+3x1o+1x1e+2x2e+1x3o", "1x0e+1x1o+1x2e+1x3o", "0e+0o+1o+1e+2e+2o+3o+3e"),
    ("5x1o+1x2e", "1x0e+1x1o", "0e+1e+2e+3o"),
]
# the CUDA kernels are checked wherever a GPU is present (scattered slots sum with atomics there:
# a looser float64 bound for the summation order)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TOLERANCE = {"cpu": 1e-12, "cuda": 1e-10}
# the CPU kernels are compiled once per instruction set (extensions/csrc/tp_cpu_isa.h); each copy is
# checked (a CPU without one runs the next lower copy)
CPU_ISAS = list(extension.CPU_ISAS)
DEVICE_ISAS = [("cpu", isa) for isa in CPU_ISAS] + [(device, "") for device in DEVICES if device != "cpu"]
CHANNELWISE_LAYOUTS = [
    ("2x0e+2x1o", "2x0e+2x1o", "0e+1o+1e"),
    ("3x0e+3x1o+3x2e+3x3o", "3x0e+3x1o+3x2e", "0e+0o+1o+1e+2e+2o+3o"),
]


def _pair(cls, *irreps, device="cpu"):
    ref = cls(*irreps, backend="reference").to(device)
    return ref, cls(*irreps, backend="extension").to(device)


def _leaves(*tensors, device="cpu"):
    return tuple(t.to(device).requires_grad_() for t in tensors)


def _conv_inputs(module, n=7, e=40, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, module.irreps_in.dim, generator=g)
    sh = torch.randn(e, module.irreps_sh.dim, generator=g)
    w = torch.randn(e, module.weight_numel, generator=g)
    center, neighbor = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    return _leaves(x, sh, w, device=device), (center.to(device), neighbor.to(device))


def _channelwise_inputs(module, e=30, m=6, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randn(e, module.irreps_in1.dim, generator=g)
    x2 = torch.randn(m, module.irreps_in2.dim, generator=g)
    return _leaves(x1, x2, device=device), (torch.randint(0, m, (e,), generator=g).to(device),)


def _all_derivatives(module, inputs, indices):
    """Output, its gradients, and the gradients of a gradient (what force training differentiates)."""
    out = module(*inputs, *indices)
    probe = torch.sin(torch.arange(out.numel(), dtype=out.dtype, device=out.device)).reshape(out.shape)
    first = torch.autograd.grad((out * probe).sum(), inputs, create_graph=True)
    second = torch.autograd.grad(sum((g**2).sum() for g in first), inputs)
    return [out, *first, *second]


CASES = [(ConvolutionTP, layout, _conv_inputs) for layout in CONV_LAYOUTS] + [
    (ChannelwiseTP, layout, _channelwise_inputs) for layout in CHANNELWISE_LAYOUTS
]


@pytest.mark.parametrize("device,cpu_isa", DEVICE_ISAS)
@pytest.mark.parametrize("cls,layout,make_inputs", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_derivatives_equal_reference(cls, layout, make_inputs, device, cpu_isa, float64_default, monkeypatch):
    monkeypatch.setenv("NEQUIP_OPS_CPU_ISA", cpu_isa)
    ref, ext = _pair(cls, *layout, device=device)
    inputs, indices = make_inputs(ref, device=device)
    for got, expected in zip(_all_derivatives(ext, inputs, indices), _all_derivatives(ref, inputs, indices)):
        assert relative_error(got, expected) < TOLERANCE[device]


@pytest.mark.parametrize("cpu_isa", CPU_ISAS)
def test_float32_equals_reference(cpu_isa, monkeypatch):
    monkeypatch.setenv("NEQUIP_OPS_CPU_ISA", cpu_isa)
    ref, ext = _pair(ConvolutionTP, *CONV_LAYOUTS[1])
    (x, sh, w), indices = _conv_inputs(ref)
    inputs = [t.detach().float().requires_grad_() for t in (x, sh, w)]
    ref, ext = ref.float(), ext.float()
    assert ext.cg_value.dtype == torch.float32
    for got, expected in zip(_all_derivatives(ext, inputs, indices), _all_derivatives(ref, inputs, indices)):
        assert relative_error(got, expected) < 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_gradgradcheck_on_large_layout(device, float64_default):
    _, ext = _pair(ConvolutionTP, *CONV_LAYOUTS[1], device=device)
    inputs, (center, neighbor) = _conv_inputs(ext, n=4, e=6, device=device)
    fn = lambda x, sh, w: ext(x, sh, w, center, neighbor)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, inputs)


def test_no_edges_and_isolated_atoms(float64_default):
    ref, ext = _pair(ConvolutionTP, *CONV_LAYOUTS[0])
    inputs, _ = _conv_inputs(ref, e=0)
    empty = torch.zeros(0, dtype=torch.int64)
    out = ext(*inputs, empty, empty)
    assert out.shape == (7, ref.irreps_out.dim) and not out.any()
    (grad_x,) = torch.autograd.grad(out.sum(), inputs[0])
    assert not grad_x.any()
    c_ref, c_ext = _pair(ChannelwiseTP, *CHANNELWISE_LAYOUTS[0])
    (x1, x2), _ = _channelwise_inputs(c_ref, e=0)
    assert c_ext(x1, x2, empty).shape == (0, c_ref.irreps_out.dim)


def test_bad_index_is_a_clear_error(float64_default):
    _, ext = _pair(ConvolutionTP, *CONV_LAYOUTS[0])
    inputs, (center, neighbor) = _conv_inputs(ext)
    neighbor = neighbor.clone()
    neighbor[3] = 99
    with pytest.raises(RuntimeError, match=r"neighbor\[3\] = 99 is outside \[0, 7\)"):
        ext(*inputs, center, neighbor)
    with pytest.raises(RuntimeError, match="sh has 39 rows, expected 40"):
        ext(inputs[0], inputs[1][:-1], inputs[2], center, center)


def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NEQUIP_OPS_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(extension.ExtensionUnavailable, match="needs a C\\+\\+ compiler.*tp_backend: reference"):
        extension.library_path()


def _energy_and_forces(module, pos, sh_of, w_of, x, center, neighbor):
    """A force-training-shaped graph: energy from the convolution of position-dependent inputs,
    forces by autograd with create_graph (so the compiled graph holds the double backward)."""
    vec = pos[neighbor] - pos[center]
    energy = module(x, sh_of(vec), w_of(vec), center, neighbor).pow(2).sum()
    (forces,) = torch.autograd.grad(energy, pos, create_graph=True)
    return energy, forces


def _toy_inputs(module, n=6, e=40):
    g = torch.Generator().manual_seed(5)
    pos = torch.randn(n, 3, generator=g, requires_grad=True)
    x = torch.randn(n, module.irreps_in.dim, generator=g)
    center = torch.randint(0, n, (e,), generator=g)
    neighbor = (center + torch.randint(1, n, (e,), generator=g)) % n  # no self-edges: |r| = 0 has no gradient
    sh_dim, w_dim = module.irreps_sh.dim, module.weight_numel
    sh_of = lambda v: torch.cat([v.sum(-1, keepdim=True)] + [v] * ((sh_dim - 1) // 3), -1)[:, :sh_dim]  # noqa: E731
    w_of = lambda v: torch.tanh(v.norm(dim=-1, keepdim=True)).expand(-1, w_dim)  # noqa: E731
    return pos, sh_of, w_of, x, center, neighbor


def test_torch_compile_fullgraph_dynamic(float64_default):
    ref, ext = _pair(ConvolutionTP, "2x0e+2x1o", "1x0e+1x1o", "0e+1o+1e")
    pos, sh_of, w_of, x, center, neighbor = _toy_inputs(ref)

    def run(module, pos, x, center, neighbor):
        energy, forces = _energy_and_forces(module, pos, sh_of, w_of, x, center, neighbor)
        (curvature,) = torch.autograd.grad(forces.pow(2).sum(), pos)  # second order through the operator
        return energy.detach(), forces.detach(), curvature

    compiled = torch.compile(lambda *a: run(ext, *a), fullgraph=True, dynamic=True)
    for e in (20, 33):  # a second edge count must reuse the dynamic graph
        center_e, neighbor_e = center[:e], neighbor[:e]
        expected = run(ref, pos, x, center_e, neighbor_e)
        with torch._dynamo.config.patch(trace_autograd_ops=True):  # autograd.grad inside the graph
            got = compiled(pos, x, center_e, neighbor_e)
        for a, b in zip(got, expected):
            assert relative_error(a, b) < 1e-12


def test_nequip_model_backends_agree(float64_default):
    from nequip.data import keys

    ref, ext = small_model(tp_backend="reference", seed=4), small_model(tp_backend="extension", seed=4)
    ext.load_state_dict(ref.state_dict())
    data = frame(cu_au_atoms(3))
    a, b = ref(dict(data)), ext(dict(data))
    for key in (keys.TOTAL_ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
        assert relative_error(b[key], a[key]) < 1e-12, key


def test_model_export_holds_the_operators(float64_default):
    """The model exported the way nequip-compile does: forces and stress through the operators."""
    from nequip.export.aoti import export_program
    from nequip.export.targets import TARGETS

    model, spec = small_model(tp_backend="extension"), small_spec(tp_backend="extension")
    program = export_program(model, spec, "ase")
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "nequip_ops.conv_contract.default" in targets
    data = frame(cu_au_atoms(1, repeat=(3, 2, 2)))
    expected = model(dict(data))
    out = program.module()(*[data[k] for k in TARGETS["ase"][0]])
    for key, value in zip(TARGETS["ase"][1], out):
        assert relative_error(value, expected[key]) < 1e-10, key


def test_cuda_sources_compile_with_nvcc(tmp_path):
    """The kernels and their shared launcher (tp_launch.h, both dtypes, every kernel, launched with
    <<<>>> through kernel pointers as tp_ops_cuda.cu does) always; tp_ops_cuda.cu itself where torch
    ships its CUDA headers (a CUDA build of torch: the JIT build on a GPU machine compiles it anyway)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found: the CUDA sources are compiled only where the CUDA toolkit is installed")
    from torch.utils.cpp_extension import include_paths

    launch = tmp_path / "launch.cu"
    arguments = "const LaunchOptions&, " + ", ".join(["const at::Tensor&"] * 9) + ", int64_t, int64_t, int64_t"
    launch.write_text(f"""#include "tp_launch.h"
namespace nequip_ops {{
struct ChevronLaunch {{
  template <typename... Params, typename... Args>
  void operator()(Grid grid, void (*kernel)(Params...), Args... args) const {{
    kernel<<<static_cast<unsigned int>(grid.blocks), static_cast<unsigned int>(grid.threads), grid.shared_bytes>>>(args...);
  }}
}};
template at::Tensor conv_launch(const ChevronLaunch&, {arguments});
template at::Tensor channelwise_launch(const ChevronLaunch&, {arguments.replace("const at::Tensor&, ", "", 2)});
}}
""")
    sources = [launch]
    torch_includes = include_paths()
    if any(os.path.exists(os.path.join(p, "c10", "cuda", "impl", "cuda_cmake_macros.h")) for p in torch_includes):
        sources.append(extension.SOURCE_DIR / extension.CUDA_SOURCES[0])
    includes = [f"-I{p}" for p in [extension.SOURCE_DIR, *torch_includes, sysconfig.get_paths()["include"]]]
    for source in sources:
        command = [nvcc, "-c", "-std=c++20", "-arch=sm_80", "-O1", "-Xcompiler", "-fPIC", *includes, str(source),
                   "-o", str(tmp_path / f"{source.stem}.o")]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]


def test_unknown_cpu_isa_is_a_clear_error(monkeypatch):
    ref, ext = _pair(ConvolutionTP, *CONV_LAYOUTS[0])
    (x, sh, w), (center, neighbor) = _conv_inputs(ref)
    monkeypatch.setenv("NEQUIP_OPS_CPU_ISA", "avx3")
    with pytest.raises(RuntimeError, match="NEQUIP_OPS_CPU_ISA='avx3' is not one of baseline, avx2, avx512"):
        ext(x, sh, w, center, neighbor)
    with pytest.raises(extension.ExtensionUnavailable, match="NEQUIP_OPS_CPU_ISA='avx3' is not one of"):
        extension.check_cpu_isa_setting()  # what a CLI run meets first: a one-line setup error
