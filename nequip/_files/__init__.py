"""The repository's top-level folders that the installed package needs: the operator sources
(``extensions/``), the LAMMPS plugin sources (``cpp/``), the ready configs (``configs/``) and the
tutorial data and scripts (``examples/``).

The repository keeps one copy of each at its top level (DESIGN.md); the wheel and the sdist carry
them inside this package as ``nequip/_files/<name>/`` (mapped at build time by ``setup.py``), so an
installed package never needs the checkout.
"""

from importlib import resources
from pathlib import Path

FOLDERS = ("extensions", "cpp", "configs", "examples")


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`FOLDERS`) as shipped with this installation of nequip.

    An installed wheel or sdist has it inside this package; a source checkout (editable install or
    ``PYTHONPATH``) has it at the top of the repository, next to the ``nequip`` package. In a broken
    installation (neither exists) the packaged path is returned and the caller's use of it fails
    with a message that names it (see :func:`missing_message`); importing never fails.
    """
    if name not in FOLDERS:
        raise ValueError(f"unknown shipped folder '{name}'; one of {', '.join(FOLDERS)}")
    packaged = Path(str(resources.files(__name__))) / name
    checkout = Path(__file__).resolve().parents[2] / name
    if not packaged.is_dir() and checkout.is_dir() and (checkout.parent / "pyproject.toml").is_file():
        return checkout
    return packaged


def missing_message(path: Path) -> str:
    """What to tell the user when a shipped file is missing: the installation is incomplete."""
    return (
        f"{path} is missing: this installation of nequip-stack is incomplete; reinstall it "
        "(pip install --force-reinstall nequip-stack, or its wheel or sdist)"
    )
