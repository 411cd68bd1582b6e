"""Training checkpoints (``.ckpt``) as model files.

A checkpoint holds the model spec in ``hyper_parameters["spec"]`` and the weights in ``state_dict``;
it is read with ``torch.load(weights_only=True)`` (no code is unpickled). The EMA weights are the
model's weights when the run had EMA on.
"""

from typing import Any, Dict, Tuple

import torch

from ..errors import ModelFileError
from .checks import check_exists, check_finite_weights, check_framework_version

CHECKPOINT_SUFFIX = ".ckpt"
_EMA_PREFIX = "ema.module."
_MODEL_PREFIX = "model."


def read_checkpoint(path: str) -> Dict[str, Any]:
    """The checkpoint's dict. Raises ``FileNotFoundError`` (:class:`nequip.errors.ModelFileNotFound`)
    for a missing file and ``ModelFileError`` naming the file when it is not a checkpoint of ours."""
    check_exists(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say which
        raise ModelFileError(f"'{path}' is not a readable training checkpoint: {err}") from None
    if not isinstance(ckpt, dict) or "spec" not in ckpt.get("hyper_parameters", {}):
        raise ModelFileError(f"'{path}' is not a checkpoint written by nequip-train (no model spec inside)")
    return ckpt


def model_weights(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The EMA weights if the checkpoint has them, else the trained weights, with prefixes removed."""
    state = ckpt["state_dict"]
    prefix = _EMA_PREFIX if any(k.startswith(_EMA_PREFIX) for k in state) else _MODEL_PREFIX
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def read_checkpoint_model(path: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.ckpt`` (EMA weights when it has them), checked: finite weights and a
    compatible framework version, else ``ModelFileError`` naming the file."""
    ckpt = read_checkpoint(path)
    spec = ckpt["hyper_parameters"]["spec"]
    check_framework_version(spec.get("framework_version"), path)
    weights = model_weights(ckpt)
    check_finite_weights(weights, path)
    return spec, weights
