"""Checks every model file passes at load, whatever its format: finite weights, a framework version
this code can read, a file that exists."""

import os
from typing import Any, Dict, Tuple

import torch

from .. import __version__
from ..errors import ModelFileError, ModelFileNotFound


def check_exists(path: str) -> None:
    """Raises :class:`ModelFileNotFound` (a ``FileNotFoundError``) when ``path`` is not a file."""
    if not os.path.isfile(path):
        raise ModelFileNotFound(f"model file '{path}' not found")


def check_finite_weights(weights: Dict[str, torch.Tensor], path: str) -> None:
    """Raises ``ModelFileError`` naming ``path`` and the first parameter (in name order) that holds a
    NaN or infinite value: such a model (a diverged training) must never be packaged, compiled or used."""
    for name in sorted(weights):
        value = weights[name]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ModelFileError(
                f"'{path}' has non-finite weights: parameter '{name}' holds {bad} NaN/inf value(s) of "
                f"{value.numel()}; its training diverged, use an earlier checkpoint or retrain"
            )


def _version_tuple(version: str) -> Tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def check_framework_version(file_version: Any, path: str) -> None:
    """Raises ``ModelFileError`` naming both versions when ``path`` was written by a framework version
    this one cannot read. The rule (README, "File versions"): a file loads when its major version
    equals this framework's and its minor version is not newer (a newer minor may add fields or model
    kinds an older reader would misread). A file without a recorded version predates the rule and loads."""
    if file_version is None:
        return
    try:
        mine, theirs = _version_tuple(__version__), _version_tuple(str(file_version))
    except ValueError:
        raise ModelFileError(f"'{path}' records framework version '{file_version}', which is not a version of nequip") from None
    if theirs[0] != mine[0] or theirs[1] > mine[1]:
        raise ModelFileError(
            f"'{path}' was written by nequip {file_version}, which this nequip {__version__} cannot read "
            f"(files load within the same major version, up to this minor version); "
            f"use nequip {theirs[0]}.{theirs[1]} or newer"
        )
