"""``python -m nequip.ops build`` builds the operator library of extensions/ (cached; install.sh runs
it); ``python -m nequip.ops path`` prints the shared library, e.g. for ``NEQUIP_OPS_LIBRARY``."""

import sys
import time

from ..utils.cli import cli_parser, configure_logging, verbosity_of
from .extension import ExtensionUnavailable, library_path


def main() -> int:
    parser = cli_parser("python -m nequip.ops", __doc__)
    parser.add_argument("command", choices=["build", "path"])
    args = parser.parse_args()
    configure_logging(verbosity_of(args))
    start = time.perf_counter()
    try:
        path = library_path()
    except ExtensionUnavailable as error:
        print(f"nequip.ops: {error}", file=sys.stderr)
        return 1
    if args.command == "build":
        print(f"nequip.ops: {path} ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
