"""Loading trained models for evaluation and inference.

A training checkpoint (``.ckpt``) holds the model spec in ``hyper_parameters["spec"]`` and the
weights in ``state_dict``; it is read with ``torch.load(weights_only=True)`` (no code is unpickled)
and the model is rebuilt from the spec. The EMA weights are used when the run had EMA on.
"""

import os
from typing import Any, Dict, Tuple

import torch

from .. import __version__
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


def read_checkpoint_model(path: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.ckpt`` (EMA weights when it has them), checked: finite weights and a
    compatible framework version, else ``ValueError`` naming the file."""
    ckpt = read_checkpoint(path)
    spec = ckpt["hyper_parameters"]["spec"]
    check_framework_version(spec.get("framework_version"), path)
    weights = model_weights(ckpt)
    check_finite_weights(weights, path)
    return spec, weights


def model_weights(ckpt: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The EMA weights if the checkpoint has them, else the trained weights, with prefixes removed."""
    state = ckpt["state_dict"]
    prefix = _EMA_PREFIX if any(k.startswith(_EMA_PREFIX) for k in state) else _MODEL_PREFIX
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def check_finite_weights(weights: Dict[str, torch.Tensor], path: str) -> None:
    """Raises ``ValueError`` naming ``path`` and the first parameter (in name order) that holds a NaN
    or infinite value: such a model (a diverged training) must never be packaged, compiled or used."""
    for name in sorted(weights):
        value = weights[name]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(
                f"'{path}' has non-finite weights: parameter '{name}' holds {bad} NaN/inf value(s) of "
                f"{value.numel()}; its training diverged, use an earlier checkpoint or retrain"
            )


def _version_tuple(version: str) -> Tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def check_framework_version(file_version: Any, path: str) -> None:
    """Raises ``ValueError`` naming both versions when ``path`` was written by a framework version this
    one cannot read. The rule (README, "File versions"): a file loads when its major version equals
    this framework's and its minor version is not newer (a newer minor may add fields or model kinds
    an older reader would misread). A file without a recorded version predates the rule and loads."""
    if file_version is None:
        return
    try:
        mine, theirs = _version_tuple(__version__), _version_tuple(str(file_version))
    except ValueError:
        raise ValueError(f"'{path}' records framework version '{file_version}', which is not a version of nequip") from None
    if theirs[0] != mine[0] or theirs[1] > mine[1]:
        raise ValueError(
            f"'{path}' was written by nequip {file_version}, which this nequip {__version__} cannot read "
            f"(files load within the same major version, up to this minor version); "
            f"use nequip {theirs[0]}.{theirs[1]} or newer"
        )


def load_checkpoint_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """``(model in eval mode on device, spec)`` from a ``.ckpt`` file. Raises ``ValueError`` for a model
    with non-finite weights or written by an incompatible framework version."""
    spec, weights = read_checkpoint_model(path)
    model = build_model(spec)
    model.load_state_dict(weights)
    return model.to(device).eval(), spec


def check_device(device: str) -> None:
    """Raises ``ValueError`` when ``device`` is not a torch device name, or is a CUDA device on a machine
    (or a torch build) without CUDA: torch would fail later with a traceback."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device '{device}' is not a torch device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' asked for, but this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device '{device}' asked for, but there are only {torch.cuda.device_count()} CUDA GPU(s) here")


def load_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Loads an eager model from a training checkpoint (``.ckpt``) or a model package
    (``.nequip.zip``); returns ``(model, spec)``. Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` for any other file type (a compiled ``.nequip.pt2`` is not an eager model), or for a
    device that is not valid or not available here."""
    check_device(device)
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
