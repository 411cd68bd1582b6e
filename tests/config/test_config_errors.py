"""Each bad config gives one clear line naming the key or file and the fix."""

import os

import pytest

from nequip.config import ConfigError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(tmp_path, text: str, data_file: str = "train.xyz") -> str:
    (tmp_path / data_file).write_text("")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


BASE = "type_names: [Cu]\nr_max: 4.0\nmodel: {kind: nequip}\ndata: {train: train.xyz}\n"


def error_of(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_config_fills_defaults_and_resolves_paths(tmp_path):
    config = load_config(write(tmp_path, BASE), ["trainer.max_epochs=7", "model.num_layers=2"])
    assert config["trainer"]["max_epochs"] == 7
    assert config["model"]["num_layers"] == 2
    assert config["data"]["batch_size"] == 5
    assert config["data"]["train"] == [{"path": str(tmp_path / "train.xyz"), "weight": 1.0}]


def test_bundled_configs_validate():
    tutorial = load_config(os.path.join(REPO, "configs", "tutorial.yaml"))
    train_file = tutorial["data"]["train"][0]["path"]
    assert os.path.exists(train_file)
    full = load_config(os.path.join(REPO, "configs", "nequip.yaml"), [f"data.train={train_file}", "data.val=null"])
    assert full["model"]["num_layers"] == 4


@pytest.mark.parametrize(
    "override, expected",
    [
        ("trainer.max_epoch=3", "unknown key 'trainer.max_epoch'; did you mean 'max_epochs'"),
        ("model.num_layer=3", "unknown key 'model.num_layer' for kind 'nequip'; did you mean 'num_layers'"),
        ("learning_rate=0.1", "unknown key 'learning_rate'"),
        ("trainer.max_epochs=ten", "bad value for key 'trainer.max_epochs'"),
        ("optimizer.name=sgd", "'optimizer.name' is 'sgd'; choose one of adam, adamw"),
        ("model.kind=mace", "unknown model kind 'mace'"),
        ("data.train=missing.xyz", "data file 'missing.xyz' (key data.train) not found"),
        ("logging.loggers=[csv,mlflow]", "unknown logger 'mlflow'"),
        ("data.split=[0.9,0.3,0.1]", "data.split must be three fractions"),
        ("trainer.limit_val_batches=0", "set scheduler.name to cosine or none"),
    ],
)
def test_bad_overrides(tmp_path, override, expected):
    assert expected in error_of(write(tmp_path, BASE), [override])


def test_unknown_key_in_file_names_closest(tmp_path):
    message = error_of(write(tmp_path, BASE + "trainr: {max_epochs: 3}\n"))
    assert "unknown key 'trainr'" in message and "'trainer'" in message


def test_nested_unknown_key_in_file(tmp_path):
    message = error_of(write(tmp_path, BASE.replace("{train: train.xyz}", "{train: train.xyz, batchsize: 3}")))
    assert "unknown key 'data.batchsize'" in message and "batch_size" in message


def test_missing_config_file(tmp_path):
    assert "config file" in error_of(str(tmp_path / "nope.yaml")) and "not found" in error_of(str(tmp_path / "nope.yaml"))


def test_yaml_syntax_error_names_line(tmp_path):
    message = error_of(write(tmp_path, BASE + "trainer: {max_epochs: [3\n"))
    assert "invalid YAML" in message and "line" in message


def test_missing_required_keys(tmp_path):
    assert "'type_names' is missing" in error_of(write(tmp_path, "r_max: 4.0\ndata: {train: train.xyz}\n"))
    assert "'r_max'" in error_of(write(tmp_path, "type_names: [Cu]\ndata: {train: train.xyz}\n"))
    assert "'data.train' is missing" in error_of(write(tmp_path, "type_names: [Cu]\nr_max: 4.0\n"))


def test_override_without_equals(tmp_path):
    assert "not of the form key=value" in error_of(write(tmp_path, BASE), ["max_epochs"])
