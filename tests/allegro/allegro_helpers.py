"""Small Allegro models for the tests (float64 unless asked)."""

import torch

from nequip.model import build_model, resolve_model_spec

R_MAX = 3.6


def allegro_spec(dtype: str = "float64", **model):
    hp = dict(
        kind="allegro", num_layers=2, l_max=2, parity=True, num_tensor_features=4,
        two_body_mlp=[8, 16], latent_mlp=[16], readout_mlp=[8],
    )
    hp.update(model)
    stats = {"avg_num_neighbors": 12.0, "per_type_energy_shift": [-3.0, -4.0], "force_rms": 0.7}
    return resolve_model_spec(hp, ["Cu", "Au"], R_MAX, dtype, stats)


def allegro_model(dtype: str = "float64", seed: int = 0, **model):
    torch.manual_seed(seed)
    return build_model(allegro_spec(dtype, **model)).eval()
