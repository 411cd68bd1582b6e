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
from typing import Any, Dict, Tuple

import torch

from .. import __version__
from ..errors import ModelFileError, OutputError
from ..utils.atomic import atomic_output
from .checks import check_exists, check_finite_weights, check_framework_version
from .spec import ModelSpec

PACKAGE_SUFFIX = ".nequip.zip"
FORMAT = "nequip-package"
FORMAT_VERSION = 1
MEMBERS = ("spec.json", "weights.pt")
# manifest entries that must equal the spec's (the manifest is what `nequip-package info` shows)
_MANIFEST_FROM_SPEC = ("kind", "type_names", "r_max", "dtype", "framework_version")


def member_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_package(spec: ModelSpec, weights: Dict[str, torch.Tensor], out: str, source: str = "") -> str:
    """Writes the package ``out`` (must end with ``.nequip.zip``) atomically (an earlier file there is
    replaced only by a complete package, see nequip.utils.atomic); returns its path. Raises
    ``ValueError`` for a bad file name or an unwritable folder, ``ModelFileError`` for non-finite ``weights``."""
    if not out.endswith(PACKAGE_SUFFIX):
        raise OutputError(f"package file '{out}' must end with {PACKAGE_SUFFIX}")
    check_finite_weights(weights, source or out)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in weights.items()}, buffer)
    members = {"spec.json": json.dumps(spec.to_dict(), indent=2).encode(), "weights.pt": buffer.getvalue()}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "framework_version": spec.framework_version if spec.framework_version is not None else __version__,
        "kind": spec.kind, "type_names": list(spec.type_names), "r_max": float(spec.r_max),
        "dtype": spec.dtype, "source": os.path.basename(source),
        "digests": {name: member_digest(data) for name, data in members.items()},
    }
    with atomic_output(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            for name, data in members.items():
                zf.writestr(name, data)
    return out


def read_package(path: str) -> Tuple[Dict[str, Any], ModelSpec, Dict[str, torch.Tensor]]:
    """``(manifest, spec, weights)``. Raises ``FileNotFoundError`` for a missing file and ``ModelFileError``
    naming the file when it is not a package, is damaged (unreadable member, bad JSON, a digest that
    does not match, a manifest that disagrees with spec.json), has a format or framework version this
    code cannot read, or holds non-finite weights."""
    check_exists(path)
    try:
        with zipfile.ZipFile(path) as zf:
            missing = [name for name in ("manifest.json", *MEMBERS) if name not in zf.namelist()]
            if missing:
                raise ModelFileError(f"'{path}' is not a nequip model package: member {missing[0]} is missing")
            manifest = _parse_json(zf.read("manifest.json"), "manifest.json", path)
            members = {name: zf.read(name) for name in MEMBERS}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ModelFileError(f"'{path}' is not a nequip model package, or a damaged one ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"'{path}' is not a nequip model package (no manifest of format '{FORMAT}')")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"'{path}' has package format version {manifest['format_version']}, newer than the {FORMAT_VERSION} "
            f"this framework ({__version__}) reads; upgrade nequip"
        )
    _check_digests(manifest, members, path)
    spec = _parse_json(members["spec.json"], "spec.json", path)
    if not isinstance(spec, dict) or not all(key in spec for key in ("kind", "type_names", "r_max", "dtype", "model")):
        raise ModelFileError(f"'{path}': member spec.json is not a model spec (kind, type_names, r_max, dtype, model); rebuild the package")
    for key in _MANIFEST_FROM_SPEC:
        if key in manifest and manifest[key] != spec.get(key):
            raise ModelFileError(
                f"'{path}' is inconsistent: manifest.json has {key} {manifest[key]!r} but spec.json has "
                f"{spec.get(key)!r}; the package was edited or damaged, rebuild it with nequip-package build"
            )
    check_framework_version(spec.get("framework_version"), path)
    spec = ModelSpec.from_dict(spec, f"{path}: spec.json")
    try:
        weights = torch.load(io.BytesIO(members["weights.pt"]), map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged member: say which
        raise ModelFileError(f"'{path}': member weights.pt is not readable ({type(err).__name__}); rebuild the package") from None
    check_finite_weights(weights, path)
    return manifest, spec, weights


def _parse_json(data: bytes, member: str, path: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"'{path}': member {member} is not valid JSON ({err}); rebuild the package") from None


def _check_digests(manifest: Dict[str, Any], members: Dict[str, bytes], path: str) -> None:
    digests = manifest.get("digests")
    if digests is None:
        warnings.warn(f"'{path}' was written before packages carried digests: its integrity is not checked; "
                      f"rebuild it with nequip-package build to protect it")
        return
    for name in MEMBERS:
        if not isinstance(digests, dict) or digests.get(name) != member_digest(members[name]):
            raise ModelFileError(
                f"'{path}': member {name} does not match the digest in manifest.json (edited or damaged); "
                f"rebuild the package with nequip-package build"
            )
