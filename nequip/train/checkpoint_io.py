"""Lightning checkpoint IO that never leaves a half-written checkpoint (see nequip.utils.atomic) and
never writes one with non-finite weights."""

import io
from typing import Any, Dict, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..utils.atomic import atomic_write_bytes
from .nonfinite import check_finite_weights


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with atomic writes: an interrupted save keeps the previous file.
    A checkpoint whose weights (``state_dict``, EMA copy included) are not all finite is refused
    with :class:`~nequip.train.nonfinite.NonFiniteError`, so it can be neither written nor be the best."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: str, storage_options: Optional[Any] = None) -> None:
        check_finite_weights(checkpoint.get("state_dict", {}), str(path))
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(str(path), buffer.getvalue())
