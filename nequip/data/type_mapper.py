"""Map chemical species to the model's type indices (the order of ``type_names``)."""

from typing import List, Sequence, Union

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ..errors import ConfigError, DataError


class TypeMapper:
    """Chemical species -> type index ``0 .. num_types - 1`` in the order of ``type_names``.

    Args:
        type_names: chemical symbols, e.g. ``["Cu", "O"]``; the order defines the model's type
            index.

    Raises:
        ConfigError: if ``type_names`` is empty, has duplicates or an unknown chemical symbol.

    Example:
        >>> tm = TypeMapper(["Cu", "O"])
        >>> tm.atom_types(["O", "Cu", "O"]).tolist()
        [1, 0, 1]
        >>> tm.atom_types([8, 29]).tolist()
        [1, 0]
    """

    def __init__(self, type_names: List[str]):
        if isinstance(type_names, str) or not isinstance(type_names, Sequence):
            raise ConfigError(
                f"type_names must be a list of chemical symbols, e.g. [Cu, O]; got {type_names!r}"
            )
        type_names = [str(t) for t in type_names]
        if not type_names:
            raise ConfigError("type_names is empty; list the chemical symbols, e.g. [Cu, O]")
        for name in type_names:
            if name not in atomic_numbers or name == "X":
                hint = name.capitalize() if name.capitalize() in atomic_numbers else None
                raise ConfigError(
                    f"type_names entry '{name}' is not a chemical symbol"
                    + (f"; did you mean '{hint}'?" if hint else "")
                )
        duplicates = sorted({t for t in type_names if type_names.count(t) > 1})
        if duplicates:
            raise ConfigError(f"type_names has duplicates: {', '.join(duplicates)}")
        self._type_names = type_names
        # lookup table atomic number -> type index (-1 = not a model type)
        self._z_to_type = np.full(len(chemical_symbols), -1, dtype=np.int64)
        for index, name in enumerate(type_names):
            self._z_to_type[atomic_numbers[name]] = index

    @property
    def type_names(self) -> List[str]:
        """The chemical symbols, in type-index order (a copy)."""
        return list(self._type_names)

    @property
    def num_types(self) -> int:
        return len(self._type_names)

    def __repr__(self) -> str:
        return f"TypeMapper([{', '.join(self._type_names)}])"

    def atom_types(
        self, symbols_or_numbers: Union[Sequence[str], Sequence[int], np.ndarray], where: str = ""
    ) -> np.ndarray:
        """Type indices of atoms given by chemical symbols or atomic numbers.

        Args:
            symbols_or_numbers: [N] chemical symbols (str) or atomic numbers (int).
            where: names the frame in the error message, e.g. ``"frame 12 of train.xyz"``.

        Returns:
            [N] int64 type indices.

        Raises:
            DataError: naming the first species that is not in ``type_names`` (and ``where``).
        """
        values = np.asarray(symbols_or_numbers)
        if values.size == 0:
            return np.zeros(0, dtype=np.int64)
        if values.dtype.kind in "US":
            unknown = [s for s in dict.fromkeys(values.tolist()) if s not in atomic_numbers]
            if unknown:
                self._raise(str(unknown[0]), where)
            numbers = np.array([atomic_numbers[s] for s in values.tolist()], dtype=np.int64)
        elif values.dtype.kind in "iu":
            numbers = values.astype(np.int64)
            bad = (numbers < 0) | (numbers >= len(chemical_symbols))
            if bad.any():
                self._raise(f"atomic number {int(numbers[bad][0])}", where)
        else:
            raise DataError(
                f"atom_types expects chemical symbols or atomic numbers, got dtype {values.dtype}"
            )
        types = self._z_to_type[numbers]
        missing = types < 0
        if missing.any():
            self._raise(chemical_symbols[int(numbers[missing][0])], where)
        return types

    def _raise(self, species: str, where: str):
        location = f" in {where}" if where else ""
        raise DataError(
            f"species '{species}'{location} is not in type_names [{', '.join(self._type_names)}]; "
            f"add it to type_names in the config"
        )
