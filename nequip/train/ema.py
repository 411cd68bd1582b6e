"""Exponential moving average of the weights with a warm-up of its decay.

With a fixed decay from step 0 the average starts at the random initialisation and follows the
training only after ~1 / (1 - decay) steps, so early validation numbers (read by short runs, early
stopping and hyperparameter scans) describe weights the training has already left. The effective
decay of update ``n`` (``n`` updates done before it) is ``min(decay, (1 + n) / (10 + n))``, the usual
warm-up: 0.18 at the second update, 0.5 after 8, the full ``decay`` (0.99) from 890 updates on.
``n`` is the ``n_averaged`` buffer of :class:`torch.optim.swa_utils.AveragedModel`, saved in the
checkpoint, so a resumed run continues the same schedule exactly.
"""

from typing import Callable, List

import torch


def warmup_decay(decay: float, num_averaged: torch.Tensor) -> torch.Tensor:
    """The effective decay ``min(decay, (1 + n) / (10 + n))`` as a 0-dim float64 tensor (no host sync)."""
    n = num_averaged.to(torch.float64)
    return torch.clamp((1.0 + n) / (10.0 + n), max=decay)


def ema_warmup_multi_avg_fn(decay: float) -> Callable[[List[torch.Tensor], List[torch.Tensor], torch.Tensor], None]:
    """A ``multi_avg_fn`` for ``AveragedModel``: ``ema <- ema + (1 - d_n) (current - ema)`` with the
    warm-up decay ``d_n`` of :func:`warmup_decay`, for all tensors of one device and dtype at once.
    Integer buffers (index tables, e.g. Allegro's) are not averaged: they are copied."""

    @torch.no_grad()
    def update(ema_params: List[torch.Tensor], current_params: List[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not ema_params[0].is_floating_point():
            torch._foreach_copy_(ema_params, current_params)
            return
        weight = (1.0 - warmup_decay(decay, num_averaged)).to(ema_params[0].dtype)
        torch._foreach_lerp_(ema_params, current_params, weight)

    return update
