"""Figures of the reports (:mod:`strata.figures`)."""

import matplotlib.pyplot as plt
import numpy as np
from ase.cluster import Icosahedron
from ase.visualize.plot import plot_atoms

from strata import figures


def _drawn(ax):
    """Centres and face colours of every circle drawn into ``ax``, in drawing order."""
    if ax.patches:  # ASE: one patch per atom
        return (np.array([p.center for p in ax.patches]),
                np.array([p.get_facecolor() for p in ax.patches]))
    collection, = ax.collections  # ours: one collection
    return (np.array([path.get_extents().get_points().mean(axis=0)
                      for path in collection.get_paths()]),
            collection.get_facecolors())


def test_draw_atoms_draws_what_ase_plot_atoms_draws():
    atoms = Icosahedron("Pt", 3, 4.0)
    atoms.symbols[np.random.default_rng(0).permutation(len(atoms))[:20]] = "Au"
    fig, (ase_ax, ours) = plt.subplots(1, 2)
    plot_atoms(atoms, ase_ax, rotation="10x,15y,0z", radii=0.9)
    figures.draw_atoms(atoms, ours, rotation="10x,15y,0z")
    ase_centres, ase_colours = _drawn(ase_ax)
    centres, colours = _drawn(ours)
    plt.close(fig)
    assert len(centres) == len(atoms)
    np.testing.assert_allclose(centres, ase_centres, atol=1e-6)
    np.testing.assert_allclose(colours, ase_colours)
    assert ours.get_xlim() == ase_ax.get_xlim() and ours.get_ylim() == ase_ax.get_ylim()


def test_the_progress_figure_shows_the_chance_of_a_better_ordering():
    import pandas as pd

    metrics = pd.DataFrame({"round": [0, 1, 2], "reference_calls": [10, 15, 20],
                            "best_energy": [3.0, 2.9, 2.9], "cv.spearman": [0.5, 0.6, 0.7],
                            "better_chance": [np.nan, 0.8, 0.2]})
    fig = figures.progress_figure(metrics)
    lines = {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}
    plt.close(fig)
    np.testing.assert_allclose(lines["chance of a better ordering"].get_ydata(),
                               [np.nan, 0.8, 0.2])
