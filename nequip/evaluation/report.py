"""An evaluation report folder: metrics as JSON and Markdown; parity plots, error histograms and
per-species force-error histograms as PNG files."""

import json
import os
from typing import Dict, List

import numpy as np

from ..utils.atomic import atomic_write_text
from ..utils.display_units import DISPLAY_UNITS
from .plots import error_histogram, figure_title, force_error_histograms, parity_plot


def metrics_table(metrics: Dict[str, float], type_names: List[str]) -> List[List[str]]:
    """Rows ``[quantity, MAE, RMSE, unit]`` in display units (meV...)."""
    rows = []
    for key, shown in DISPLAY_UNITS.items():
        if f"{key}_mae" in metrics:
            rows.append([shown.label, f"{metrics[f'{key}_mae'] * shown.factor:.3f}", f"{metrics[f'{key}_rmse'] * shown.factor:.3f}", shown.unit])
    forces = DISPLAY_UNITS["forces"]
    for name in type_names:
        if f"forces_mae_{name}" in metrics:
            rows.append([f"forces {name}", f"{metrics[f'forces_mae_{name}'] * forces.factor:.3f}", "", forces.unit])
    return rows


def format_table(metrics: Dict[str, float], type_names: List[str]) -> str:
    lines = [f"{'quantity':<16}{'MAE':>12}{'RMSE':>12}  unit"]
    lines += [f"{q:<16}{mae:>12}{rmse:>12}  {unit}" for q, mae, rmse, unit in metrics_table(metrics, type_names)]
    return "\n".join(lines)


def write_report(
    folder: str, metrics: Dict[str, float], pairs: Dict[str, np.ndarray], type_names: List[str], model: str, data: str
) -> List[str]:
    """Writes ``metrics.json``, ``metrics.md``, ``parity_<quantity>.png``, ``errors_<quantity>.png``
    and ``force_errors_by_species.png`` (for what the data has) into ``folder``; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    written = []

    def out(name: str) -> str:
        written.append(os.path.join(folder, name))
        return written[-1]

    atomic_write_text(out("metrics.json"), json.dumps({"model": model, "data": data, "metrics": metrics}, indent=2, allow_nan=False))
    lines = [f"# Evaluation of `{model}`", "", f"Data: `{data}`", "", "| quantity | MAE | RMSE | unit |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in metrics_table(metrics, type_names)]
    figures = [q for q in DISPLAY_UNITS if q in pairs]
    for q in figures:
        lines += ["", f"![{q} parity](parity_{q}.png) ![{q} errors](errors_{q}.png)"]
    if "forces" in pairs:
        lines += ["", "![force errors per species](force_errors_by_species.png)"]
    atomic_write_text(out("metrics.md"), "\n".join(lines) + "\n")
    title = figure_title(model, data)
    for quantity in figures:
        parity_plot(pairs, out(f"parity_{quantity}.png"), [quantity], type_names, title)
        error_histogram(pairs, quantity, out(f"errors_{quantity}.png"), title)
    if "forces" in pairs:
        force_error_histograms(pairs, type_names, out("force_errors_by_species.png"), title)
    return written
