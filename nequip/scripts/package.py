"""``nequip-package build CKPT OUT.nequip.zip`` / ``nequip-package info FILE.nequip.zip``: model
packages for sharing, compiling (nequip-compile), the ASE calculator and fine-tuning
(``initialize_from:`` in a training config). See nequip.model.package for the format."""

import json
import sys
from typing import List, Optional

from ..model.io import package_model_file
from ..model.package import read_package
from ..utils.cli import cli_parser, run_cli


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-package", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="package a training checkpoint (EMA weights when present)")
    build.add_argument("checkpoint", help="training checkpoint (.ckpt)")
    build.add_argument("out", help="output file, *.nequip.zip")
    info = sub.add_parser("info", help="print a package's manifest and model hyperparameters")
    info.add_argument("package", help="*.nequip.zip")
    args = parser.parse_args(argv)

    def run() -> int:
        if args.command == "build":
            print(f"nequip-package: wrote {package_model_file(args.checkpoint, args.out)}")
            return 0
        manifest, spec, weights = read_package(args.package)
        num_params = sum(int(v.numel()) for v in weights.values())
        print(json.dumps({**manifest, "num_weights": num_params, "model": spec.to_dict()["model"]}, indent=2))
        return 0

    return run_cli("nequip-package", run, args)


if __name__ == "__main__":
    sys.exit(main())
