"""Figures of model errors: parity plots and per-species force-error histograms (PNG)."""

from typing import Dict, List

import numpy as np

# quantity -> (axis label, unit for the MAE in the title, factor to that unit)
QUANTITIES = {
    "energy_per_atom": ("energy per atom (eV/atom)", "meV/atom", 1e3),
    "forces": ("force components (eV/Å)", "meV/Å", 1e3),
    "stress": ("stress components (eV/Å³)", "meV/Å³", 1e3),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parity_plot(pairs: Dict[str, np.ndarray], path: str, quantities: List[str] = ("energy_per_atom", "forces")) -> None:
    """Reference vs predicted values side by side, one panel per quantity present, written to ``path``."""
    plt = _pyplot()
    panels = [q for q in quantities if q in pairs and len(pairs[q])]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4.6), squeeze=False)
    for ax, key in zip(axes[0], panels):
        label, unit, factor = QUANTITIES[key]
        ref, pred = pairs[key][:, 0], pairs[key][:, 1]
        lo, hi = min(ref.min(), pred.min()), max(ref.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(ref, pred, s=4, alpha=0.5)
        ax.set(xlabel=f"reference {label}", ylabel=f"predicted {label}",
               title=f"MAE {np.abs(ref - pred).mean() * factor:.2f} {unit}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def force_error_histograms(pairs: Dict[str, np.ndarray], type_names: List[str], path: str) -> None:
    """Histogram of force-component errors (meV/Å) for each species, written to ``path``."""
    plt = _pyplot()
    errors = (pairs["forces"][:, 1] - pairs["forces"][:, 0]) * 1e3
    types = pairs["force_types"]
    present = [(i, name) for i, name in enumerate(type_names) if np.any(types == i)]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    bins = np.linspace(np.percentile(errors, 0.5), np.percentile(errors, 99.5), 60)
    for index, name in present:
        e = errors[types == index]
        ax.hist(e, bins=bins, alpha=0.55, label=f"{name} (MAE {np.abs(e).mean():.2f} meV/Å)")
    ax.set(xlabel="force component error (meV/Å)", ylabel="count", title="force errors per species")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
