"""Each bad config gives one clear line naming the key or file and the fix."""

import os

import pytest

from nequip.config import ConfigError, load_config
from nequip.data.source import DataSource

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
    assert config.trainer.max_epochs == 7
    assert config.model.num_layers == 2
    assert config.data.batch_size == 5
    assert config.data.train == [DataSource(str(tmp_path / "train.xyz"), 1.0)]


def test_bundled_configs_validate():
    tutorial = load_config(os.path.join(REPO, "configs", "tutorial.yaml"))
    train_file = tutorial.data.train[0].path
    assert os.path.exists(train_file)
    full = load_config(os.path.join(REPO, "configs", "nequip.yaml"), [f"data.train={train_file}", "data.val=null"])
    assert full.model.num_layers == 4


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


def test_errors_name_the_line_of_the_file_or_the_command_line(tmp_path):
    path = write(tmp_path, BASE + "optimizer:\n  name: adam\n  lr: -0.1\n")
    assert error_of(path).startswith(f"{path}, line 7: optimizer.lr must be positive")
    assert error_of(write(tmp_path, BASE), ["optimizer.lr=0"]).startswith("command line: optimizer.lr must be positive")
    typo = write(tmp_path, BASE.replace("model: {kind: nequip}", "model: {kind: nequip, num_layers: two}"))
    assert error_of(typo).startswith(f"{typo}, line 3: bad value for key 'model.num_layers'")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.tp_backend=refrence", "'model.tp_backend' is 'refrence'; choose one of reference, extension"),
        ("model.l_max=-1", "model.l_max must be >= 0"),
        ("model.num_layers=0", "model.num_layers must be >= 1"),
        ("model_dtype=float16", "'model_dtype' is 'float16'; choose one of float64, float32"),
        ("type_names=[Cu,Cu]", "lists a species twice"),
        ("loss.forces=-1", "loss.forces (a loss coefficient) must be >= 0"),
        ("callbacks=[{class: lightning.pytorch.callbacks.EarlyStoping}]", "no class 'lightning.pytorch.callbacks.EarlyStoping'"),
        ("callbacks=[{class: nequip.config.TrainConfig}]", "is not a lightning.pytorch.callbacks.callback.Callback"),
        ("callbacks=[{class: lightning.pytorch.callbacks.EarlyStopping, monitr: val/loss}]", "do not fit lightning.pytorch.callbacks.EarlyStopping"),
        ("callbacks=[EarlyStopping]", "'callbacks[0]' must be {class: import.path.ClassName"),
        ("logging.loggers=[{class: lightning.pytorch.callbacks.EarlyStopping, monitor: val/loss}]", "is not a lightning.pytorch.loggers.logger.Logger"),
    ],
)
def test_bad_values_are_caught_at_load(tmp_path, override, expected):
    assert expected in error_of(write(tmp_path, BASE), [override])


def test_model_section_is_typed_by_its_kind(tmp_path):
    from allegro.model import AllegroConfig

    config = load_config(write(tmp_path, BASE), ["model.kind=allegro", "model.num_tensor_features=8"])
    assert isinstance(config.model, AllegroConfig) and config.model.num_tensor_features == 8
    assert "unknown key 'model.num_features' for kind 'allegro'" in error_of(write(tmp_path, BASE), ["model.kind=allegro", "model.num_features=8"])


def test_extra_callbacks_and_loggers_reach_the_trainer(tmp_path):
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    from nequip.train.trainer import build_trainer

    config = load_config(write(tmp_path, BASE), [
        f"run_dir={tmp_path / 'run'}",
        "callbacks=[{class: lightning.pytorch.callbacks.EarlyStopping, monitor: val/loss, patience: 3}]",
        f"logging.loggers=[{{class: lightning.pytorch.loggers.CSVLogger, save_dir: {tmp_path / 'csv'}}}]",
    ])
    trainer = build_trainer(config)
    (early,) = [c for c in trainer.callbacks if isinstance(c, EarlyStopping)]
    assert early.patience == 3 and early.monitor == "val/loss"
    assert isinstance(trainer.logger, CSVLogger) and trainer.logger.save_dir == str(tmp_path / "csv")


def test_config_to_dict_is_plain_data(tmp_path):
    import yaml

    from nequip.config import config_to_dict

    plain = config_to_dict(load_config(write(tmp_path, BASE)))
    assert plain["model_dtype"] == "float64" and plain["optimizer"]["name"] == "adam"
    assert plain["data"]["train"] == [{"path": str(tmp_path / "train.xyz"), "weight": 1.0}]
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain


def test_print_defaults_lists_every_key_with_type_and_meaning(capsys):
    from nequip.scripts.train import main

    assert main(["--print-defaults"]) == 0
    text = capsys.readouterr().out
    assert "type_names: ???  (required)" in text and "num_features: 32" in text
    assert "# mse | huber; the pointwise error" in text
    loaded = yaml_without_required(text)
    assert loaded["data"]["split"] == [0.8, 0.1, 0.1] and loaded["model"]["kind"] == "nequip"
    assert main(["--print-defaults", "model.kind=allegro"]) == 0
    allegro = capsys.readouterr().out
    assert "num_tensor_features:" in allegro
    for listing in (text, allegro):  # every key has a meaning after its type, the model's included
        keys = [line for line in listing.splitlines() if ":" in line and not line.lstrip().startswith("#")]
        leaves = [line for line in keys if not line.rstrip().split("#")[0].rstrip().endswith(":")]
        assert leaves and all(";" in line.split("#", 1)[1] for line in leaves), [l for l in leaves if ";" not in l.split("#", 1)[1]]
    assert main(["--print-defaults", "trainer.max_epochs=3"]) == 2
    assert "takes only model.kind=KIND" in capsys.readouterr().err


def yaml_without_required(text: str):
    import yaml

    return yaml.safe_load(text.replace("???  (required)", "null"))
