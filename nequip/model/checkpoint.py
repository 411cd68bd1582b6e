"""Training checkpoints (``.ckpt``) as model files.

A checkpoint holds the model spec in ``hyper_parameters["spec"]`` (the plain form of
:meth:`nequip.model.spec.ModelSpec.to_dict`) and the weights in ``state_dict``;
it is read with ``torch.load(weights_only=True)`` (no code is unpickled). The EMA weights are the
model's weights when the run had EMA on.
"""

from typing import Any, Dict, Tuple

import torch

from ..errors import ModelFileError
from .checks import check_exists, check_finite_weights, check_framework_version
from .spec import ModelSpec

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


def checkpoint_spec(ckpt: Dict[str, Any], path: str) -> ModelSpec:
    """The spec of a checkpoint read by :func:`read_checkpoint` (stored as plain data, see
    nequip.model.spec), checked: a compatible framework version and known keys, else ``ModelFileError``."""
    plain = ckpt["hyper_parameters"]["spec"]
    check_framework_version(plain.get("framework_version") if isinstance(plain, dict) else None, path)
    return ModelSpec.from_dict(plain, path)


def read_checkpoint_model(path: str) -> Tuple[ModelSpec, Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.ckpt`` (EMA weights when it has them), checked: finite weights and a
    compatible framework version, else ``ModelFileError`` naming the file."""
    ckpt = read_checkpoint(path)
    spec = checkpoint_spec(ckpt, path)
    weights = model_weights(ckpt)
    check_finite_weights(weights, path)
    return spec, weights
