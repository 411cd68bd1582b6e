"""Which distribution this is (``nequip-stack``), its version line for ``--version``, and the check
that the public mir-group ``nequip``/``nequip-allegro`` distributions are not installed beside it.

Both install the import packages ``nequip`` and ``allegro`` and console scripts of the same names,
and their model files (``.nequip.zip``, ``.pt2``) are different formats, so one environment holding
both is a broken environment: whichever was installed last has overwritten the other's files. That
is said in one line at ``import nequip`` instead of failing later in a strange place.
"""

import argparse
import logging
import platform
from importlib import metadata
from typing import List, Tuple

DISTRIBUTION = "nequip-stack"
# the public mir-group distributions that install the same import packages and console scripts
FOREIGN = ("nequip", "nequip-allegro")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_line() -> str:
    """``"nequip-stack 0.1.0 (torch 2.13.0+cpu, Python 3.11.7)"``: the running code's version (the
    ``nequip`` package imported), with the torch that it runs on. Does not import torch."""
    import nequip

    return f"{DISTRIBUTION} {nequip.__version__} (torch {_version('torch')}, Python {platform.python_version()})"


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    """``--version``: prints :func:`version_line` and exits 0 (before any other argument is checked)."""
    parser.add_argument("--version", action="version", version=f"%(prog)s: {version_line()}")


def foreign_distributions() -> List[Tuple[str, str, str]]:
    """``(name, version, location)`` of each mir-group distribution found on ``sys.path`` (empty in a
    working environment)."""
    found = []
    for name in FOREIGN:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append((dist.metadata["Name"] or name, dist.version, str(dist.locate_file(""))))
    return found


def foreign_message(found: List[Tuple[str, str, str]]) -> str:
    """The one line that explains the broken environment and its fix."""
    names = ", ".join(f"'{name}' {version} (in {location})" for name, version, location in found)
    return (
        f"nequip-stack: ERROR: the mir-group distribution {names} is installed in this environment too: it uses the "
        "same import names (nequip, allegro) and console scripts, its model files are a different format, and the "
        "two overwrite each other's files; this is not supported: use one virtual environment per distribution "
        f"(here: pip uninstall {' '.join(name for name, _, _ in found)}, then pip install --force-reinstall "
        f"{DISTRIBUTION})"
    )


def warn_if_foreign_installed() -> None:
    """Logs :func:`foreign_message` as an error of the ``nequip`` logger when a mir-group distribution is
    installed here (where logging is not configured, Python writes it to stderr)."""
    found = foreign_distributions()
    if found:
        logging.getLogger("nequip").error(foreign_message(found))
