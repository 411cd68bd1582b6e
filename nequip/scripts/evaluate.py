"""``nequip-evaluate MODEL DATA [--json] [--plot parity.png]``: metrics of a model on a data set."""

import argparse
import json
import sys
from typing import Dict, List, Optional

import numpy as np

from ..data.dataset import load_dataset
from ..data.type_mapper import TypeMapper
from ..model.io import load_model
from ..model.spec import DTYPES
from ..train.evaluation import evaluate
from ..utils.cli import run_cli

# metric key -> (label, unit, factor from eV-based units)
_ROWS = {
    "energy_per_atom": ("energy/atom", "meV/atom", 1e3),
    "forces": ("forces", "meV/Å", 1e3),
    "stress": ("stress", "meV/Å³", 1e3),
}


def format_table(metrics: Dict[str, float], type_names: List[str]) -> str:
    lines = [f"{'quantity':<16}{'MAE':>12}{'RMSE':>12}  unit"]
    for key, (label, unit, factor) in _ROWS.items():
        if f"{key}_mae" in metrics:
            lines.append(f"{label:<16}{metrics[f'{key}_mae'] * factor:>12.3f}{metrics[f'{key}_rmse'] * factor:>12.3f}  {unit}")
    for name in type_names:
        if f"forces_mae_{name}" in metrics:
            lines.append(f"{'forces ' + name:<16}{metrics[f'forces_mae_{name}'] * 1e3:>12.3f}{'':>12}  meV/Å")
    return "\n".join(lines)


def parity_plot(pairs: Dict[str, np.ndarray], path: str) -> None:
    """Energy-per-atom and force-component parity plots side by side, written to ``path`` (PNG/PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, lbl) for k, lbl in (("energy_per_atom", "energy per atom (eV/atom)"), ("forces", "force components (eV/Å)")) if k in pairs]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        ref, pred = pairs[key][:, 0], pairs[key][:, 1]
        lo, hi = min(ref.min(), pred.min()), max(ref.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(ref, pred, s=4, alpha=0.5)
        mae = np.abs(ref - pred).mean()
        ax.set(xlabel=f"reference {label}", ylabel=f"predicted {label}", title=f"MAE {mae * 1e3:.2f} m{label.split('(')[1][:-1]}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nequip-evaluate", description=__doc__)
    parser.add_argument("model", help="model file (training checkpoint .ckpt)")
    parser.add_argument("data", help="labelled data: any ASE-readable file or our HDF5")
    parser.add_argument("--json", action="store_true", help="print metrics as JSON (eV, Å units)")
    parser.add_argument("--plot", metavar="PNG", help="write energy and force parity plots here")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    def run() -> int:
        model, spec = load_model(args.model, device=args.device)
        dataset = load_dataset(args.data, TypeMapper(spec["type_names"]), spec["r_max"], DTYPES[spec["dtype"]])
        metrics, pairs = evaluate(model, dataset, spec["type_names"], args.batch_size, args.device)
        print(json.dumps(metrics, indent=2) if args.json else format_table(metrics, spec["type_names"]))
        if args.plot:
            parity_plot(pairs, args.plot)
        return 0

    return run_cli("nequip-evaluate", run)


if __name__ == "__main__":
    sys.exit(main())
