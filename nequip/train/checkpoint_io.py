"""Lightning checkpoint IO that never leaves a half-written checkpoint (see nequip.utils.atomic)."""

import io
from typing import Any, Dict, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..utils.atomic import atomic_write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with atomic writes: an interrupted save keeps the previous file."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: str, storage_options: Optional[Any] = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(str(path), buffer.getvalue())
