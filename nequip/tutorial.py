"""``nequip-tutorial DIR``: copy the tutorial (configs and the bundled EMT copper data) into a new
folder and print the commands that train, evaluate, compile and run it, as ``tutorial.sh`` does in
a checkout. Works from an installed wheel or sdist: the files are shipped inside the package."""

import shutil
import sys
from pathlib import Path
from typing import List, Optional

from ._files import shipped_dir
from .errors import OutputError, UserError
from .utils.cli import cli_parser, run_cli

# shipped folder -> what of it the tutorial needs; configs keep their data paths (../examples/data/...)
COPIED = {"configs": ["*.yaml", "slurm/*"], "examples": ["ase_md.py", "data/*.xyz"]}

COMMANDS = """\
cd {folder}
nequip-train configs/tutorial.yaml                  # at most 4 min on 2 CPU cores; writes results/tutorial/
nequip-evaluate results/tutorial/checkpoints/best.ckpt examples/data/cu_emt_test.xyz --plot results/tutorial/parity.png
nequip-compile results/tutorial/checkpoints/best.ckpt results/tutorial/tutorial.nequip.pt2 --target ase
python examples/ase_md.py results/tutorial/tutorial.nequip.pt2 --steps 1000   # 2 ps of NVE MD, prints the drift
# Allegro: nequip-train configs/allegro_tutorial.yaml; full recipes: configs/nequip.yaml, configs/allegro.yaml"""


def copy_tutorial(folder: Path, force: bool = False) -> List[Path]:
    """Copies the tutorial files into ``folder`` (created if needed); returns the files written.
    Raises ``ValueError`` when a file would be overwritten and ``force`` is false."""
    pairs = []
    for name, patterns in COPIED.items():
        source = shipped_dir(name)
        for pattern in patterns:
            pairs += [(path, folder / name / path.relative_to(source)) for path in sorted(source.glob(pattern))]
    if not pairs:
        raise UserError(f"no tutorial files in {shipped_dir('configs').parent}: reinstall nequip-stack")
    existing = [str(target) for _, target in pairs if target.exists()]
    if existing and not force:
        raise OutputError(f"{existing[0]} already exists; choose a new folder or pass --force to overwrite")
    for source, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return [target for _, target in pairs]


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-tutorial", __doc__)
    parser.add_argument("folder", help="where to put the tutorial (created if needed)")
    parser.add_argument("--force", action="store_true", help="overwrite tutorial files already in the folder")
    args = parser.parse_args(argv)

    def run() -> int:
        folder = Path(args.folder)
        written = copy_tutorial(folder, args.force)
        print(f"nequip-tutorial: copied {len(written)} files into {folder}; now run:\n")
        print(COMMANDS.format(folder=folder))
        return 0

    return run_cli("nequip-tutorial", run, args)


if __name__ == "__main__":
    sys.exit(main())
