"""``nequip-compile MODEL OUT.nequip.pt2 [--device cpu|cuda] [--target ase|lammps]``: compile a trained
model (``.ckpt`` or ``.nequip.zip``) ahead of time with AOT Inductor into a deployable package.

The ``ase`` target is what ``NequIPCalculator.from_file`` loads; the ``lammps`` target is what the
LAMMPS pair style loads (inputs/outputs: see nequip.export.targets). Compile on the kind of machine
that will run the package (the CPU instruction set and the CUDA architecture are recorded in it).
"""

import sys
import time
from typing import List, Optional

from ..errors import OutputError
from ..export.aoti import compile_model
from ..export.targets import TARGETS
from ..model.io import load_eager_model
from ..utils.atomic import check_writable_folder
from ..utils.cli import cli_parser, run_cli


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-compile", __doc__)
    parser.add_argument("model", help="trained model: training checkpoint (.ckpt) or model package (.nequip.zip)")
    parser.add_argument("out", help="output package, *.nequip.pt2")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the package will run")
    parser.add_argument("--target", default="ase", choices=sorted(TARGETS),
                        help="ase: for NequIPCalculator.from_file; lammps: for pair_style nequip / allegro")
    args = parser.parse_args(argv)

    def run() -> int:
        if not args.out.endswith(".nequip.pt2"):
            raise OutputError(f"output file '{args.out}' must end with .nequip.pt2")
        check_writable_folder(args.out)  # before the minutes of compiling
        model, spec = load_eager_model(args.model, device=args.device)
        start = time.perf_counter()
        path = compile_model(model, spec, args.out, target=args.target, device=args.device)
        print(f"nequip-compile: wrote {path} (target {args.target}, device {args.device}, "
              f"{time.perf_counter() - start:.0f} s)")
        return 0

    return run_cli("nequip-compile", run, args)


if __name__ == "__main__":
    sys.exit(main())
