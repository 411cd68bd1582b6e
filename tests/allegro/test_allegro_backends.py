"""Allegro's tensor-product backends: the compiled extension gives the reference path's numbers, and
ChannelwiseTP matches e3nn's 'uuu' TensorProduct as Allegro uses it."""

import torch
from e3nn import o3

from helpers import allegro_model, cu_au_atoms, frame, relative_error
from nequip.data import keys
from nequip.ops import ChannelwiseTP


def test_channelwise_tp_matches_e3nn(float64_default):
    """The layer-0 product of Allegro (U x Y irreps with U x Y irreps into the feature irreps)."""
    torch.manual_seed(0)
    U = 3
    in1 = o3.Irreps(f"{U}x0e+{U}x1o+{U}x2e")
    target = o3.Irreps(f"{U}x0e+{U}x0o+{U}x1o+{U}x1e+{U}x2e+{U}x2o")
    tp = ChannelwiseTP(in1, in1, target)
    layout = o3.Irreps(tp.irreps_out)
    instructions, i_out = [], 0
    for i1, (_, ir1) in enumerate(in1):
        for i2, (_, ir2) in enumerate(in1):
            for ir in ir1 * ir2:
                if ir in [t.ir for t in target]:
                    instructions.append((i1, i2, i_out, "uuu", False))
                    i_out += 1
    ref = o3.TensorProduct(in1, in1, layout, instructions, irrep_normalization="component", path_normalization="element")
    x1, x2 = in1.randn(7, -1), in1.randn(4, -1)
    idx = torch.tensor([0, 1, 2, 3, 3, 0, 1])
    assert relative_error(tp(x1, x2, idx), ref(x1, x2[idx])) < 1e-12


def test_extension_backend_equals_reference(float64_default):
    atoms = cu_au_atoms(2)
    ref = allegro_model(tp_backend="reference", seed=3)
    ext = allegro_model(tp_backend="extension", seed=3)
    ext.load_state_dict(ref.state_dict())
    a, b = ref(frame(atoms)), ext(frame(atoms))
    for key in (keys.TOTAL_ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
        assert relative_error(b[key], a[key]) < 1e-10, key



def test_export_with_operators_equals_eager(float64_default):
    """Allegro exported the way nequip-compile does (before AOT compilation) calls our operators and
    equals the eager reference model: the ase target on a periodic cell, the lammps target on an
    isolated cluster."""
    from nequip.export.aoti import export_program, target_function
    from nequip.export.targets import TARGETS

    ext, ref = allegro_model(tp_backend="extension", seed=5), allegro_model(tp_backend="reference", seed=5)
    data = frame(cu_au_atoms(6, repeat=(3, 2, 2)))
    expected = ref(dict(data))
    program = export_program(ext, ext.spec, "ase")
    calls = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "nequip_ops.channelwise_contract.default" in calls
    for key, value in zip(TARGETS["ase"][1], program.module()(*[data[k] for k in TARGETS["ase"][0]])):
        assert relative_error(value, expected[key]) < 1e-10, key

    cluster = cu_au_atoms(7)
    cluster.pbc = False
    data = frame(cluster)
    args = (data[keys.POSITIONS], data[keys.ATOM_TYPES], data[keys.EDGE_INDEX], torch.tensor([len(cluster)]))
    program = export_program(ext, ext.spec, "lammps")
    for got, want in zip(program.module()(*args), target_function(ref, "lammps")(*args)):
        assert relative_error(got, want) < 1e-10
