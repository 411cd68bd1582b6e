"""Loading trained models for evaluation and inference.

A training checkpoint (``.ckpt``) holds the model spec in ``hyper_parameters["spec"]`` and the
weights in ``state_dict``; it is read with ``torch.load(weights_only=True)`` (no code is unpickled)
and the model is rebuilt from the spec. The EMA weights are used when the run had EMA on.
"""

import os
from typing import Any, Dict, Tuple

import torch

from .spec import build_model

_EMA_PREFIX = "ema.module."
_MODEL_PREFIX = "model."


def read_checkpoint(path: str) -> Dict[str, Any]:
    """Raises ``FileNotFoundError`` / ``ValueError`` naming the file when it is missing or not ours."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say which
        raise ValueError(f"'{path}' is not a readable training checkpoint: {err}") from None
    if not isinstance(ckpt, dict) or "spec" not in ckpt.get("hyper_parameters", {}):
        raise ValueError(f"'{path}' is not a checkpoint written by nequip-train (no model spec inside)")
    return ckpt


def model_weights(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The EMA weights if the checkpoint has them, else the trained weights, with prefixes removed."""
    state = ckpt["state_dict"]
    prefix = _EMA_PREFIX if any(k.startswith(_EMA_PREFIX) for k in state) else _MODEL_PREFIX
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_checkpoint_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """``(model in eval mode on device, spec)`` from a ``.ckpt`` file."""
    ckpt = read_checkpoint(path)
    spec = ckpt["hyper_parameters"]["spec"]
    model = build_model(spec)
    model.load_state_dict(model_weights(ckpt))
    return model.to(device).eval(), spec


def load_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Loads an eager model from a training checkpoint (``.ckpt``) or a model package
    (``.nequip.zip``); returns ``(model, spec)``. Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` for any other file type (a compiled ``.nequip.pt2`` is not an eager model)."""
    if path.endswith(".ckpt"):
        return load_checkpoint_model(path, device)
    if path.endswith(".nequip.zip"):
        from .package import load_package_model

        return load_package_model(path, device)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' not found")
    raise ValueError(
        f"'{path}': unknown model file type; expected a training checkpoint (.ckpt) or a model package (.nequip.zip)"
    )
