"""The plugin's pair styles against LAMMPS's own lj/cut, with an LJ model exported to the .pt2
contract (lj_model.py): energy, pressure, forces, per-atom energy and virial, on 1, 2 and 4 MPI
ranks, orthogonal and triclinic boxes, ranks with no atoms, and MD with NVE and NPT."""

import numpy as np
import pytest
from lammps_inputs import LJ_EPS, LJ_RMAX, LJ_SIGMA, export_test_model, requires_lammps, lj_pair, model_pair, run_lmp, structure

pytestmark = requires_lammps

_reference_cache = {}


def reference(tmp_path_factory, lmp_env, key, script_head, **kw):
    """lj/cut on one rank: the reference (cached per structure)."""
    if key not in _reference_cache:
        folder = tmp_path_factory.mktemp("ref")
        script_head = script_head(folder)
        _reference_cache[key] = run_lmp(script_head + lj_pair(LJ_EPS, LJ_SIGMA, LJ_RMAX), folder, lmp_env, **kw)
    return _reference_cache[key]


def assert_same(result, ref, atol=1e-10):
    thermo, atoms, _ = result
    rthermo, ratoms, _ = ref
    scale = max(1.0, abs(rthermo["pe"]))
    assert thermo["pe"] == pytest.approx(rthermo["pe"], abs=atol * scale, rel=0)
    for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz"):
        assert thermo[k] == pytest.approx(rthermo[k], rel=1e-10, abs=1e-7), k  # bar
    np.testing.assert_array_equal(atoms[:, :2], ratoms[:, :2])
    np.testing.assert_allclose(atoms[:, 2:5], ratoms[:, 2:5], atol=1e-12)
    np.testing.assert_allclose(atoms[:, 5:8], ratoms[:, 5:8], atol=atol)  # forces, eV/A
    np.testing.assert_allclose(atoms[:, 8], ratoms[:, 8], atol=atol)  # pe/atom
    np.testing.assert_allclose(atoms[:, 9:15], ratoms[:, 9:15], rtol=1e-9, atol=1e-4)  # stress/atom, bar*A^3
    # per-atom sums equal the globals
    assert atoms[:, 8].sum() == pytest.approx(thermo["pe"], abs=1e-9)
    for col, k in zip(range(9, 15), ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")):
        assert -atoms[:, col].sum() / thermo["vol"] == pytest.approx(thermo[k], rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("kind", ["allegro", "nequip"])
@pytest.mark.parametrize("box", ["orthogonal", "triclinic"])
@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_static_matches_lj_cut(kind, box, nprocs, lj_models, lmp_env, tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory, lmp_env, box, lambda d: structure(d, box))
    head = structure(tmp_path, box)
    result = run_lmp(head + model_pair(kind, lj_models[kind]), tmp_path, lmp_env, nprocs=nprocs)
    assert_same(result, ref)
    if kind == "nequip":
        assert "ghost cutoff to num_layers * r_max + skin" in result[2]


@pytest.mark.parametrize("kind", ["allegro", "nequip"])
def test_ranks_without_atoms(kind, lj_models, lmp_env, tmp_path, tmp_path_factory):
    """Atoms only in one corner of the box: with a 2x2x1 grid, some of the 4 ranks own none."""
    ref = reference(tmp_path_factory, lmp_env, "corner", lambda d: structure(d, corner=True))
    head = structure(tmp_path, corner=True)
    result = run_lmp(head + model_pair(kind, lj_models[kind]), tmp_path, lmp_env, nprocs=4, processors="2 2 1")
    assert_same(result, ref)
    assert "Nlocal:" in result[2] and " 0 min" in result[2].split("Nlocal:")[1].splitlines()[0]


@pytest.mark.parametrize("kind", ["allegro", "nequip"])
def test_non_periodic(kind, lj_models, lmp_env, tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory, lmp_env, "fsp", lambda d: structure(d, boundary="f s p"))
    head = structure(tmp_path, boundary="f s p")
    assert_same(run_lmp(head + model_pair(kind, lj_models[kind]), tmp_path, lmp_env, nprocs=2), ref)


MD = """
velocity all create 600 4928 mom yes rot yes dist gaussian
timestep 0.002
{fix}
thermo 10
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,nprocs,fix,box",
    [
        ("allegro", 2, "fix 1 all nve", "orthogonal"),
        ("nequip", 2, "fix 1 all npt temp 600 600 0.1 iso 0 0 0.5", "orthogonal"),
        ("allegro", 4, "fix 1 all npt temp 600 600 0.1 tri 0 0 0.5", "triclinic"),
    ],
)
def test_md_matches_lj_cut(kind, nprocs, fix, box, lj_models, lmp_env, tmp_path):
    """100 steps (atoms cross rank boundaries, neighbor lists are rebuilt, the box changes)."""
    head = structure(tmp_path, box) + MD.format(fix=fix)
    ref = run_lmp(head + lj_pair(LJ_EPS, LJ_SIGMA, LJ_RMAX), tmp_path / "ref", lmp_env, steps=100)
    res = run_lmp(head + model_pair(kind, lj_models[kind]), tmp_path / "model", lmp_env, nprocs=nprocs, steps=100)
    for k in ("pe", "ke", "vol", "pxx", "pxy"):
        assert res[0][k] == pytest.approx(ref[0][k], rel=1e-7, abs=1e-6), k
    np.testing.assert_allclose(res[1][:, 5:8], ref[1][:, 5:8], atol=1e-6)


ISOLATED = """units metal
boundary f f f
atom_modify map array
region box block 0 30 0 30 0 30
create_box 2 box
create_atoms 1 single 5 5 5
create_atoms 2 single 20 20 20
create_atoms 2 single 23 20 20
mass * 63.5
"""


@pytest.mark.parametrize("kind", ["allegro", "nequip"])
def test_atoms_without_edges(kind, lj_models, lmp_env, tmp_path):
    """An atom with no neighbours (and a rank whose atoms have no edges at all) is fine."""
    ref = run_lmp(ISOLATED + lj_pair(LJ_EPS, LJ_SIGMA, LJ_RMAX), tmp_path / "ref", lmp_env)
    res = run_lmp(ISOLATED + model_pair(kind, lj_models[kind]), tmp_path / "model", lmp_env, nprocs=2)
    assert_same(res, ref)
    assert res[1][0, 5:8].tolist() == [0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def lj_float32(tmp_path_factory, plugin):
    import torch

    return export_test_model(tmp_path_factory.mktemp("lj32"), "lj_float32.pt2", model_kind="allegro", dtype=torch.float32)


def test_float32_model(lj_float32, lmp_env, tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory, lmp_env, "orthogonal", lambda d: structure(d, "orthogonal"))
    thermo, atoms, out = run_lmp(structure(tmp_path) + model_pair("allegro", lj_float32), tmp_path, lmp_env, nprocs=2)
    assert "float32" in out
    assert thermo["pe"] == pytest.approx(ref[0]["pe"], rel=1e-5)
    assert thermo["pxx"] == pytest.approx(ref[0]["pxx"], rel=1e-4)
    np.testing.assert_allclose(atoms[:, 5:8], ref[1][:, 5:8], atol=1e-4 * np.abs(ref[1][:, 5:8]).max())
