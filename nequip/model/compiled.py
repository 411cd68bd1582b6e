"""``torch.compile`` of a model's energy and its derivatives (forces, stress), one graph for every
batch: ``compile_mode: compile`` in training, the ``compiled`` column of bench/inference.py.

What makes one graph serve all batches:
- the position and strain leaves are made outside the compiled region (Dynamo refuses
  ``requires_grad_`` inside it), see :meth:`nequip.nn.forces.ForceStressOutput.energy_and_gradients`;
- Dynamo traces ``torch.autograd.grad`` into the graph (``trace_autograd_ops``), so in training
  AOTAutograd differentiates the force loss through it (double backward) like any other op;
- the atom, edge and frame counts (the first dimension of every input; edge_index enters as its
  two rows) are dynamic, every other size (3 coordinates, feature widths) static, and counts of 1
  are not specialised (``backed_size_oblivious``). So batch size 1 and any mix of sizes reuse the
  first graph. A batch with fewer than 2 atoms or 2 edges (an isolated-atom reference frame alone
  in its batch) runs eager instead: e3nn's and autograd's code guard on counts of at least 2, so it
  would compile a second graph, and eager costs nothing on so small a batch.

Training and evaluation mode are one graph each (the training graph keeps the derivatives'
graph for the weight gradients). Any further compilation is a recompilation: it is counted and
reported when it happens.
"""

import warnings
from typing import Dict

import torch
import torch.fx.experimental._config as fx_config

from ..data import keys
from ..nn.forces import ForceStressOutput


# the smallest atom and edge counts the compiled graph takes (see the module docstring)
_MIN_COUNT = 2


class CompiledGradients:
    """``torch.compile`` (Inductor) of ``model.energy_and_gradients``, counting compilations per mode.
    Made and installed by :func:`compile_gradients`."""

    def __init__(self, model: ForceStressOutput):
        self._model = model
        self.compilations = {"train": 0, "eval": 0}
        self._compiled = torch.compile(self._energy_and_gradients, backend=self._inductor, dynamic=False, fullgraph=True)

    def _energy_and_gradients(self, inputs, edge_center, edge_neighbor, pos, strain):
        # edge_index enters as its two rows: Dynamo guards on the stride of a [2, E] tensor, which
        # torch sets to 1 instead of E when E is 0, so a frame without edges would recompile
        inputs = {**inputs, keys.EDGE_INDEX: torch.stack([edge_center, edge_neighbor])}
        return self._model.energy_and_gradients(inputs, pos, strain)

    @property
    def recompilations(self) -> int:
        """Compilations beyond the first one of each mode: 0 when every batch reused its graph."""
        return sum(max(count - 1, 0) for count in self.compilations.values())

    def _inductor(self, graph: torch.fx.GraphModule, example_inputs):
        from torch._inductor.compile_fx import compile_fx

        mode = "train" if self._model.training else "eval"
        self.compilations[mode] += 1
        if self.compilations[mode] > 1:
            warnings.warn(
                f"torch.compile compiles the model's {mode} graph again (compilation {self.compilations[mode]}); "
                "run with TORCH_LOGS=recompiles to see which input changed"
            )
        return compile_fx(graph, example_inputs)

    def __call__(self, inputs: Dict[str, torch.Tensor], pos: torch.Tensor, strain: torch.Tensor) -> Dict[str, torch.Tensor]:
        if pos.shape[0] < _MIN_COUNT or inputs[keys.EDGE_INDEX].shape[1] < _MIN_COUNT:
            return self._model.energy_and_gradients(inputs, pos, strain)
        inputs = dict(inputs)
        # copies, not views: two views of one storage would add guards on their aliasing and offsets
        edge_center, edge_neighbor = (row.clone() for row in inputs.pop(keys.EDGE_INDEX))
        for tensor in (*inputs.values(), edge_center, edge_neighbor, pos, strain):
            torch._dynamo.mark_dynamic(tensor, 0)
        with torch._dynamo.config.patch(trace_autograd_ops=True), fx_config.patch(backed_size_oblivious=True):
            return self._compiled(inputs, edge_center, edge_neighbor, pos, strain)

def compile_gradients(model: torch.nn.Module) -> CompiledGradients:
    """Makes ``model`` (a :class:`ForceStressOutput`, as every registered model kind builds) run its
    energy and derivatives through ``torch.compile`` from its next call on (compiling then, once per
    mode); returns the compiled function for its counts. Raises ``ValueError`` for any other model."""
    if not isinstance(model, ForceStressOutput):
        raise ValueError(f"torch.compile needs a model built by nequip's pipeline (ForceStressOutput), got {type(model).__name__}")
    compiled = CompiledGradients(model)
    model.compiled_gradients = compiled
    return compiled
