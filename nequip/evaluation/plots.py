"""Figures of model errors (PNG): parity plots, error histograms, per-species force errors.

Parity panels are square with equal axis limits and the y = x line, and state MAE, RMSE and the
number of points N. Up to :data:`DENSITY_THRESHOLD` points they are a scatter plot (force components
coloured by species when there are several); above it, where points merge into an opaque band, a
hexbin density with a logarithmic colour scale. Functions named ``*_figure`` return the matplotlib
figure (for tests and notebooks); the others write a PNG.
"""

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import DataError, ModelFileError
from ..utils.display_units import DISPLAY_UNITS

DENSITY_THRESHOLD = 2000  # more points than this: hexbin density instead of a scatter plot
PANEL_INCHES = 4.4


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_title(model: str, data: str) -> str:
    """``"<model file> on <data file>"``, base names (full paths do not fit a title), except that a
    training checkpoint is named with its run: ``"cu_run/best.ckpt"`` for ``cu_run/checkpoints/best.ckpt``."""
    parts = os.path.normpath(model).split(os.sep)
    name = "/".join(parts[-3::2]) if len(parts) >= 3 and parts[-2] == "checkpoints" else parts[-1]
    return f"{name} on {os.path.basename(data)}"


def error_stats(reference: np.ndarray, prediction: np.ndarray, factor: float) -> Dict[str, float]:
    """``{"mae", "rmse"}`` of ``prediction - reference`` times ``factor``, and ``"n"``."""
    error = (prediction - reference) * factor
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())), "n": int(error.size)}


def _decimals(scale: float) -> int:
    """Decimals that show ``scale`` with 3 significant digits (and the other numbers of its panel alike)."""
    return max(0, 2 - int(np.floor(np.log10(float(f"{scale:.3g}"))))) if scale > 0 else 2  # 0.99999 -> 1.00


def _stats_text(stats: Dict[str, float], unit: str) -> str:
    d = _decimals(stats["mae"])
    return f"MAE  {stats['mae']:.{d}f} {unit}\nRMSE {stats['rmse']:.{d}f} {unit}\nN = {stats['n']:,}"


def _error_bins(errors: np.ndarray) -> np.ndarray:
    """Histogram bin edges over the errors and 0 (so that the zero line and any bias show): all of
    them up to 1000 values, the 0.5-99.5 percentile span above (a few outliers would squash the
    rest); about two bins per square root of N, 10 to 60."""
    lo, hi = (errors.min(), errors.max()) if errors.size <= 1000 else np.percentile(errors, [0.5, 99.5])
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    return np.linspace(lo, hi, int(np.clip(2 * np.sqrt(errors.size), 10, 60)) + 1)


def _finite_pairs(pairs: Dict[str, np.ndarray], key: str):
    """``(reference, prediction)`` of ``key``; :class:`ModelFileError` when the model predicted non-finite values
    (a plot of them would be silently empty or fail on NaN axis limits)."""
    reference, prediction = pairs[key][:, 0], pairs[key][:, 1]
    bad = int(np.sum(~np.isfinite(prediction)))
    if bad:
        raise ModelFileError(f"the model predicted {bad} non-finite {DISPLAY_UNITS[key].value_name} values (of {len(prediction)}): "
                         "nothing to plot; the model is broken for this data")
    return reference, prediction


def _species_of(pairs: Dict[str, np.ndarray], key: str, type_names: Optional[Sequence[str]]) -> List[tuple]:
    """``[(name, mask)]`` of the species present when ``key`` is forces and there are several, else ``[]``."""
    if key != "forces" or not type_names or "force_types" not in pairs:
        return []
    types = pairs["force_types"]
    present = [(name, types == index) for index, name in enumerate(type_names) if np.any(types == index)]
    return present if len(present) > 1 else []


def _parity_panel(fig, ax, pairs: Dict[str, np.ndarray], key: str, type_names: Optional[Sequence[str]]) -> None:
    label, unit, factor = DISPLAY_UNITS[key].axis, DISPLAY_UNITS[key].unit, DISPLAY_UNITS[key].factor
    reference, prediction = _finite_pairs(pairs, key)
    lo, hi = min(reference.min(), prediction.min()), max(reference.max(), prediction.max())
    pad = 0.04 * (hi - lo) if hi > lo else max(abs(hi), 1e-3) * 0.1
    lo, hi = lo - pad, hi + pad
    species = _species_of(pairs, key, type_names)
    if len(reference) > DENSITY_THRESHOLD:
        density = ax.hexbin(reference, prediction, gridsize=70, bins="log", mincnt=1, cmap="viridis",
                            extent=(lo, hi, lo, hi), linewidths=0.0)
        fig.colorbar(density, ax=ax, fraction=0.046, pad=0.03, label="points per bin")
    elif species:
        # one scatter call in a shuffled order: no species is drawn systematically over the others
        colours = np.empty(len(reference), dtype=object)
        for number, (name, mask) in enumerate(species):
            colours[mask] = f"C{number}"
            ax.scatter([], [], s=20, color=f"C{number}", label=name)
        order = np.random.default_rng(0).permutation(len(reference))
        ax.scatter(reference[order], prediction[order], s=7, c=list(colours[order]), alpha=0.7, linewidths=0)
        ax.legend(loc="lower right", frameon=True, fontsize="small")
    else:
        ax.scatter(reference, prediction, s=12 if len(reference) < 300 else 5, alpha=0.7, linewidths=0)
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.9, ls="--", zorder=3)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    stats = error_stats(reference, prediction, factor)
    text = _stats_text(stats, unit)
    for name, mask in species:
        text += f"\n{name}: MAE {error_stats(reference[mask], prediction[mask], factor)['mae']:.{_decimals(stats['mae'])}f}"
    ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", ha="left", family="monospace", fontsize="small",
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="0.7", alpha=0.9), zorder=4)
    ax.set(xlabel=f"reference {label}", ylabel=f"predicted {label}")
    ax.grid(alpha=0.25)


def parity_figure(pairs: Dict[str, np.ndarray], quantities: Sequence[str] = ("energy_per_atom", "forces"),
                  type_names: Optional[Sequence[str]] = None, title: Optional[str] = None):
    """One square parity panel per quantity present in ``pairs`` (see :func:`nequip.evaluation.evaluate`),
    side by side; ``type_names`` colours force components by species; ``title`` (model and data) on top.
    Raises ``ValueError`` when none of ``quantities`` has labelled points."""
    plt = _pyplot()
    panels = [q for q in quantities if q in pairs and len(pairs[q])]
    if not panels:
        raise DataError(f"no labelled {' or '.join(quantities)} in the data: nothing to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(PANEL_INCHES * len(panels) + 0.8, PANEL_INCHES + 0.3),
                             squeeze=False, layout="constrained")
    for ax, key in zip(axes[0], panels):
        _parity_panel(fig, ax, pairs, key, type_names)
    if title:
        fig.suptitle(title)
    return fig


def error_histogram_figure(pairs: Dict[str, np.ndarray], key: str, title: Optional[str] = None):
    """Histogram of ``prediction - reference`` of one quantity (in meV units), with MAE, RMSE, N and
    the bias; the range is the 0.5-99.5 percentile span, and the points outside it are counted."""
    plt = _pyplot()
    name, unit, factor = DISPLAY_UNITS[key].value_name, DISPLAY_UNITS[key].unit, DISPLAY_UNITS[key].factor
    reference, prediction = _finite_pairs(pairs, key)
    errors = (prediction - reference) * factor
    bins = _error_bins(errors)
    outside = int(np.sum((errors < bins[0]) | (errors > bins[-1])))
    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    ax.hist(errors, bins=bins, color="C0", alpha=0.8)
    ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.axvline(0.0, color="0.3", lw=0.9, ls="--")
    stats = error_stats(reference, prediction, factor)
    text = _stats_text(stats, unit) + f"\nbias {errors.mean():+.{_decimals(stats['mae'])}f} {unit}"
    if outside:
        text += f"\n{outside} outside the range"
    ax.text(0.03, 0.96, text, transform=ax.transAxes, va="top", ha="left", family="monospace", fontsize="small",
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="0.7", alpha=0.9))
    ax.set(xlabel=f"{name} error, predicted - reference ({unit})", ylabel="count")
    ax.set_title(f"{title}: {name} errors" if title else f"{name} errors")
    return fig


def force_species_histogram_figure(pairs: Dict[str, np.ndarray], type_names: Sequence[str], title: Optional[str] = None):
    """Force-component errors (meV/Å) per species, as overlaid step histograms with each one's MAE."""
    plt = _pyplot()
    unit, factor = DISPLAY_UNITS["forces"].unit, DISPLAY_UNITS["forces"].factor
    reference, prediction = _finite_pairs(pairs, "forces")
    errors = (prediction - reference) * factor
    types = pairs["force_types"]
    present = [(i, name) for i, name in enumerate(type_names) if np.any(types == i)]
    bins = _error_bins(errors)
    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    for index, name in present:
        e = errors[types == index]
        ax.hist(e, bins=bins, histtype="step", lw=1.6, density=True,
                label=f"{name}: MAE {np.abs(e).mean():.{_decimals(np.abs(errors).mean())}f} {unit}, N = {e.size:,}")
    ax.axvline(0.0, color="0.3", lw=0.9, ls="--")
    ax.set_ylim(0, ax.get_ylim()[1] * (1.12 + 0.09 * len(present)))  # headroom: the legend stays off the bars
    ax.set(xlabel=f"force component error, predicted - reference ({unit})", ylabel="probability density")
    ax.set_title(f"{title}: force errors per species" if title else "force errors per species")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def _save(fig, path: str) -> None:
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


def parity_plot(pairs: Dict[str, np.ndarray], path: str, quantities: Sequence[str] = ("energy_per_atom", "forces"),
                type_names: Optional[Sequence[str]] = None, title: Optional[str] = None) -> None:
    """:func:`parity_figure` written to ``path``."""
    _save(parity_figure(pairs, quantities, type_names, title), path)


def error_histogram(pairs: Dict[str, np.ndarray], key: str, path: str, title: Optional[str] = None) -> None:
    """:func:`error_histogram_figure` written to ``path``."""
    _save(error_histogram_figure(pairs, key, title), path)


def force_error_histograms(pairs: Dict[str, np.ndarray], type_names: List[str], path: str, title: Optional[str] = None) -> None:
    """:func:`force_species_histogram_figure` written to ``path``."""
    _save(force_species_histogram_figure(pairs, type_names, title), path)
