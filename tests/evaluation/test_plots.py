"""The structure of the evaluation figures (not their pixels): square panels with equal limits and
the y = x line, MAE/RMSE/N in each panel, a log-scaled hexbin density above the point threshold,
force components coloured by species, model and data in the title, error histograms in reports."""

import json

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import LogNorm

from nequip.evaluation.plots import (DENSITY_THRESHOLD, error_histogram_figure, figure_title,
                                     force_species_histogram_figure, parity_figure)
from nequip.evaluation.report import write_report

matplotlib.use("Agg")


def _pairs(n_forces: int, n_frames: int = 40, species=(0,), error=0.004):
    """Force errors of exactly +-error (eV/Å: MAE = RMSE = error), energy errors of +-0.001 eV/atom."""
    rng = np.random.default_rng(0)
    forces = rng.normal(0, 1.0, n_forces)
    signs = np.where(np.arange(n_forces) % 2 == 0, 1.0, -1.0)
    energies = rng.uniform(-3.7, -3.5, n_frames)
    return {
        "forces": np.stack([forces, forces + error * signs], -1),
        "force_types": np.resize(np.repeat(np.array(species), 3), n_forces),
        "energy_per_atom": np.stack([energies, energies + 0.001 * np.where(np.arange(n_frames) % 2 == 0, 1, -1)], -1),
    }


def _panel_text(ax) -> str:
    return "\n".join(t.get_text() for t in ax.texts)


def _check_square_with_diagonal(ax, pairs_of_panel):
    lo, hi = ax.get_xlim()
    assert ax.get_ylim() == (lo, hi)
    assert ax.get_aspect() == 1.0
    assert lo <= pairs_of_panel.min() and hi >= pairs_of_panel.max()
    diagonals = [line for line in ax.lines if list(line.get_xdata()) == [lo, hi] and list(line.get_ydata()) == [lo, hi]]
    assert len(diagonals) == 1


def test_scatter_panels_below_threshold():
    pairs = _pairs(900)
    fig = parity_figure(pairs, type_names=["Cu"], title=figure_title("/runs/cu/checkpoints/best.ckpt", "/data/cu_test.xyz"))
    energy, forces = fig.axes
    assert fig._suptitle.get_text() == "cu/best.ckpt on cu_test.xyz"
    assert figure_title("models/cu.nequip.zip", "test.h5") == "cu.nequip.zip on test.h5"
    for ax, key in ((energy, "energy_per_atom"), (forces, "forces")):
        _check_square_with_diagonal(ax, pairs[key])
        assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert [c for c in ax.collections if isinstance(c, PathCollection)]
    assert _panel_text(forces) == "MAE  4.00 meV/Å\nRMSE 4.00 meV/Å\nN = 900"
    assert _panel_text(energy) == "MAE  1.00 meV/atom\nRMSE 1.00 meV/atom\nN = 40"
    assert forces.get_legend() is None  # one species: nothing to colour


def test_hexbin_density_above_threshold():
    pairs = _pairs(DENSITY_THRESHOLD + 1)
    fig = parity_figure(pairs, ["forces"], type_names=["Cu"])
    ax = fig.axes[0]
    (density,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert isinstance(density.norm, LogNorm) and density.get_array().sum() == DENSITY_THRESHOLD + 1
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "points per bin"  # the colour bar
    _check_square_with_diagonal(ax, pairs["forces"])
    assert f"N = {DENSITY_THRESHOLD + 1:,}" in _panel_text(ax) and "MAE  4.00 meV/Å" in _panel_text(ax)


def test_forces_coloured_by_species():
    pairs = _pairs(1800, species=(0, 1, 2))  # 18 | 1800: each species has as many + as - errors
    pairs["forces"][pairs["force_types"] == 2, 1] += 0.006  # Al: errors 10 and 2 meV/Å -> MAE 6
    fig = parity_figure(pairs, ["forces"], type_names=["Cu", "Ni", "Al", "Zn"])  # Zn: not in the data
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Cu", "Ni", "Al"]
    text = _panel_text(ax)
    assert "Cu: MAE 4.00\nNi: MAE 4.00\nAl: MAE 6.00" in text and "N = 1,800" in text
    # every point drawn, each in its species' colour
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    assert len(points.get_offsets()) == 1800 and len({tuple(c) for c in points.get_facecolors()}) == 3


def test_many_points_of_several_species_are_a_density_with_per_species_mae():
    pairs = _pairs(3 * DENSITY_THRESHOLD, species=(0, 1))
    ax = parity_figure(pairs, ["forces"], type_names=["Cu", "Ni"]).axes[0]
    assert [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert "Cu: MAE 4.00\nNi: MAE 4.00" in _panel_text(ax) and ax.get_legend() is None


def test_no_labels_is_a_clear_error():
    with pytest.raises(ValueError, match="no labelled stress in the data"):
        parity_figure({"forces": np.zeros((3, 2))}, ["stress"])


@pytest.mark.parametrize("figure", [lambda p: parity_figure(p, ["forces"]), lambda p: error_histogram_figure(p, "forces"),
                                    lambda p: force_species_histogram_figure(p, ["Cu"])])
def test_non_finite_predictions_are_a_clear_error(figure):
    pairs = _pairs(30)
    pairs["forces"][[3, 7], 1] = np.nan
    with pytest.raises(ValueError, match=r"the model predicted 2 non-finite force component values \(of 30\)"):
        figure(pairs)


def test_error_histogram():
    pairs = _pairs(500)
    ax = error_histogram_figure(pairs, "forces", title="m on d").axes[0]
    assert ax.get_title() == "m on d: force component errors"
    assert _panel_text(ax) == "MAE  4.00 meV/Å\nRMSE 4.00 meV/Å\nN = 500\nbias +0.00 meV/Å"
    counts = [patch.get_height() for patch in ax.patches]
    assert sum(counts) == 500


def test_species_histograms():
    pairs = _pairs(600, species=(0, 1))
    ax = force_species_histogram_figure(pairs, ["Cu", "Ni"]).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Cu: MAE 4.00 meV/Å, N = 300", "Ni: MAE 4.00 meV/Å, N = 300"]


def test_report_has_an_error_histogram_per_quantity(tmp_path):
    pairs = _pairs(300, species=(0, 1))
    metrics = {"forces_mae": 0.004, "forces_rmse": 0.004, "energy_per_atom_mae": 0.001, "energy_per_atom_rmse": 0.001}
    written = write_report(str(tmp_path), metrics, pairs, ["Cu", "Ni"], "model.nequip.zip", "data.xyz")
    names = sorted(p.split("/")[-1] for p in written)
    assert names == ["errors_energy_per_atom.png", "errors_forces.png", "force_errors_by_species.png", "metrics.json",
                     "metrics.md", "parity_energy_per_atom.png", "parity_forces.png"]
    markdown = (tmp_path / "metrics.md").read_text()
    assert "errors_forces.png" in markdown and "errors_energy_per_atom.png" in markdown
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == "model.nequip.zip"
