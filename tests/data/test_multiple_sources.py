"""Training on several files at once, each with a loss weight, from the config's data section."""

import pytest
import torch

from nequip.config import ConfigError, load_config
from nequip.data.datamodule import AtomicDataModule


def test_weighted_sources_are_concatenated(tmp_path, emt_xyz):
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        f"type_names: [Cu, Au]\nr_max: 3.6\n"
        f"data: {{train: [{emt_xyz}, {{path: {emt_xyz}, weight: 3.0}}], split: [0.5, 0.5, 0.0]}}\n"
    )
    config = load_config(str(config_file))
    assert [s.weight for s in config.data.train] == [1.0, 3.0]
    dm = AtomicDataModule(["Cu", "Au"], 3.6, config.data.train, split=(1.0, 0.0, 0.0), dtype=torch.float64)
    dm.setup()
    assert len(dm.train_dataset) == 48
    weights = [float(dm.train_dataset[i]["weight"]) for i in range(48)]
    assert weights[:24] == [1.0] * 24 and weights[24:] == [3.0] * 24


@pytest.mark.parametrize(
    "train, message",
    [
        ("[]", "empty list"),
        ("[{path: X, weight: -1}]", "positive number"),
        ("[{file: X}]", "must be a path or {path: FILE, weight: W}"),
        ("[X, nope.xyz]", "data file 'nope.xyz' (key data.train[1]) not found"),
    ],
)
def test_bad_sources(tmp_path, emt_xyz, train, message):
    config_file = tmp_path / "c.yaml"
    config_file.write_text(f"type_names: [Cu, Au]\nr_max: 3.6\ndata: {{train: {train.replace('X', emt_xyz)}}}\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("{", r"\{").replace("}", r"\}").replace("(", r"\(").replace(")", r"\)")):
        load_config(str(config_file))
