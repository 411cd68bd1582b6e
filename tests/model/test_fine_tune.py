"""Starting a fine-tuning run from a trained model (``initialize_from``): with the same species, or
with species added, dropped and reordered, the species the source knows start exactly as in the
source model; what cannot fit is a clear error."""

import dataclasses

import pytest
import torch
from ase.io import write

from helpers import TINY_CONFIG, allegro_model, batch_of, cu_au_atoms, emt_frames, relative_error, small_model

from nequip.data import keys
from nequip.data.atomic_data import from_ase
from nequip.data.type_mapper import TypeMapper
from nequip.model import build_model, resolve_model_spec
from nequip.model.io import read_checkpoint
from nequip.model.fine_tune import fine_tuning_spec, load_initial_weights
from nequip.model.package import write_package


def _new_data_statistics(num_types: int):
    return {"avg_num_neighbors": 20.0, "per_type_energy_shift": [-2.0, -5.0, -6.0][:num_types], "force_rms": 0.3}


def _fine_tuned(source, path, type_names, **model):
    hp = {**dataclasses.asdict(source.spec.hyperparameters), "per_type_energy_shifts": None, "per_type_energy_scales": None, **model}
    spec = resolve_model_spec(hp, type_names, source.spec.r_max, source.spec.dtype, _new_data_statistics(len(type_names)))
    torch.manual_seed(7)
    target = build_model(fine_tuning_spec(spec, path))
    new_species = load_initial_weights(target, path)
    return target, new_species


@pytest.mark.parametrize("make_model", [small_model, allegro_model], ids=["nequip", "allegro"])
def test_new_species_keep_the_known_ones_exact(tmp_path, make_model):
    source = make_model(seed=1)  # Cu, Au
    path = write_package(source.spec, source.state_dict(), str(tmp_path / "s.nequip.zip"))
    target, new_species = _fine_tuned(source, path, ["Ag", "Au", "Cu"])
    assert new_species == ["Ag"]
    hp = target.spec.hyperparameters
    assert hp.avg_num_neighbors == source.spec.hyperparameters.avg_num_neighbors
    src_shifts = dict(zip(["Cu", "Au"], source.spec.hyperparameters.per_type_energy_shifts))
    assert hp.per_type_energy_shifts == [-2.0, src_shifts["Au"], src_shifts["Cu"]]  # Ag from the new data

    atoms = cu_au_atoms(4)
    reference = source(batch_of(atoms))
    out = target(from_ase(atoms, TypeMapper(["Ag", "Au", "Cu"]), 3.6, dtype=torch.float64))
    for key in (keys.TOTAL_ENERGY, keys.FORCES, keys.STRESS, keys.ATOMIC_ENERGY):
        assert relative_error(out[key], reference[key]) < 1e-12, key
    with_ag = atoms.copy()
    with_ag.symbols[0] = "Ag"
    out = target(from_ase(with_ag, TypeMapper(["Ag", "Au", "Cu"]), 3.6, dtype=torch.float64))
    assert torch.isfinite(out[keys.FORCES]).all()
    assert relative_error(out[keys.TOTAL_ENERGY], reference[keys.TOTAL_ENERGY]) > 1e-6  # Ag is not Cu


def test_same_species_load_every_weight(tmp_path):
    source = small_model(seed=1)
    path = write_package(source.spec, source.state_dict(), str(tmp_path / "s.nequip.zip"))
    target, new_species = _fine_tuned(source, path, ["Cu", "Au"])
    assert new_species == []
    state = target.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())


def test_dropped_species(tmp_path):
    source = small_model(seed=2)
    path = write_package(source.spec, source.state_dict(), str(tmp_path / "s.nequip.zip"))
    target, new_species = _fine_tuned(source, path, ["Cu"])
    assert new_species == []
    copper = cu_au_atoms(5)
    copper.symbols[:] = "Cu"
    out = target(from_ase(copper, TypeMapper(["Cu"]), 3.6, dtype=torch.float64))
    assert relative_error(out[keys.FORCES], source(batch_of(copper))[keys.FORCES]) < 1e-12


def test_other_hyperparameters_are_a_clear_error(tmp_path):
    source = small_model()
    path = write_package(source.spec, source.state_dict(), str(tmp_path / "s.nequip.zip"))
    with pytest.raises(ValueError, match=r"model.num_features = 4 but the config has 8"):
        _fine_tuned(source, path, ["Cu", "Au"], num_features=8)
    other = resolve_model_spec(dataclasses.asdict(source.spec.hyperparameters), ["Cu", "Au"], 4.0, "float64")
    with pytest.raises(ValueError, match="r_max 3.6 but the config has 4.0"):
        load_initial_weights(build_model(other), path)


@pytest.mark.slow
def test_nequip_train_fine_tunes_with_a_new_species(tmp_path, trained_checkpoint):
    """A run trained on Cu-Au (conftest) fine-tuned on Cu-Au-Ag data through nequip-train."""
    from nequip.scripts.train import main

    frames = emt_frames(8, seed=50)
    for atoms in frames:
        atoms.symbols[0] = "Ag"
        atoms.calc.reset()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    data = tmp_path / "cuauag.xyz"
    write(data, frames)
    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.format(data=data).replace("[Cu, Au]", "[Cu, Au, Ag]"))
    assert main([str(config), f"run_dir={tmp_path / 'run'}", f"initialize_from={trained_checkpoint}", "trainer.max_epochs=1"]) == 0
    spec = read_checkpoint(str(tmp_path / "run" / "checkpoints" / "last.ckpt"))["hyper_parameters"]["spec"]
    source = read_checkpoint(trained_checkpoint)["hyper_parameters"]["spec"]
    assert spec["type_names"] == ["Cu", "Au", "Ag"]
    assert spec["model"]["avg_num_neighbors"] == source["model"]["avg_num_neighbors"]
    assert spec["model"]["per_type_energy_shifts"][:2] == source["model"]["per_type_energy_shifts"]
