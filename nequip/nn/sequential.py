"""A model as an ordered, irreps-checked pipeline of :class:`GraphModule` steps."""

from typing import Dict

import torch

from .graph_module import GraphModule


class SequentialGraphNetwork(GraphModule):
    """Runs named :class:`GraphModule` steps in order; each step was built from the previous one's
    ``irreps_out``, so the chain is checked at construction."""

    def __init__(self, steps: Dict[str, GraphModule]):
        super().__init__()
        if not steps:
            raise ValueError("SequentialGraphNetwork needs at least one step")
        self.steps = torch.nn.ModuleDict(steps)
        first, last = next(iter(steps.values())), list(steps.values())[-1]
        self.irreps_in = first.irreps_in
        self.irreps_out = last.irreps_out

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        for step in self.steps.values():
            data = step(data)
        return data
