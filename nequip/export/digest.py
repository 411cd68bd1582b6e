"""The digest of a ``.nequip.pt2``'s metadata: what the loaders trust about the compiled model.

``nequip-compile`` stores ``spec_digest = "sha256:<hex>"`` of the canonical string of the metadata
fields below (each ``key=value`` followed by a newline, in this order; a missing field is an empty
value). The loaders (:func:`nequip.export.aoti.load_pt2`, hence the ASE calculator, and the LAMMPS
plugin, cpp/pair_nequip.cpp ``metadata_digest``, which builds the same string) recompute it, so an
edited ``r_max`` or ``type_names`` is an error instead of wrong physics. It catches accidental edits
and damaged copies, not a deliberate forgery (whoever can edit the file can recompute the digest).
"""

import hashlib
import warnings
from typing import Dict

from ..errors import ModelFileError

DIGEST_KEY = "spec_digest"
# order matters: the C++ loader joins the same fields in the same order
DIGEST_FIELDS = (
    "model_kind", "r_max", "type_names", "num_layers", "target", "dtype", "device",
    "framework_version", "input_keys", "output_keys", "ops_library", "lammps_scheme", "feature_sizes",
    "program_inputs",
)


def canonical_metadata(meta: Dict[str, str]) -> str:
    """``"model_kind=nequip\\nr_max=4.0\\n..."``: the string the digest is taken of."""
    return "".join(f"{key}={meta.get(key, '')}\n" for key in DIGEST_FIELDS)


def metadata_digest(meta: Dict[str, str]) -> str:
    return "sha256:" + hashlib.sha256(canonical_metadata(meta).encode()).hexdigest()


def check_metadata_digest(meta: Dict[str, str], path: str) -> None:
    """Raises ``ModelFileError`` naming ``path`` when its metadata does not match its digest. A package
    compiled before digests existed (no ``spec_digest``) loads with a warning."""
    recorded = meta.get(DIGEST_KEY)
    if recorded is None:
        warnings.warn(f"'{path}' was compiled before .pt2 packages carried a digest: its metadata is not "
                      f"checked; recompile it with nequip-compile to protect it")
        return
    if recorded != metadata_digest(meta):
        raise ModelFileError(
            f"'{path}': its metadata (r_max {meta.get('r_max')}, type_names '{meta.get('type_names')}', ...) does "
            f"not match the digest it was compiled with; the file was edited or damaged, recompile it with nequip-compile"
        )
