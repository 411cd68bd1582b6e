"""The model files, read in one place by their suffix: training checkpoints (``.ckpt``, see
nequip.model.checkpoint), model packages (``.nequip.zip``, see nequip.model.package) and AOT Inductor
packages (``.nequip.pt2``, see nequip.export.aoti).

The calculator, ``nequip-evaluate``, ``nequip-benchmark``, ``nequip-compile``, ``nequip-package`` and
fine-tuning all read models through this module. ``.ckpt`` and ``.nequip.zip`` carry a spec and
weights (an eager model is rebuilt from them); a ``.nequip.pt2`` carries compiled code and the part
of the spec its metadata records, so it can be run but not recompiled, packaged or fine-tuned.
"""

from typing import Dict, Tuple

import torch

from ..data import keys
from ..errors import ConfigError, ModelFileError, OutputError
from ..export.aoti import PT2_SUFFIX
from .checkpoint import CHECKPOINT_SUFFIX, model_weights, read_checkpoint, read_checkpoint_model
from .checks import check_exists
from .package import PACKAGE_SUFFIX, read_package, write_package
from .spec import ModelSpec, build_model

# read_checkpoint and model_weights: the raw checkpoint, for what reads more than the model (resume)
__all__ = ["check_device", "load_eager_model", "load_model", "model_weights", "package_model_file", "read_checkpoint",
           "read_model_file"]


def read_model_file(path: str) -> Tuple[ModelSpec, Dict[str, torch.Tensor]]:
    """``(spec, weights)`` of a ``.ckpt`` (EMA weights when it has them) or a ``.nequip.zip``, checked
    (see nequip.model.checks). Raises ``FileNotFoundError`` for a missing file and ``ModelFileError``
    for a damaged or foreign one, or for a ``.nequip.pt2`` (compiled code, no weights to read)."""
    if path.endswith(CHECKPOINT_SUFFIX):
        return read_checkpoint_model(path)
    if path.endswith(PACKAGE_SUFFIX):
        _, spec, weights = read_package(path)
        return spec, weights
    check_exists(path)
    if path.endswith(PT2_SUFFIX):
        raise ModelFileError(
            f"'{path}' is a compiled package without weights; give the training checkpoint (.ckpt) or model "
            f"package (.nequip.zip) it was compiled from"
        )
    raise ModelFileError(
        f"'{path}': unknown model file type; expected a training checkpoint (.ckpt), a model package "
        f"(.nequip.zip) or a compiled package (.nequip.pt2)"
    )


def package_model_file(path: str, out: str) -> str:
    """Writes the model package ``out`` (``*.nequip.zip``) from the model file ``path`` (a ``.ckpt``,
    EMA weights when present, or a ``.nequip.zip``); returns ``out``. Raises ``ValueError`` for a bad
    output name or an unwritable folder, before reading anything, and what :func:`read_model_file` raises."""
    from ..utils.atomic import check_writable_folder

    if not out.endswith(PACKAGE_SUFFIX):
        raise OutputError(f"package file '{out}' must end with {PACKAGE_SUFFIX}")
    check_writable_folder(out)
    spec, weights = read_model_file(path)
    return write_package(spec, weights, out, source=path)


def check_device(device: str) -> None:
    """Raises ``ValueError`` when ``device`` is not a torch device name, or is a CUDA device on a machine
    (or a torch build) without CUDA: torch would fail later with a traceback."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device '{device}' is not a torch device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' asked for, but this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ConfigError(f"device '{device}' asked for, but there are only {torch.cuda.device_count()} CUDA GPU(s) here")


class CompiledModel(torch.nn.Module):
    """Dict-in, dict-out front of an ``ase``-target ``.nequip.pt2`` (see nequip.export.targets): the
    same outputs as an eager model (``total_energy``, ``atomic_energy``, ``forces``, ``stress``,
    ``virial``) for a batch of frames, run one frame at a time (the compiled program takes one)."""

    def __init__(self, compiled):
        super().__init__()
        self.compiled = compiled

    def _frame(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        from ..export.targets import TARGETS

        inputs, outputs = TARGETS["ase"]
        return dict(zip(outputs, self.compiled(*[data[k] for k in inputs])))

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        num_atoms = data[keys.NUM_ATOMS]
        if num_atoms.numel() == 1:
            return {**data, **self._frame(data)}
        atom_ends = torch.cumsum(num_atoms, 0).tolist()
        centers = data[keys.EDGE_INDEX][0]
        results = []
        for frame, end in enumerate(atom_ends):
            start = end - int(num_atoms[frame])
            edges = data[keys.BATCH][centers] == frame
            results.append(self._frame({
                keys.POSITIONS: data[keys.POSITIONS][start:end], keys.ATOM_TYPES: data[keys.ATOM_TYPES][start:end],
                keys.CELL: data[keys.CELL][frame : frame + 1], keys.EDGE_INDEX: data[keys.EDGE_INDEX][:, edges] - start,
                keys.EDGE_CELL_SHIFT: data[keys.EDGE_CELL_SHIFT][edges],
            }))
        return {**data, **{key: torch.cat([r[key] for r in results]) for key in results[0]}}


def load_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, ModelSpec]:
    """``(model in eval mode on device, spec)`` from any model file: a ``.ckpt`` or ``.nequip.zip``
    gives the eager model rebuilt from its spec and weights; a ``.nequip.pt2`` (compiled for the
    ``ase`` target and this device type) gives a :class:`CompiledModel` and the spec its metadata
    records (kind, type_names, r_max, dtype; no hyperparameters). Raises ``FileNotFoundError`` for a missing
    file, ``ModelFileError`` for a damaged, foreign or incompatible one and ``ValueError`` for a device
    that is not valid or not available here."""
    check_device(device)
    if path.endswith(PT2_SUFFIX):
        from ..export.aoti import load_pt2, spec_from_metadata

        compiled, meta = load_pt2(path, target="ase", device=device)
        return CompiledModel(compiled).to(device).eval(), spec_from_metadata(meta)
    return load_eager_model(path, device)


def load_eager_model(path: str, device: str = "cpu") -> Tuple[torch.nn.Module, ModelSpec]:
    """``(model in eval mode on device, spec)`` rebuilt from a ``.ckpt`` or ``.nequip.zip`` (what
    ``nequip-compile`` compiles); raises as :func:`read_model_file` does, ``ModelFileError`` for a
    ``.nequip.pt2`` included, and ``ValueError`` for a device not valid or not available here."""
    check_device(device)
    spec, weights = read_model_file(path)
    model = build_model(spec)
    model.load_state_dict(weights)
    return model.to(device).eval(), spec
