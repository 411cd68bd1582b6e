"""Concatenate frames (AtomicDataDicts) into one batch dict."""

from typing import Dict, List

import torch

from . import keys
from ..errors import DataError

_PER_ATOM = frozenset(keys.PER_ATOM_KEYS)
_PER_FRAME = frozenset(keys.PER_FRAME_KEYS)
_PER_EDGE = frozenset(keys.PER_EDGE_KEYS)


def collate(frames: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Concatenate frames into one batch (graphs side by side).

    Per-atom keys (``keys.PER_ATOM_KEYS``), per-edge keys (``keys.PER_EDGE_KEYS``) and per-frame
    keys (``keys.PER_FRAME_KEYS``) are concatenated along dim 0; ``edge_index`` is offset by the
    number of atoms of the preceding frames; ``batch`` becomes the frame index of each atom.
    A float key present in some frames but not others is filled with NaN for the frames that
    lack it (the loss masks NaN), e.g. ``stress`` [B, 3, 3] with NaN rows.

    Args:
        frames: list of dicts as made by ``from_ase`` (each may itself hold several frames).

    Returns:
        the batch dict; ``num_atoms`` [B], ``batch`` [N], ``edge_index`` [2, E], ...

    Raises:
        ValueError: empty list, a key that is not registered in ``keys.PER_*_KEYS``, or an
            integer/bool key missing in some frames (it cannot be filled with NaN).
    """
    if not frames:
        raise ValueError("collate got an empty list of frames")
    num_atoms = torch.cat([f[keys.NUM_ATOMS] for f in frames])
    atoms_per_dict = [int(f[keys.POSITIONS].shape[0]) for f in frames]
    frames_per_dict = [int(f[keys.NUM_ATOMS].shape[0]) for f in frames]
    edges_per_dict = [int(f[keys.EDGE_INDEX].shape[1]) for f in frames]

    out: Dict[str, torch.Tensor] = {keys.NUM_ATOMS: num_atoms}
    # batch = frame index of each atom, over the whole batch
    out[keys.BATCH] = torch.repeat_interleave(
        torch.arange(num_atoms.shape[0], dtype=torch.int64), num_atoms
    )
    atom_offsets = torch.cumsum(torch.tensor([0] + atoms_per_dict[:-1], dtype=torch.int64), 0)
    out[keys.EDGE_INDEX] = torch.cat(
        [f[keys.EDGE_INDEX] + off for f, off in zip(frames, atom_offsets.tolist())], dim=1
    )

    all_keys = dict.fromkeys(k for f in frames for k in f)
    for key in all_keys:
        if key in out:
            continue
        if key in _PER_ATOM:
            counts = atoms_per_dict
        elif key in _PER_FRAME:
            counts = frames_per_dict
        elif key in _PER_EDGE:
            counts = edges_per_dict
        else:
            raise ValueError(
                f"collate does not know how to batch key '{key}'; register it in "
                f"nequip/data/keys.py (PER_ATOM_KEYS, PER_FRAME_KEYS or PER_EDGE_KEYS)"
            )
        present = [f.get(key) for f in frames]
        if all(t is not None for t in present):
            out[key] = torch.cat(present)
            continue
        template = next(t for t in present if t is not None)
        if not template.is_floating_point():
            raise DataError(f"key '{key}' ({template.dtype}) is missing in some frames")
        parts = [
            t
            if t is not None
            else torch.full((c,) + tuple(template.shape[1:]), float("nan"), dtype=template.dtype)
            for t, c in zip(present, counts)
        ]
        out[key] = torch.cat(parts)
    return out
