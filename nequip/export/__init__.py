"""Export of trained models: pure tensor-in/tensor-out functions per deployment target, traced to
aten graphs (forces and virials included) and compiled ahead of time into ``.nequip.pt2`` packages."""

from .aoti import compile_model, load_pt2
from .targets import TARGETS, ase_function, lammps_function

__all__ = ["TARGETS", "ase_function", "lammps_function", "compile_model", "load_pt2"]
