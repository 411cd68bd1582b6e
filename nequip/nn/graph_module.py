"""Base class of every model module: takes the AtomicDataDict, returns it, and declares the irreps of
the keys it reads (``irreps_in``) and writes (``irreps_out``) so that a model is a checked pipeline."""

from typing import Dict, Optional, Sequence

import torch
from e3nn import o3

from ..data import keys

IrrepsDict = Dict[str, Optional[o3.Irreps]]

# Keys whose irreps are known before any module runs. ``None`` marks a key that is not a feature
# (integers, cells, ...), for which only presence is checked.
_INPUT_IRREPS: IrrepsDict = {key: None for key in keys.MODEL_INPUT_KEYS}
_INPUT_IRREPS[keys.POSITIONS] = o3.Irreps("1o")


class GraphModule(torch.nn.Module):
    """A module on the AtomicDataDict.

    Subclasses call :meth:`_declare` in ``__init__`` with the irreps of the keys available upstream,
    what they need and what they write. A missing key or mismatched irreps raises ``ValueError`` at
    construction, naming the module and the key.
    """

    irreps_in: IrrepsDict
    irreps_out: IrrepsDict

    def _declare(
        self,
        irreps_in: Optional[IrrepsDict],
        needs: Optional[IrrepsDict] = None,
        writes: Optional[IrrepsDict] = None,
        required: Sequence[str] = (),
    ) -> None:
        available = dict(_INPUT_IRREPS)
        available.update(irreps_in or {})
        for key, irreps in (needs or {}).items():
            if key not in available:
                raise ValueError(f"{type(self).__name__} needs key '{key}', which no earlier module writes")
            have = available[key]
            if irreps is not None and have is not None and o3.Irreps(have) != o3.Irreps(irreps):
                raise ValueError(
                    f"{type(self).__name__} needs '{key}' with irreps {irreps}, but it has irreps {have}"
                )
        for key in required:
            if key not in available:
                raise ValueError(f"{type(self).__name__} needs key '{key}', which no earlier module writes")
        self.irreps_in = available
        out = dict(available)
        out.update({k: (None if v is None else o3.Irreps(v)) for k, v in (writes or {}).items()})
        self.irreps_out = out
