"""Model packages (``.nequip.zip``): a versioned archive for sharing, compiling and fine-tuning.

Contents (a plain zip; no pickled code)::

    manifest.json   {"format": "nequip-package", "format_version": 1, "framework_version", "kind",
                     "type_names", "r_max", "dtype", "source", "digests"}
    spec.json       the full model spec (config + training statistics), see nequip.model.spec
    weights.pt      torch.save of a plain {name: tensor} state dict (EMA weights when the run had EMA),
                    read back with torch.load(weights_only=True)

``digests`` maps each other member to ``"sha256:<hex>"`` of its bytes; at load, a member whose bytes
do not match, or a manifest whose kind/type_names/r_max/dtype/framework_version disagree with
spec.json, is an error (an accidental edit or a damaged copy; digests are no defence against a
deliberate forgery). Packages written before digests existed load with a warning.
"""

import hashlib
import io
import json
import os
import warnings
import zipfile
import zlib
from typing import Any, Dict, List, Tuple

import torch

from .. import __version__
from ..nn.species import species_mapping
from ..utils.atomic import atomic_output, check_writable_folder
from .io import check_finite_weights, check_framework_version, read_checkpoint_model
from .spec import build_model

PACKAGE_SUFFIX = ".nequip.zip"
FORMAT = "nequip-package"
FORMAT_VERSION = 1
MEMBERS = ("spec.json", "weights.pt")
# manifest entries that must equal the spec's (the manifest is what `nequip-package info` shows)
_MANIFEST_FROM_SPEC = ("kind", "type_names", "r_max", "dtype", "framework_version")


def member_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_package(spec: Dict[str, Any], weights: Dict[str, torch.Tensor], out: str, source: str = "") -> str:
    """Writes the package ``out`` (must end with ``.nequip.zip``) atomically (an earlier file there is
    replaced only by a complete package, see nequip.utils.atomic); returns its path. Raises
    ``ValueError`` for a bad file name, an unwritable folder or non-finite ``weights``."""
    if not out.endswith(PACKAGE_SUFFIX):
        raise ValueError(f"package file '{out}' must end with {PACKAGE_SUFFIX}")
    check_finite_weights(weights, source or out)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in weights.items()}, buffer)
    members = {"spec.json": json.dumps(spec, indent=2).encode(), "weights.pt": buffer.getvalue()}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "framework_version": spec.get("framework_version", __version__),
        "kind": spec["kind"], "type_names": list(spec["type_names"]), "r_max": float(spec["r_max"]),
        "dtype": spec["dtype"], "source": os.path.basename(source),
        "digests": {name: member_digest(data) for name, data in members.items()},
    }
    with atomic_output(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            for name, data in members.items():
                zf.writestr(name, data)
    return out


def read_package(path: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(manifest, spec, weights)``. Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    naming the file when it is not a package, is damaged (unreadable member, bad JSON, a digest that
    does not match, a manifest that disagrees with spec.json), has a format or framework version this
    code cannot read, or holds non-finite weights."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' not found")
    try:
        with zipfile.ZipFile(path) as zf:
            missing = [name for name in ("manifest.json", *MEMBERS) if name not in zf.namelist()]
            if missing:
                raise ValueError(f"'{path}' is not a nequip model package: member {missing[0]} is missing")
            manifest = _parse_json(zf.read("manifest.json"), "manifest.json", path)
            members = {name: zf.read(name) for name in MEMBERS}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"'{path}' is not a nequip model package, or a damaged one ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a nequip model package (no manifest of format '{FORMAT}')")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"'{path}' has package format version {manifest['format_version']}, newer than the {FORMAT_VERSION} "
            f"this framework ({__version__}) reads; upgrade nequip"
        )
    _check_digests(manifest, members, path)
    spec = _parse_json(members["spec.json"], "spec.json", path)
    if not isinstance(spec, dict) or not all(key in spec for key in ("kind", "type_names", "r_max", "dtype", "model")):
        raise ValueError(f"'{path}': member spec.json is not a model spec (kind, type_names, r_max, dtype, model); rebuild the package")
    for key in _MANIFEST_FROM_SPEC:
        if key in manifest and manifest[key] != spec.get(key):
            raise ValueError(
                f"'{path}' is inconsistent: manifest.json has {key} {manifest[key]!r} but spec.json has "
                f"{spec.get(key)!r}; the package was edited or damaged, rebuild it with nequip-package build"
            )
    check_framework_version(spec.get("framework_version"), path)
    try:
        weights = torch.load(io.BytesIO(members["weights.pt"]), map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged member: say which
        raise ValueError(f"'{path}': member weights.pt is not readable ({type(err).__name__}); rebuild the package") from None
    check_finite_weights(weights, path)
    return manifest, spec, weights


def _parse_json(data: bytes, member: str, path: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"'{path}': member {member} is not valid JSON ({err}); rebuild the package") from None


def _check_digests(manifest: Dict[str, Any], members: Dict[str, bytes], path: str) -> None:
    digests = manifest.get("digests")
    if digests is None:
        warnings.warn(f"'{path}' was written before packages carried digests: its integrity is not checked; "
                      f"rebuild it with nequip-package build to protect it")
        return
    for name in MEMBERS:
        if not isinstance(digests, dict) or digests.get(name) != member_digest(members[name]):
            raise ValueError(
                f"'{path}': member {name} does not match the digest in manifest.json (edited or damaged); "
                f"rebuild the package with nequip-package build"
            )


def load_package_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """``(model in eval mode on device, spec)`` from a ``.nequip.zip``."""
    _, spec, weights = read_package(path)
    model = build_model(spec)
    model.load_state_dict(weights)
    return model.to(device).eval(), spec


def package_checkpoint(ckpt_path: str, out: str) -> str:
    """Builds a package from a training checkpoint (EMA weights when present); raises ``ValueError`` for
    non-finite weights or an unwritable output folder before writing anything."""
    if not out.endswith(PACKAGE_SUFFIX):
        raise ValueError(f"package file '{out}' must end with {PACKAGE_SUFFIX}")
    check_writable_folder(out)
    spec, weights = read_model_file(ckpt_path)
    return write_package(spec, weights, out, source=ckpt_path)


def read_model_file(path: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.nequip.zip`` or a ``.ckpt`` (EMA weights when it has them)."""
    if path.endswith(".ckpt"):
        return read_checkpoint_model(path)
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
