"""AOT Inductor packages (.nequip.pt2): eager == compiled for the ase and lammps targets, metadata,
clear errors."""

import numpy as np
import pytest
import torch
from ase import Atoms

from ghosts import with_ghosts
from helpers import cu_au_atoms, frame, relative_error, small_model

from nequip.errors import SetupError
from nequip.export.aoti import CompiledLayersMismatch, check_compiled_layers, load_pt2
from nequip.export.targets import TARGETS, lammps_function


@pytest.mark.slow
def test_ase_target_with_extension_ops_equals_eager(small_pt2):
    """Compiled with our tensor-product operators in the graph; the eager model runs the reference."""
    compiled, meta = load_pt2(small_pt2("ase", "extension"), target="ase", device="cpu")
    assert meta["target"] == "ase" and meta["type_names"] == "Cu Au" and float(meta["r_max"]) == 3.6
    assert meta["ops_library"] == "nequip_ops"
    assert meta["input_keys"].split(",") == TARGETS["ase"][0]
    assert meta["output_keys"].split(",") == TARGETS["ase"][1]
    apart = Atoms("CuAu", positions=[[0, 0, 0], [8, 0, 0]], cell=[20, 20, 20], pbc=False)  # no edges at all
    for atoms in (cu_au_atoms(0), cu_au_atoms(1, repeat=(3, 2, 2)), apart):  # dynamic atom and edge counts
        data = frame(atoms)
        ref = small_model()(dict(data))
        out = compiled(*[data[k] for k in TARGETS["ase"][0]])
        for key, value in zip(TARGETS["ase"][1], out):
            assert relative_error(value, ref[key]) < 1e-10, key


def test_lammps_function_matches_periodic_model():
    """Eager lammps-target function on explicit ghosts (skin = num_layers * r_max) reproduces the
    periodic model: local energies, total energy, forces after folding ghosts onto their owners, and
    the virial; per-atom virials sum to the virial."""
    atoms = cu_au_atoms(0)
    data = frame(atoms)
    ref = small_model()(dict(data))
    pos, types, edge_index, num_local, owner = with_ghosts(
        atoms.positions, atoms.cell.array, data["atom_types"].numpy(), 3.6, 2 * 3.6
    )
    atomic, total, forces, virial, atom_virial = lammps_function(small_model())(pos, types, edge_index, torch.tensor([num_local]))
    _check_lammps(ref, atomic, total, forces, virial, atom_virial, num_local, owner)


def _check_lammps(ref, atomic, total, forces, virial, atom_virial, num_local, owner):
    assert relative_error(atomic[:num_local], ref["atomic_energy"]) < 1e-10
    assert torch.all(atomic[num_local:] == 0)
    assert relative_error(total, ref["total_energy"]) < 1e-10
    folded = torch.zeros(num_local, 3, dtype=forces.dtype).index_add(0, owner, forces)
    assert relative_error(folded, ref["forces"]) < 1e-9
    assert relative_error(virial[0], ref["virial"][0]) < 1e-9
    assert relative_error(atom_virial.sum(0), virial[0]) < 1e-12
    assert atom_virial[num_local:].abs().max() > 0  # ghosts carry their share of the virial


def _per_layer_as_plugin(run, num_layers: int, atoms):
    """Runs per-layer programs (``run``: name -> callable) as the LAMMPS plugin does: ghost shell
    r_max, edges of local centers, ghost feature rows copied from their owners after each layer,
    ghost gradients summed into their owners, every input contiguous (cpp/pair_nequip_layers.cpp).
    Returns ``(atomic [N], total [1], forces folded onto the local atoms, virial [3,3], num_local)``."""
    data = frame(atoms)
    pos, types, edge_index, num_local, owner = with_ghosts(
        atoms.positions, atoms.cell.array, data["atom_types"].numpy(), 3.6, 3.6
    )
    edge_index = edge_index[:, edge_index[0] < num_local]
    vec = pos[edge_index[1]] - pos[edge_index[0]]
    h, saved = [run["model"](types)], []  # the embedding program's one output, [N, F_0]
    for k in range(num_layers):
        out = run[f"layer_{k}"](vec, types, edge_index, h[k])
        h.append(out[0][owner])  # forward exchange
        saved.append([t.contiguous() for t in out[1:]])  # the layout the vjp is compiled for
    atomic, total, grad = run["readout"](h[-1], types, torch.tensor([num_local]))
    grad_vec = torch.zeros_like(vec)
    for k in reversed(range(num_layers)):
        grad_h, g = run[f"layer_{k}_vjp"](vec, types, edge_index, h[k], *saved[k], grad.contiguous())
        grad_vec += g
        grad = torch.zeros(num_local, grad_h.shape[1], dtype=grad_h.dtype).index_add(0, owner, grad_h)  # reverse exchange
        grad = torch.cat([grad, torch.zeros(len(pos) - num_local, grad_h.shape[1], dtype=grad_h.dtype)])
    forces = torch.zeros_like(pos).index_add(0, edge_index[0], grad_vec).index_add(0, edge_index[1], -grad_vec)
    folded = torch.zeros(num_local, 3, dtype=forces.dtype).index_add(0, owner, forces)
    virial = -(vec.unsqueeze(-1) * grad_vec.unsqueeze(-2)).sum(0)
    return atomic, total, folded, virial, num_local


def _check_per_layer(run, num_layers: int, model, atoms):
    atomic, total, forces, virial, num_local = _per_layer_as_plugin(run, num_layers, atoms)
    ref = model(dict(frame(atoms)))
    assert relative_error(atomic[:num_local], ref["atomic_energy"]) < 1e-10 and torch.all(atomic[num_local:] == 0)
    assert relative_error(total, ref["total_energy"]) < 1e-10
    assert relative_error(forces, ref["forces"]) < 1e-10
    assert relative_error(virial, ref["virial"][0]) < 1e-10


@pytest.mark.parametrize(
    "tp_backend,l_max,num_layers",
    [("reference", 2, 1), ("reference", 1, 1), ("extension", 2, 1), ("extension", 1, 1),
     pytest.param("reference", 2, 2, marks=pytest.mark.slow)],  # two layers: the ghost exchange in between
)
def test_per_layer_programs_equal_eager(tp_backend, l_max, num_layers):
    """The exported (not compiled) per-layer programs, run as the plugin runs them, equal the eager
    model; every vjp is traced for contiguous saved tensors: a compiled vjp assumes the traced
    strides, and the compiled forward may return a saved tensor as a view into a wider buffer (with
    the traced expand/slice layouts, forces of l_max 2 reference models were off by ~0.2 relative)."""
    from nequip.export.layers import export_stages

    model = small_model(tp_backend=tp_backend, l_max=l_max, num_layers=num_layers)
    for p in model.parameters():
        p.requires_grad_(False)
    programs, sizes = export_stages(model, torch.float64, "cpu", 2)
    assert len(sizes) == num_layers + 1
    for name, program in programs.items():  # the layouts the programs get compiled for
        user_inputs = set(program.graph_signature.user_inputs)
        for node in (n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs):
            val = node.meta["val"]
            assert val.is_contiguous(), (name, node.name, val.shape, val.stride())
    # the vjp takes (vec, types, edge_index, h), the saved tensors the forward returns, and grad h_out
    num_outputs = len(programs["layer_0"].graph_signature.user_outputs)
    assert num_outputs > 10 and len(programs["layer_0_vjp"].graph_signature.user_inputs) == 4 + num_outputs
    run = {name: p.module() for name, p in programs.items()}
    check_compiled_layers(programs, num_layers, run.__getitem__)  # the exported programs agree with themselves
    bad = dict(run, **{f"layer_{num_layers - 1}_vjp": lambda *a: [t * (1 + 1e-5) for t in run[f"layer_{num_layers - 1}_vjp"](*a)]})
    with pytest.raises(CompiledLayersMismatch, match=f"program 'layer_{num_layers - 1}_vjp' differs .* by 1.00e-05"):
        check_compiled_layers(programs, num_layers, bad.__getitem__)
    run["model"] = run.pop("embed")
    _check_per_layer(run, num_layers, model, cu_au_atoms(2))


@pytest.mark.slow
def test_lammps_target_equals_eager(small_pt2):
    """The compiled per-layer package (reference backend, l_max 2) run as the LAMMPS plugin runs it
    equals the periodic model."""
    from torch._inductor.package import load_package

    path = small_pt2("lammps")
    _, meta = load_pt2(path, target="lammps")
    assert meta["ops_library"] == ""  # the reference backend: plain aten ops
    assert meta["lammps_scheme"] == "per_layer" and meta["feature_sizes"].split()[0] == "4"
    assert meta["program_inputs"] == "contiguous"  # the plugin refuses per-layer packages without it
    assert meta["num_layers"] == "2" and meta["model_kind"] == "nequip" and meta["dtype"] == "float64"
    run = {name: load_package(path, name) for name in ("model", "layer_0", "layer_1", "layer_0_vjp", "layer_1_vjp", "readout")}
    _check_per_layer(run, 2, small_model(), cu_au_atoms(2))


@pytest.mark.slow
def test_wrong_target_device_and_missing_file(small_pt2, tmp_path):
    path = small_pt2("lammps")
    with pytest.raises(ValueError, match="compiled for target 'lammps'.*--target ase"):
        load_pt2(path, target="ase")
    with pytest.raises(ValueError, match="compiled for device 'cpu'.*--device cuda"):
        load_pt2(path, target="lammps", device="cuda")
    with pytest.raises(FileNotFoundError, match="nope.nequip.pt2"):
        load_pt2(str(tmp_path / "nope.nequip.pt2"))
    from nequip.integrations.ase import NequIPCalculator

    with pytest.raises(ValueError, match="target 'lammps'"):
        NequIPCalculator.from_file(path)
    bogus = tmp_path / "bogus.nequip.pt2"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not an AOT Inductor package"):
        load_pt2(str(bogus))


@pytest.mark.slow
def test_ase_calculator_from_pt2_equals_eager(small_pt2):
    from nequip.integrations.ase import NequIPCalculator

    atoms = cu_au_atoms(4)
    results = []
    eager, packaged = NequIPCalculator(small_model(), small_model().spec), NequIPCalculator.from_file(small_pt2("ase", "extension"))
    for calc in (eager, packaged):
        atoms.calc = calc
        results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(), atoms.get_potential_energies()))
    for eager, compiled in zip(*results):
        np.testing.assert_allclose(compiled, eager, rtol=1e-10, atol=1e-12)


def test_compile_cli_errors(tmp_path, capsys):
    from nequip.export.aoti import compile_model
    from nequip.scripts.compile import main

    assert main([str(tmp_path / "missing.ckpt"), str(tmp_path / "o.nequip.pt2")]) == 2
    assert "missing.ckpt' not found" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ckpt"), str(tmp_path / "o.pt2")]) == 2
    assert "must end with .nequip.pt2" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown target 'gromacs'"):
        compile_model(small_model(), small_model().spec, str(tmp_path / "o.nequip.pt2"), target="gromacs")
    if not torch.cuda.is_available():
        with pytest.raises(SetupError, match="no usable CUDA"):
            compile_model(small_model(), small_model().spec, str(tmp_path / "o.nequip.pt2"), device="cuda")


@pytest.mark.slow
def test_every_reader_takes_a_pt2(small_pt2, tmp_path, capsys):
    """nequip.model.io.load_model runs a .pt2 on a batch of frames like the eager model;
    nequip-compile and fine-tuning refuse it with a ModelFileError naming the fix."""
    from helpers import batch_of

    from nequip.errors import ModelFileError
    from nequip.model.io import load_model, read_model_file
    from nequip.scripts.compile import main

    path = small_pt2("ase", "extension")
    packaged, spec = load_model(path)
    assert spec.type_names == ("Cu", "Au") and spec.r_max == 3.6
    batch = batch_of(cu_au_atoms(1), cu_au_atoms(2), cu_au_atoms(3))
    eager, compiled = small_model()(dict(batch)), packaged(dict(batch))
    for key in ("total_energy", "atomic_energy", "forces", "stress"):
        assert compiled[key].shape == eager[key].shape
        torch.testing.assert_close(compiled[key], eager[key].detach(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ModelFileError, match="compiled package without weights"):
        read_model_file(path)
    assert main([path, str(tmp_path / "again.nequip.pt2")]) == 2
    assert "compiled package without weights" in capsys.readouterr().err
