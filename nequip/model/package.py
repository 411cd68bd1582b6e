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
from typing import Any, Dict, List, Tuple

import torch

from .. import __version__
from ..nn.species import species_mapping
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
    spec, weights = read_model_file(ckpt_path)
    return write_package(spec, weights, out, source=ckpt_path)


def read_model_file(path: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.nequip.zip`` or a ``.ckpt`` (EMA weights when it has them)."""
    if path.endswith(".ckpt"):
        from .io import model_weights, read_checkpoint

        ckpt = read_checkpoint(path)
        return ckpt["hyper_parameters"]["spec"], model_weights(ckpt)
    _, spec, weights = read_package(path)
    return spec, weights


def fine_tuning_spec(spec: Dict[str, Any], path: str) -> Dict[str, Any]:
    """``spec`` (resolved from the fine-tuning config and data) with what the source model's weights
    were trained with: its ``avg_num_neighbors`` and, for the species it knows, its per-type energy
    scales and shifts. New species keep the values computed from the new data."""
    source_spec, _ = read_model_file(path)
    hp, source_hp = dict(spec["model"]), source_spec["model"]
    if "avg_num_neighbors" in hp:
        hp["avg_num_neighbors"] = source_hp["avg_num_neighbors"]
    mapping = species_mapping(source_spec["type_names"], spec["type_names"])
    for key in ("per_type_energy_shifts", "per_type_energy_scales"):
        if key in hp:
            hp[key] = [value if old is None else source_hp[key][old] for value, old in zip(hp[key], mapping)]
    return {**spec, "model": hp}


# hyperparameters a fine-tuning run may change: statistics (see fine_tuning_spec) and how it computes
_MAY_DIFFER = {"avg_num_neighbors", "per_type_energy_shifts", "per_type_energy_scales", "tp_backend", "scale_shift_trainable"}


def load_initial_weights(model: torch.nn.Module, path: str) -> List[str]:
    """Loads the weights of a ``.nequip.zip`` or ``.ckpt`` into ``model`` to start a fine-tuning run
    (``initialize_from:``); returns the species that are new to the source model.

    The species may differ: a species the source knows gets exactly its contribution in the source
    model, whatever its position in ``type_names``; a new species keeps ``model``'s fresh weights and
    the per-type scale and shift computed from the new data (see nequip.nn.species). ``model`` must be
    built from :func:`fine_tuning_spec`; everything else (kind, ``r_max``, hyperparameters) must be
    the same, otherwise ``ValueError`` says what differs.
    """
    source_spec, weights = read_model_file(path)
    spec = model.spec
    for key in ("kind", "r_max"):
        if source_spec[key] != spec[key]:
            raise ValueError(f"initialize_from '{path}' has {key} {source_spec[key]!r} but the config has {spec[key]!r}")
    differ = [k for k in sorted(set(spec["model"]) | set(source_spec["model"])) if k not in _MAY_DIFFER
              and spec["model"].get(k) != source_spec["model"].get(k)]
    if differ:
        key = differ[0]
        raise ValueError(
            f"initialize_from '{path}' has model.{key} = {source_spec['model'].get(key)!r} but the config has "
            f"{spec['model'].get(key)!r}; fine-tuning needs the same model hyperparameters as the run that wrote it"
        )
    mapping = species_mapping(source_spec["type_names"], spec["type_names"])
    source = build_model(source_spec)
    source.load_state_dict(weights)
    state = {}
    for name, module in model.named_modules():
        if hasattr(module, "species_weights"):
            prefix = f"{name}." if name else ""
            state.update({prefix + k: v for k, v in module.species_weights(source.get_submodule(name), mapping).items()})
    expected = model.state_dict()
    model.load_state_dict({k: state.get(k, weights.get(k)) for k in expected})
    return [name for name, old in zip(spec["type_names"], mapping) if old is None]
