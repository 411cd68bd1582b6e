"""Model packages (``.nequip.zip``): a versioned archive for sharing, compiling and fine-tuning.

Contents (a plain zip; no pickled code)::

    manifest.json   {"format": "nequip-package", "format_version": 1, "framework_version", "kind",
                     "type_names", "r_max", "dtype", "source"}
    spec.json       the full model spec (config + training statistics), see nequip.model.spec
    weights.pt      torch.save of a plain {name: tensor} state dict (EMA weights when the run had EMA),
                    read back with torch.load(weights_only=True)
"""

import io
import json
import os
import zipfile
from typing import Any, Dict, Tuple

import torch

from .. import __version__
from .spec import build_model

PACKAGE_SUFFIX = ".nequip.zip"
FORMAT = "nequip-package"
FORMAT_VERSION = 1


def write_package(spec: Dict[str, Any], weights: Dict[str, torch.Tensor], out: str, source: str = "") -> str:
    """Writes the package ``out`` (must end with ``.nequip.zip``); returns its path."""
    if not out.endswith(PACKAGE_SUFFIX):
        raise ValueError(f"package file '{out}' must end with {PACKAGE_SUFFIX}")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "framework_version": __version__,
        "kind": spec["kind"], "type_names": list(spec["type_names"]), "r_max": float(spec["r_max"]),
        "dtype": spec["dtype"], "source": os.path.basename(source),
    }
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in weights.items()}, buffer)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("spec.json", json.dumps(spec, indent=2))
        zf.writestr("weights.pt", buffer.getvalue())
    os.replace(tmp, out)
    return out


def read_package(path: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(manifest, spec, weights)``. Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    naming the file when it is not a package or has a format version newer than this code reads."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' not found")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            spec = json.loads(zf.read("spec.json"))
            weights_bytes = zf.read("weights.pt")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"'{path}' is not a nequip model package: {err}") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a nequip model package (format '{manifest.get('format')}')")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"'{path}' has package format version {manifest['format_version']}, newer than the {FORMAT_VERSION} "
            f"this framework ({__version__}) reads; upgrade nequip"
        )
    weights = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
    return manifest, spec, weights


def load_package_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """``(model in eval mode on device, spec)`` from a ``.nequip.zip``."""
    _, spec, weights = read_package(path)
    model = build_model(spec)
    model.load_state_dict(weights)
    return model.to(device).eval(), spec


def package_checkpoint(ckpt_path: str, out: str) -> str:
    """Builds a package from a training checkpoint (EMA weights when present)."""
    from .io import model_weights, read_checkpoint

    ckpt = read_checkpoint(ckpt_path)
    return write_package(ckpt["hyper_parameters"]["spec"], model_weights(ckpt), out, source=ckpt_path)


def initial_weights(path: str, spec: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Weights to start a fine-tuning run from (``initialize_from:``): a ``.nequip.zip`` or ``.ckpt``.

    Only the same species (``type_names``, same order) and the same model hyperparameters are
    supported; anything else raises ``ValueError`` saying what differs."""
    if path.endswith(".ckpt"):
        from .io import model_weights, read_checkpoint

        ckpt = read_checkpoint(path)
        source_spec, weights = ckpt["hyper_parameters"]["spec"], model_weights(ckpt)
    else:
        _, source_spec, weights = read_package(path)
    if list(source_spec["type_names"]) != list(spec["type_names"]):
        raise ValueError(
            f"initialize_from '{path}' has type_names {source_spec['type_names']} but the config has "
            f"{list(spec['type_names'])}; fine-tuning needs the same species in the same order"
        )
    expected = build_model(spec).state_dict()
    bad = [k for k in expected if k not in weights or weights[k].shape != expected[k].shape]
    if bad:
        raise ValueError(
            f"initialize_from '{path}' does not fit the configured model (e.g. '{bad[0]}'); use the same model "
            "hyperparameters (kind, num_layers, l_max, num_features, ...) as the run that wrote it"
        )
    return {k: weights[k] for k in expected}
