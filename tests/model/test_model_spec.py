"""The model spec as a value (nequip.model.spec.ModelSpec): typed, frozen, written into files as the
plain dict they always held, and read back from them (old files included) with one-line errors."""

import dataclasses
import json

import pytest
import torch
from helpers import allegro_spec, batch_of, cu_au_atoms, small_model, small_spec
from nequip.data import keys
from nequip.errors import ModelFileError
from nequip.model import build_model
from nequip.model.io import load_model, read_model_file
from nequip.model.nequip_model import NequIPConfig
from nequip.model.spec import ModelSpec

# the layout of the plain form, as checkpoints, spec.json and the spec dicts before ModelSpec held it
PLAIN_KEYS = ["kind", "type_names", "r_max", "dtype", "framework_version", "model"]


@pytest.mark.parametrize("make", [small_spec, allegro_spec])
def test_round_trip_through_the_plain_form(make):
    spec = make()
    plain = spec.to_dict()
    assert list(plain) == PLAIN_KEYS
    assert plain["model"] == dataclasses.asdict(spec.hyperparameters)
    assert plain["type_names"] == ["Cu", "Au"] and isinstance(plain["r_max"], float)
    assert json.loads(json.dumps(plain)) == plain  # plain data only: JSON and torch.load(weights_only=True)
    assert ModelSpec.from_dict(plain) == spec
    assert ModelSpec.from_dict(json.loads(json.dumps(plain))) == spec


def test_typed_attributes():
    spec = small_spec()
    assert isinstance(spec.hyperparameters, NequIPConfig)
    assert spec.hyperparameters.l_max == 2 and spec.hyperparameters.avg_num_neighbors == 12.0
    assert spec.hyperparameters.per_type_energy_shifts == [-3.0, -4.0]
    assert spec.type_names == ("Cu", "Au") and spec.torch_dtype == torch.float64


def test_spec_is_frozen():
    spec = small_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.r_max = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.hyperparameters = None


def test_model_carries_its_spec_outside_the_state_dict():
    spec = small_spec()
    model = build_model(spec)
    assert model.spec is spec
    assert not any("spec" in name for name in model.state_dict())


def _old_checkpoint(path, plain, model):
    """A checkpoint as nequip-train wrote it before ModelSpec: the spec a plain dict in hyper_parameters."""
    torch.save({"epoch": 0, "hyper_parameters": {"spec": plain, "train_config": {}},
                "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)


@pytest.mark.parametrize("without_version", [False, True])
def test_checkpoint_with_a_dict_spec_loads(tmp_path, without_version):
    model = small_model()
    plain = model.spec.to_dict()
    if without_version:  # files from before framework versions were recorded
        del plain["framework_version"]
    path = str(tmp_path / "old.ckpt")
    _old_checkpoint(path, plain, model)
    spec, _ = read_model_file(path)
    assert spec.to_dict() == plain
    loaded, spec = load_model(path)
    batch = batch_of(cu_au_atoms(3))
    assert torch.equal(loaded(batch)[keys.TOTAL_ENERGY], model(batch)[keys.TOTAL_ENERGY])


@pytest.mark.parametrize("key", ["kind", "type_names", "r_max", "dtype", "model"])
def test_missing_key_is_a_one_line_error_naming_it(key):
    plain = small_spec().to_dict()
    del plain[key]
    with pytest.raises(ModelFileError, match=rf"lacks key '{key}'") as err:
        ModelSpec.from_dict(plain, "m.ckpt")
    assert "'m.ckpt'" in str(err.value) and "\n" not in str(err.value)


def test_unknown_keys_are_errors_naming_them(tmp_path):
    plain = small_spec().to_dict()
    with pytest.raises(ModelFileError, match="unknown key 'colour'"):
        ModelSpec.from_dict({**plain, "colour": "blue"})
    with pytest.raises(ModelFileError, match=r"unknown key 'model\.num_featurez'"):
        ModelSpec.from_dict({**plain, "model": {**plain["model"], "num_featurez": 4}})
    with pytest.raises(ModelFileError, match="unknown model kind 'mace'"):
        ModelSpec.from_dict({**plain, "kind": "mace"})
    with pytest.raises(ModelFileError, match="dtype 'float16'"):
        ModelSpec.from_dict({**plain, "dtype": "float16"})
    model = small_model()
    del plain["r_max"]
    path = str(tmp_path / "damaged.ckpt")
    _old_checkpoint(path, plain, model)
    with pytest.raises(ModelFileError, match=r"damaged\.ckpt'.*lacks key 'r_max'"):
        read_model_file(path)
