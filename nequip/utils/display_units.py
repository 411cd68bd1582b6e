"""How errors are shown to people: the one table of display names and units.

Data and metrics are in the data's units (ASE: eV, Å); errors are shown in meV-based units, which
keep the digits of a good model's errors readable. Every display (training progress lines, the end
of training summary, ``nequip-evaluate``'s table and report, the error plots) reads this table.
"""

from typing import NamedTuple


class DisplayUnit(NamedTuple):
    label: str  # table row, e.g. "energy/atom"
    short: str  # progress lines, e.g. "E/atom"
    value_name: str  # one value in plots, e.g. "energy per atom"
    axis: str  # plot axes, in the data's unit, e.g. "energy per atom (eV/atom)"
    unit: str  # the unit errors are shown in, e.g. "meV/atom"
    factor: float  # from the data's unit to ``unit``


# metric base name (``<stage>/<name>_mae``, ``<name>_rmse``) -> its display
DISPLAY_UNITS = {
    "energy_per_atom": DisplayUnit("energy/atom", "E/atom", "energy per atom", "energy per atom (eV/atom)", "meV/atom", 1e3),
    "forces": DisplayUnit("forces", "F", "force component", "force components (eV/Å)", "meV/Å", 1e3),
    "stress": DisplayUnit("stress", "stress", "stress component", "stress components (eV/Å³)", "meV/Å³", 1e3),
}
