"""``nequip-evaluate MODEL DATA [--json] [--plot parity.png] [--report DIR]``: metrics of a model
(``.ckpt``, ``.nequip.zip`` or ``.nequip.pt2``) on a labelled data set, parity plots and a report folder."""

import json
import sys
from typing import List, Optional

from ..data.dataset import load_dataset
from ..data.type_mapper import TypeMapper
from ..evaluation import evaluate
from ..evaluation.plots import figure_title, parity_plot
from ..evaluation.report import format_table, write_report
from ..model.io import load_model
from ..utils.cli import cli_parser, run_cli


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-evaluate", __doc__)
    parser.add_argument("model", help="model file: training checkpoint (.ckpt), model package (.nequip.zip) or compiled package (.nequip.pt2, ase target)")
    parser.add_argument("data", help="labelled data: any ASE-readable file or our HDF5")
    parser.add_argument("--json", action="store_true", help="print metrics as JSON (eV, Å units)")
    parser.add_argument("--plot", metavar="PNG", help="write energy and force parity plots here")
    parser.add_argument("--report", metavar="DIR", help="write metrics (JSON, Markdown) and all figures here")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per model call")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args(argv)

    def run() -> int:
        model, spec = load_model(args.model, device=args.device)
        dataset = load_dataset(args.data, TypeMapper(list(spec.type_names)), spec.r_max, spec.torch_dtype)
        metrics, pairs = evaluate(model, dataset, list(spec.type_names), args.batch_size, args.device)
        print(json.dumps(metrics, indent=2, allow_nan=False) if args.json else format_table(metrics, list(spec.type_names)))
        if args.plot:
            parity_plot(pairs, args.plot, type_names=list(spec.type_names), title=figure_title(args.model, args.data))
        if args.report:
            written = write_report(args.report, metrics, pairs, list(spec.type_names), args.model, args.data)
            print(f"report: {', '.join(written)}", file=sys.stderr)
        return 0

    return run_cli("nequip-evaluate", run, args)


if __name__ == "__main__":
    sys.exit(main())
