"""AOT Inductor compilation of a model into a ``.nequip.pt2`` package, and loading it back.

Recipe (see shared/notes/lammps.md): trace the target function, ``autograd.grad`` included, into an
aten graph with ``make_fx(tracing_mode="symbolic")``; export that graph with dynamic atom and edge
counts (``torch.export.export(strict=False)``); compile and package it with
``torch._inductor.aoti_compile_and_package``. The metadata (all strings) is readable from C++ via
``AOTIModelPackageLoader::get_metadata()``.
"""

import logging
from typing import TYPE_CHECKING, Any, Dict, Tuple

import torch

from .. import __version__
from ..errors import ConfigError, ModelFileError, OutputError, SetupError
from ..model.checks import check_exists, check_framework_version
from ..utils.atomic import atomic_output, check_writable_folder
from .digest import DIGEST_KEY, check_metadata_digest, metadata_digest
from .targets import TARGETS, ase_function, lammps_function

if TYPE_CHECKING:  # the model package imports this module
    from ..model.spec import ModelSpec

_log = logging.getLogger(__name__)

PT2_SUFFIX = ".nequip.pt2"
MODEL_KIND_KEY = "model_kind"
# set to the operator namespace when the compiled graph calls our tensor-product operators: loaders
# (load_pt2, the LAMMPS plugin) must load that library before the package
OPS_LIBRARY_KEY = "ops_library"
OPS_NAMESPACE = "nequip_ops"


def _example_inputs(target: str, dtype: torch.dtype, device: str, num_types: int):
    """A small example graph whose sizes differ from each other and from 0, 1, 3 (so that tracing
    does not specialise a dynamic size)."""
    g = torch.Generator().manual_seed(0)
    n, e = 7, 22
    pos = torch.rand(n, 3, generator=g, dtype=torch.float64).to(dtype) * 3.0
    types = torch.arange(n) % max(num_types, 1)
    edge_index = torch.stack([torch.arange(e) % n, (torch.arange(e) * 3 + 1) % n])
    edge_index[1] = torch.where(edge_index[1] == edge_index[0], (edge_index[1] + 1) % n, edge_index[1])
    if target == "ase":
        cell = (torch.eye(3, dtype=dtype) * 6.0).unsqueeze(0)
        shifts = torch.zeros(e, 3, dtype=dtype)
        args = (pos, types, cell, edge_index, shifts)
    else:
        args = (pos, types, edge_index, torch.tensor([5]))
    return tuple(a.to(device) for a in args)


def _dynamic_shapes(target: str):
    n = torch.export.Dim("num_atoms", min=1, max=2**31 - 2)
    e = torch.export.Dim("num_edges", min=0, max=2**31 - 2)
    if target == "ase":
        return ({0: n}, {0: n}, None, {1: e}, {0: e})
    return ({0: n}, {0: n}, {1: e}, None)


def target_function(model: torch.nn.Module, target: str):
    if target not in TARGETS:
        raise ConfigError(f"unknown target '{target}'; choose one of {sorted(TARGETS)}")
    return ase_function(model) if target == "ase" else lammps_function(model)


def export_program(model: torch.nn.Module, spec: "ModelSpec", target: str, device: str = "cpu"):
    """The ``torch.export.ExportedProgram`` of the target function (dynamic atom and edge counts)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    fn = target_function(model, target)
    example = _example_inputs(target, spec.torch_dtype, device, len(spec.type_names))
    with torch.enable_grad():
        gm = make_fx(fn, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
    return torch.export.export(gm, example, dynamic_shapes=_dynamic_shapes(target), strict=False)


def _uses_ops(program) -> bool:
    return any(
        node.op == "call_function" and str(node.target).startswith(OPS_NAMESPACE + ".")
        for node in program.graph_module.graph.nodes
    )


def pt2_metadata(
    spec: "ModelSpec", target: str, device: str, uses_ops: bool, **overrides: str
) -> Dict[str, str]:
    """The metadata a package records (``overrides`` replace or add entries), with their digest."""
    inputs, outputs = TARGETS[target]
    meta = {
        MODEL_KIND_KEY: str(spec.kind),
        "r_max": repr(float(spec.r_max)),
        "type_names": " ".join(spec.type_names),
        "num_layers": str(int(spec.hyperparameters.num_layers)),
        "target": target,
        "dtype": spec.dtype,
        "device": device,
        "framework_version": __version__,
        "input_keys": ",".join(inputs),
        "output_keys": ",".join(outputs),
        OPS_LIBRARY_KEY: OPS_NAMESPACE if uses_ops else "",
        **overrides,
    }
    return {**meta, DIGEST_KEY: metadata_digest(meta)}


# how a `lammps`-target NequIP package exchanges ghost atoms (the plugin reads it; absent = whole_graph):
#   per_layer    programs model (embedding), layer_<k>, layer_<k>_vjp, readout; ghost shell r_max;
#                LAMMPS fills ghost features between layers and sums their gradients back (cpp/README.md)
#   whole_graph  one program "model" on a ghost shell of num_layers x r_max (packages before per_layer)
LAMMPS_SCHEME_KEY = "lammps_scheme"
LAMMPS_SCHEMES = ("per_layer", "whole_graph")


def compile_model(
    model: torch.nn.Module,
    spec: "ModelSpec",
    out: str,
    target: str = "ase",
    device: str = "cpu",
    lammps_scheme: str = "per_layer",
) -> str:
    """Compiles ``model`` for ``target`` (``ase`` | ``lammps``) on ``device`` (``cpu`` | ``cuda``) into
    the package ``out`` (``*.nequip.pt2``); returns its path. A NequIP model for ``lammps`` is
    compiled per layer (``lammps_scheme`` ``per_layer``) unless ``whole_graph`` is asked for (the
    earlier design, kept to compare against); if the compiled layer programs disagree with the
    exported ones on the example graph (``check_compiled_layers``), it says so on stderr and compiles
    the whole graph instead. ``out`` is written to a temporary file in its folder and
    renamed when complete: a failed compile leaves an earlier file intact. Raises ``ValueError`` on a
    bad target, device, scheme or file name or an unwritable folder (before compiling) and
    ``RuntimeError`` when CUDA is asked for but not available."""
    if not out.endswith(PT2_SUFFIX):
        raise OutputError(f"output file '{out}' must end with {PT2_SUFFIX}")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda', got '{device}'")
    if lammps_scheme not in LAMMPS_SCHEMES:
        raise ConfigError(f"lammps_scheme must be one of {LAMMPS_SCHEMES}, got '{lammps_scheme}'")
    if device == "cuda" and not torch.cuda.is_available():
        raise SetupError("--device cuda asked for, but this torch has no usable CUDA device; compile on a GPU machine")
    check_writable_folder(out)
    if target == "lammps" and spec.kind == "nequip" and lammps_scheme == "per_layer":
        try:
            return _compile_per_layer(model, spec, out, device)
        except CompiledLayersMismatch as err:  # never a package that gives wrong forces
            _log.warning(f"nequip-compile: {err}; compiling the whole-graph scheme instead")
    program = export_program(model, spec, target, device)
    from torch._inductor import aoti_compile_and_package

    metadata = pt2_metadata(spec, target, device, _uses_ops(program))
    with atomic_output(out, suffix=".pt2") as tmp:  # aoti_compile_and_package wants a .pt2 name
        aoti_compile_and_package(program, package_path=tmp, inductor_configs={"aot_inductor.metadata": metadata})
    return out


def _compile_per_layer(model: torch.nn.Module, spec: "ModelSpec", out: str, device: str) -> str:
    """The per-layer programs of nequip.export.layers in one package; the metadata is on ``model``
    (the embedding program), with ``lammps_scheme`` = per_layer and the feature sizes F_0 .. F_L."""
    from torch._inductor import aot_compile
    from torch._inductor.package import package_aoti

    from .layers import export_stages

    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    programs, sizes = export_stages(model, spec.torch_dtype, device, len(spec.type_names))
    meta = pt2_metadata(
        spec, "lammps", device, any(_uses_ops(p) for p in programs.values()),
        # program_inputs: the plugin passes every input contiguous, as the programs were traced
        **{LAMMPS_SCHEME_KEY: "per_layer", "feature_sizes": " ".join(str(s) for s in sizes), "program_inputs": "contiguous",
           "input_keys": "atom_types", "output_keys": "node_features"},
    )
    files = {}
    for name, program in {"model": programs.pop("embed"), **programs}.items():
        configs = {"aot_inductor.package": True}
        if name == "model":
            configs["aot_inductor.metadata"] = meta
        args, kwargs = program.example_inputs
        files[name] = aot_compile(program.module(check_guards=False), args, kwargs, options=configs)
    with atomic_output(out, suffix=".pt2") as tmp:
        package_aoti(tmp, files)
        from torch._inductor.package import load_package

        check_compiled_layers(programs, len(sizes) - 1, lambda name: load_package(tmp, name))
    return out


class CompiledLayersMismatch(RuntimeError):
    pass


def check_compiled_layers(programs: Dict[str, Any], num_layers: int, load) -> None:
    """Runs each compiled ``layer_<k>`` and ``layer_<k>_vjp`` (``load(name)`` -> callable) on the
    example inputs as the plugin runs them (saved tensors made contiguous) against the exported
    programs: a compiled program assumes the strides it was traced with, and AOT Inductor does not
    check them, so a layout disagreement would otherwise give wrong forces silently. Raises
    ``CompiledLayersMismatch`` naming the program whose outputs differ (relative error > 1e-6 in
    float64, 1e-3 in float32)."""
    for k in range(num_layers):
        forward, vjp = programs[f"layer_{k}"], programs[f"layer_{k}_vjp"]
        args = forward.example_inputs[0]
        grad_out = vjp.example_inputs[0][-1]
        expected = forward.module()(*args)
        got = load(f"layer_{k}")(*args)
        reference = vjp.module()(*args, *[t.contiguous() for t in expected[1:]], grad_out)
        result = load(f"layer_{k}_vjp")(*args, *[t.contiguous() for t in got[1:]], grad_out)
        for name, a, b in [(f"layer_{k}", got[0], expected[0])] + [(f"layer_{k}_vjp", x, y) for x, y in zip(result, reference)]:
            tol = 1e-6 if b.dtype == torch.float64 else 1e-3
            error = ((a - b).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny)).item()
            if not error <= tol:  # NaN too
                raise CompiledLayersMismatch(
                    f"the compiled per-layer program '{name}' differs from the exported one by {error:.2e} "
                    "(relative) on the example graph"
                )


def spec_from_metadata(meta: Dict[str, str]) -> "ModelSpec":
    """The parts of a model spec that a ``.pt2`` carries (enough for a calculator): no hyperparameters."""
    from ..model.spec import ModelSpec

    return ModelSpec(
        kind=meta[MODEL_KIND_KEY], type_names=tuple(meta["type_names"].split()), r_max=float(meta["r_max"]),
        dtype=meta["dtype"], framework_version=meta["framework_version"], hyperparameters=None,
    )


def load_pt2(path: str, target: str = None, device: str = None) -> Tuple[Any, Dict[str, str]]:
    """``(compiled callable, metadata)`` of a ``.nequip.pt2``. Raises ``FileNotFoundError`` for a
    missing file and ``ModelFileError`` when the package is not ours, its metadata does not match its
    digest (see nequip.export.digest), it was written by an incompatible framework version, or it was
    compiled for another ``target``/``device`` than asked. A ``.pt2`` is native code: load only files
    from sources you trust."""
    check_exists(path)
    from torch._inductor import aoti_load_package

    try:
        packaged_meta = torch._C._aoti.AOTIModelPackageLoader.load_metadata_from_package(path, "model")
    except Exception as err:
        # torch's message runs over several lines (a list of the models found); the first says what is wrong
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"'{path}' is not an AOT Inductor package, or a damaged one ({reason}); recompile it with nequip-compile") from None
    if MODEL_KIND_KEY not in packaged_meta or "target" not in packaged_meta:
        raise ModelFileError(f"'{path}' is a .pt2 package but not one written by nequip-compile (no model metadata)")
    check_metadata_digest(packaged_meta, path)
    check_framework_version(packaged_meta.get("framework_version"), path)
    if packaged_meta.get(OPS_LIBRARY_KEY):
        from ..ops import extension

        usable, reason = extension.available()
        if not usable:
            raise ModelFileError(f"'{path}' uses nequip's tensor-product operators, which cannot be loaded here: {reason}")
    try:
        compiled = aoti_load_package(path)
    except Exception as err:
        raise ModelFileError(f"'{path}' is not a loadable AOT Inductor package on this machine: {err}") from None
    meta = dict(compiled.get_metadata())
    if MODEL_KIND_KEY not in meta or "target" not in meta:
        raise ModelFileError(f"'{path}' is a .pt2 package but not one written by nequip-compile (no model metadata)")
    if target is not None and meta["target"] != target:
        raise ModelFileError(
            f"'{path}' was compiled for target '{meta['target']}', but target '{target}' is needed; "
            f"recompile with nequip-compile ... --target {target}"
        )
    if device is not None and meta["device"] != torch.device(device).type:
        raise ModelFileError(
            f"'{path}' was compiled for device '{meta['device']}', but device '{device}' was asked for; "
            f"recompile with nequip-compile ... --device {torch.device(device).type}"
        )
    return compiled, meta
