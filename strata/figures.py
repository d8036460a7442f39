"""The matplotlib (Agg) figures of the reports: progress, ranks, SHAP, structures.

Every function returns a :class:`matplotlib.figure.Figure` built from tables (metrics, the
labelled table, the explanation tables of :mod:`strata.explain`) or structures; nothing here
fits a model. :func:`strata.report.figure_html` embeds a figure in a page.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from strata.descriptors import readable_name, region_of_feature  # noqa: E402
from strata.explain import mean_abs_shap  # noqa: E402

REGION_COLOURS = {"surface": "#d95f02", "intermediate": "#7570b3", "core": "#1b9e77",
                  "cross-region": "#e7298a", "global": "#666666"}


def png(fig, dpi=90):
    """The figure as PNG bytes (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- SHAP

def beeswarm_figure(values, data, top=15):
    """SHAP beeswarm of the ``top`` features: one dot per structure, coloured by feature value.

    Parameters
    ----------
    values : pandas.DataFrame
        SHAP values, one column per feature (rows: explained structures).
    data : pandas.DataFrame
        The explained structures' feature values (same rows, at least the same columns).
    top : int
    """
    names = list(mean_abs_shap(values).index[:top])[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(names) + 1.2))
    rng = np.random.default_rng(0)
    points = None
    for y, name in enumerate(names):
        shap_col = values[name].to_numpy()
        feature = data[name].to_numpy(dtype=float)
        span = np.ptp(feature) if len(feature) else 0.0
        colour = (feature - feature.min()) / span if span > 0 else np.full(len(feature), 0.5)
        points = ax.scatter(shap_col, y + _swarm_offsets(shap_col, rng), c=colour,
                            cmap="coolwarm", vmin=0, vmax=1, s=12, edgecolors="none")
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_yticks(range(len(names)), [readable_name(n) for n in names])
    ax.set_xlabel("SHAP value (score units; > 0 pushes towards 'more stable')")
    ax.set_title("SHAP summary (beeswarm)")
    if points is not None:
        bar = fig.colorbar(points, ax=ax, pad=0.01, aspect=30)
        bar.set_ticks([0, 1], labels=["low", "high"])
        bar.set_label("feature value")
    return fig


def _swarm_offsets(x, rng, width=0.35):
    """Vertical offsets that spread dots of similar x (a simple beeswarm)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return rng.uniform(-width / 2, width / 2, len(x))
    bins = np.digitize(x, np.linspace(x.min(), x.max(), 40))
    offsets = np.zeros(len(x))
    for b in np.unique(bins):
        rows = np.flatnonzero(bins == b)
        k = np.arange(len(rows))
        offsets[rows] = (np.ceil(k / 2) * np.where(k % 2, 1, -1)) * 0.06
    scale = np.abs(offsets).max()
    return offsets * (width / scale) if scale > width else offsets


def importance_figure(values, top=15):
    """Mean |SHAP| of the ``top`` features, coloured by region."""
    importance = mean_abs_shap(values).iloc[:top][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(importance) + 1.2))
    colours = [REGION_COLOURS[region_of_feature(n)] for n in importance.index]
    ax.barh([readable_name(n) for n in importance.index], importance.to_numpy(), color=colours)
    ax.set_xlabel("mean |SHAP| (score units)")
    ax.set_title("Top features by mean |SHAP| (colour = region)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in REGION_COLOURS.values()]
    ax.legend(handles, REGION_COLOURS.keys(), loc="lower right", fontsize=8)
    return fig


def region_figure(regions):
    """SHAP mass per region (share of the total mean |SHAP|).

    Parameters
    ----------
    regions : pandas.DataFrame
        :func:`strata.explain.region_shap` (columns ``region`` and ``share``).
    """
    names = regions["region"].to_numpy()[::-1]
    shares = regions["share"].fillna(0).to_numpy()[::-1]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh(names, shares * 100, color=[REGION_COLOURS[r] for r in names])
    for y, share in enumerate(shares):
        ax.text(share * 100 + 0.5, y, f"{share:.0%}", va="center", fontsize=9)
    ax.set_xlabel("share of total mean |SHAP| (%)")
    ax.set_title("SHAP mass per region")
    ax.set_xlim(0, max(100 * shares.max(initial=0) * 1.2, 10))
    return fig


# ----------------------------------------------------------------------------- progress

def progress_figure(metrics):
    """Best energy and regret against reference calls; batch and CV ranking quality per round."""
    metrics = metrics.sort_values("round")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    _energy_axes(axes[0], metrics)
    _quality_axes(axes[1], metrics)
    fig.tight_layout()
    return fig


def _energy_axes(ax, metrics):
    """Best energy (and regret, on a twin axis) against reference calls."""
    ax.plot(metrics["reference_calls"], metrics["best_energy"], "o-", color="#1b6ca8",
            label="best energy")
    ax.set_xlabel("reference calls")
    ax.set_ylabel("best energy so far (eV)", color="#1b6ca8")
    if "regret" in metrics and metrics["regret"].notna().any():
        twin = ax.twinx()
        twin.plot(metrics["reference_calls"], metrics["regret"], "s--", color="#d95f02",
                  label="regret")
        twin.set_ylabel("regret (eV)", color="#d95f02")
        top = max(float(metrics["regret"].max()), 1e-3)
        twin.set_ylim(-0.05 * top, 1.1 * top)
    ax.set_title("Best energy and regret vs reference calls")


def _quality_axes(ax, metrics):
    """Spearman, Kendall and recall of the batch and of the cross-validation per round, and
    the ensemble's chance that the round's pool held a better ordering."""
    for column, style in (("cv.spearman", "o-"), ("batch.spearman", "s--"),
                          ("cv.kendall", "^-"), ("batch.kendall", "v--")):
        if column in metrics and metrics[column].notna().any():
            ax.plot(metrics["round"], metrics[column], style, label=column)
    for column in [c for c in metrics.columns if c.startswith("batch.recall@")]:
        ax.plot(metrics["round"], metrics[column], "d:", label=column)
    if "better_chance" in metrics and metrics["better_chance"].notna().any():
        ax.plot(metrics["round"], metrics["better_chance"], "*-", color="k", ms=9,
                label="chance of a better ordering")
    ax.axhline(0, color="#aaa", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("round")
    ax.set_title("Ranking quality per round")
    ax.set_xticks(metrics["round"])
    ax.legend(fontsize=7, loc="lower left", ncol=2)


# ----------------------------------------------------------------------------- model view

def rank_figure(batch, labelled):
    """Predicted rank vs reference rank of a batch, and its scores against energies.

    Parameters
    ----------
    batch : pandas.DataFrame
        The labelled rows of one round, with ``score`` and ``uncertainty`` at selection.
    labelled : pandas.DataFrame
        Every labelled row up to that round (the best energy so far, earlier labels).
    """
    ok = batch[np.isfinite(batch["energy"]) & np.isfinite(batch["score"])]
    round_ = batch["round"].max()
    so_far = labelled[(labelled["round"] <= round_) & np.isfinite(labelled["energy"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    _rank_axes(axes[0], ok)
    _score_axes(axes[1], ok, so_far, round_)
    fig.tight_layout()
    return fig


def _rank_axes(ax, ok):
    """Predicted against reference rank within the batch, per composition."""
    for composition, group in ok.groupby("composition"):
        predicted = group["score"].rank(ascending=False, method="first")
        true = group["energy"].rank(method="first")
        ax.scatter(predicted, true, s=60, label=composition, zorder=3)
        for p, t, sid in zip(predicted, true, group["structure_id"], strict=True):
            ax.annotate(sid, (p, t), textcoords="offset points", xytext=(5, 4), fontsize=7)
    n = max(len(ok), 2)
    ax.plot([1, n], [1, n], color="#aaa", lw=0.8, zorder=1)
    ax.set_xlabel("predicted rank in batch (1 = predicted most stable)")
    ax.set_ylabel("reference rank in batch (1 = lowest energy)")
    ax.set_title("Predicted vs reference rank of the new batch")
    ax.legend(fontsize=7)


def _score_axes(ax, ok, so_far, round_):
    """Scores (± uncertainty) of the batch of ``round_`` against the energy above the best
    so far; the labels of earlier rounds as ticks on the bottom axis."""
    best = so_far.groupby("composition")["energy"].min()
    for composition, group in ok.groupby("composition"):
        ax.errorbar(group["energy"] - best[composition], group["score"],
                    yerr=group["uncertainty"].fillna(0), fmt="o", capsize=3,
                    label=f"{composition} batch")
    earlier = so_far[so_far["round"] < round_]
    if not earlier.empty:
        delta = earlier["energy"] - earlier["composition"].map(best)
        right = ax.get_xlim()[1]
        shown = delta[delta <= right]
        ax.plot(shown, np.full(len(shown), ax.get_ylim()[0]), "|", color="#999", ms=12,
                label=f"earlier labels ({len(delta) - len(shown)} more beyond the axis)")
    ax.set_xlabel("energy above the best so far (eV)")
    ax.set_ylabel("score at selection ± uncertainty")
    ax.set_title("Scores of the batch (higher = predicted more stable)")
    ax.legend(fontsize=7)


# ----------------------------------------------------------------------------- structures

def layer_profile(atoms, topology, elements):
    """Element fraction per layer (rows: layer index from the surface, columns: elements)."""
    symbols = np.asarray(atoms.get_chemical_symbols())
    rows = {}
    for layer in np.unique(topology.layer):
        in_layer = symbols[topology.layer == layer]
        rows[int(layer)] = {e: float(np.mean(in_layer == e)) for e in elements}
        rows[int(layer)]["atoms"] = len(in_layer)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("layer")


def cut_away(atoms):
    """The half of a particle below its centre plane (z ≤ centre), to show the inside."""
    z = atoms.positions[:, 2]
    return atoms[z <= atoms.get_center_of_mass()[2] + 0.1]


def draw_atoms(atoms, ax, rotation="", radii=0.9):
    """``atoms`` drawn into ``ax`` as ASE's :func:`ase.visualize.plot.plot_atoms` draws them
    (its projection and patches, jmol colours, depth order), added as one collection: one
    patch at a time costs matplotlib a limits update each (≈ 10× slower at 147 atoms)."""
    from ase.io.utils import PlottingVariables, make_patch_list
    from matplotlib.collections import PatchCollection

    drawing = PlottingVariables(atoms, rotation=rotation, radii=radii, scale=1)
    ax.add_collection(PatchCollection(make_patch_list(drawing), match_original=True))
    ax.set_xlim(0, drawing.w)
    ax.set_ylim(0, drawing.h)
    ax.set_aspect("equal")
    ax.set_axis_off()


def structure_figure(atoms, topology, elements, title):
    """One structure: whole particle, cut-away and element fraction per layer."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4),
                             gridspec_kw={"width_ratios": [1, 1, 1.3]})
    draw_atoms(atoms, axes[0], rotation="10x,15y,0z")
    axes[0].set_title("whole particle", fontsize=9)
    draw_atoms(cut_away(atoms), axes[1], rotation="0x,0y,0z")
    axes[1].set_title("cut-away (front half removed)", fontsize=9)
    _profile_axes(axes[2], layer_profile(atoms, topology, elements), elements)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def prototypes_figure(environments, table, columns=4):
    """Each prototype environment: its exemplar's central atom (large) and bonded neighbours
    (small), jmol colours, titled with the neighbours' elements and the prototype's strongest
    SHAP direction (``table``: :func:`strata.explain.prototype_table`)."""
    from collections import Counter

    rows = -(-len(environments) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, environment in zip(axes.ravel(), environments, strict=False):
        p = int(environment.info["prototype"])
        symbols = environment.get_chemical_symbols()
        radii = np.full(len(environment), 0.5)
        radii[0] = 1.1
        draw_atoms(environment, ax, rotation="25x,35y,0z", radii=radii)
        neighbours = ", ".join(f"{n} {e}" for e, n in sorted(Counter(symbols[1:]).items()))
        label = f"P{p}: {symbols[0]} centre; {neighbours}"
        strongest = table[table["prototype"] == p].head(1)
        if len(strongest):
            row = strongest.iloc[0]
            effect = prototype_effect(row)
            label += f"\nmore {row['region']} atoms like it → {effect}"
        ax.set_title(label, fontsize=8)
    fig.tight_layout()
    return fig


def prototype_effect(row):
    """What more atoms like a prototype do, from a prototype-table row."""
    if not row["mean_abs_shap"] > 0:
        return "unused by the model"
    return {1: "more stable", -1: "less stable"}.get(int(row["direction"]), "no trend")


def _profile_axes(ax, profile, elements):
    """Stacked element fractions per layer, atoms per layer written above the bars."""
    from ase.data import atomic_numbers
    from ase.data.colors import jmol_colors

    bottom = np.zeros(len(profile))
    for element in elements:
        ax.bar(profile.index, profile[element], bottom=bottom,
               color=jmol_colors[atomic_numbers[element]], edgecolor="#333", label=element)
        bottom += profile[element].to_numpy()
    for layer, count in profile["atoms"].items():
        ax.text(layer, 1.02, f"{count}", ha="center", fontsize=7)
    ax.set_xticks(profile.index, ["surface" if i == 0 else str(i) for i in profile.index])
    ax.set_xlabel("layer (graph distance from the surface; numbers: atoms)")
    ax.set_ylabel("element fraction")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("composition per layer", fontsize=9)


# ----------------------------------------------------------------------------- formula

def parity_figure(parity):
    """Out-of-fold ΔE of the formula and of the model against the reference ΔE (eV).

    Parameters
    ----------
    parity : pandas.DataFrame
        ``delta_e`` and one column per method (:func:`strata.formula.formula_tables`).
    """
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for method, style in (("model", dict(marker="s", color="#bbbbbb", s=18)),
                          ("linear fit", dict(marker="^", color="#7570b3", s=14, alpha=0.6)),
                          ("formula", dict(marker="o", color="#d95f02", s=22))):
        if method in parity:
            ax.scatter(parity["delta_e"], parity[method], label=method, zorder=3, **style)
    low = float(np.nanmin(parity[["delta_e", *[m for m in ("formula", "model")
                                                if m in parity]]].to_numpy()))
    high = float(np.nanmax(parity["delta_e"]))
    ax.plot([low, high], [low, high], color="#444", lw=0.8, zorder=1)
    ax.set_xlabel("reference ΔE within composition (eV)")
    ax.set_ylabel("cross-validated prediction (eV)")
    ax.set_title("Formula parity (out of fold)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- chart

def chart_figure(points, families, path=None):
    """The chart: every computed structure coloured by energy above its composition's best,
    the round's batch ringed, the pool sample grey, the best starred (and, with ``path``, the
    best structure of each round joined in order); beside it, energy per motif family.

    Parameters
    ----------
    points : pandas.DataFrame
        :func:`strata.rounds.chart` points.
    families : pandas.DataFrame
        Its families table.
    path : pandas.DataFrame, optional
        ``x``, ``y`` and ``round`` of the best structure after each round.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    _map_axes(axes[0], points, path)
    _family_axes(axes[1], points, families)
    fig.tight_layout()
    return fig


def _map_axes(ax, points, path):
    background = points[points["kind"] == "random"]
    ax.scatter(background["x"], background["y"], s=5, color="#e6e6e6",
               label="random orderings", zorder=1)
    pool = points[points["kind"] == "pool"]
    ax.scatter(pool["x"], pool["y"], s=8, color="#a6a6a6", label="pool sample", zorder=1)
    done = points[points["kind"].isin(["computed", "batch"])]
    shown = ax.scatter(done["x"], done["y"], c=done["e_rel"], cmap="viridis_r", s=22, zorder=2,
                       vmin=0, vmax=max(float(np.nanpercentile(done["e_rel"], 90)), 1e-6))
    plt.colorbar(shown, ax=ax, label="energy above best of composition (eV)")
    batch = done[done["kind"] == "batch"]
    ax.scatter(batch["x"], batch["y"], s=70, facecolors="none", edgecolors="#d62728", lw=1.3,
               label="this round's batch", zorder=3)
    if path is not None and len(path):
        ax.plot(path["x"], path["y"], "-", color="#d62728", lw=1, alpha=0.7, zorder=3,
                label="best after each round")
    best = done.loc[done["e_rel"].idxmin()] if len(done) else None
    if best is not None:
        ax.scatter([best["x"]], [best["y"]], marker="*", s=260, color="#ffd92f",
                   edgecolors="k", zorder=4, label=f"best ({best['structure_id']})")
    for family, members in done[done["family"] >= 0].groupby("family"):
        ax.annotate(f"F{family}", (members["x"].median(), members["y"].median()), fontsize=9,
                    weight="bold", color="#333")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Chart of the structures explored")
    ax.legend(fontsize=7, loc="best")


def _family_axes(ax, points, families):
    done = points[points["family"] >= 0]
    if families.empty:
        ax.text(0.5, 0.5, "no motif family yet", ha="center", va="center")
        ax.set_axis_off()
        return
    order = families.sort_values("best_e_rel")
    for y, row in enumerate(order.itertuples()):
        members = done[done["family"] == row.family]["e_rel"]
        ax.scatter(members, np.full(len(members), y) + np.linspace(-0.2, 0.2, len(members)),
                   s=12, color="#1b6ca8")
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"F{r.family} {r.name} ({r.members})" for r in order.itertuples()],
                       fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("energy above best of composition (eV)")
    ax.set_title("Motif families: which are stable")


# ----------------------------------------------------------------------------- hull

def _fraction_column(table):
    """The composition axis of a binary hull: the fraction of its last element."""
    return [c for c in table.columns if c.startswith("x_")][-1]


def hull_figure(points, hull, previous=None):
    """The mixing-energy hull of a binary scan: every computed structure (grey), the best per
    composition (black), the hull (red line, on-hull compositions labelled) and, with
    ``previous``, the round before's hull (dashed).

    Parameters
    ----------
    points, hull : pandas.DataFrame
        :func:`strata.hull.mixing_table` and :func:`strata.hull.hull_table`.
    previous : pandas.DataFrame, optional
        The previous round's hull table.
    """
    x = _fraction_column(hull)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.scatter(points[x], 1000 * points["e_mix"], s=10, color="#bbbbbb", zorder=1,
               label="computed structures")
    ax.scatter(hull[x], 1000 * hull["e_mix"], s=22, color="k", zorder=2,
               label="best per composition")
    if previous is not None:
        was = previous[previous["on_hull"]]
        ax.plot(was[x], 1000 * was["e_mix"], "--", color="#888", lw=1, zorder=2,
                label="hull of the round before")
    on = hull[hull["on_hull"]]
    ax.plot(on[x], 1000 * on["e_mix"], "-o", color="#d62728", lw=1.4, ms=5, zorder=3,
            label="convex hull")
    for row in on.itertuples():
        ax.annotate(row.composition, (getattr(row, x), 1000 * row.e_mix), fontsize=7,
                    xytext=(0, -11), textcoords="offset points", ha="center", color="#d62728")
    return _hull_axes(fig, ax, x, "Mixing-energy convex hull")


def hull_evolution_figure(hulls, calls):
    """The hull after each round of a binary scan, against the reference calls so far.

    Parameters
    ----------
    hulls : dict of str to pandas.DataFrame
        Round name → :func:`strata.hull.hull_table`.
    calls : dict of str to int
        Round name → reference calls up to that round.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(hulls), 1)))
    for colour, (round_, table) in zip(colours, hulls.items(), strict=False):
        x = _fraction_column(table)
        on = table[table["on_hull"]]
        ax.plot(on[x], 1000 * on["e_mix"], "-o", color=colour, lw=1.2, ms=3,
                label=f"round {round_} ({calls.get(round_, 0)} calls)")
    return _hull_axes(fig, ax, x, "The hull round by round")


def layer_profiles_figure(profiles, on_hull, element):
    """The fraction of ``element`` per layer of each composition's best ordering: one column
    per composition (on-hull ones in red), rows from the surface layer (top) to the centre.

    Parameters
    ----------
    profiles : dict of str to pandas.DataFrame
        Composition → :func:`layer_profile` of its best ordering.
    on_hull : set of str
    element : str
    """
    layers = max(len(p) for p in profiles.values())
    grid = np.full((layers, len(profiles)), np.nan)
    for column, profile in enumerate(profiles.values()):
        grid[: len(profile), column] = profile[element].to_numpy()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.16 * len(profiles) + 2.5), 0.5 * layers + 2.2))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(profiles)), list(profiles), rotation=90, fontsize=6)
    for label in ax.get_xticklabels():
        label.set_color("#d62728" if label.get_text() in on_hull else "k")
    ax.set_yticks(range(layers), ["surface" if i == 0 else str(i) for i in range(layers)])
    ax.set_ylabel("layer")
    fig.colorbar(image, ax=ax, label=f"{element} fraction")
    ax.set_title(f"{element} per layer of the best ordering at each composition "
                 "(red: on the hull)", fontsize=9)
    fig.tight_layout()
    return fig


def thumbnails_figure(structures, titles, highlight=(), columns=9):
    """Cut-away views of many structures in a grid (titles in red for ``highlight``)."""
    rows = -(-len(structures) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.45 * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, atoms, title in zip(axes.flat, structures, titles, strict=False):
        draw_atoms(cut_away(atoms), ax)
        ax.set_title(title, fontsize=6, color="#d62728" if title in highlight else "k")
    fig.tight_layout(pad=0.3)
    return fig


def _hull_axes(fig, ax, x, title):
    """Zero line, labels, title and legend of a hull figure (composition axis ``x``)."""
    ax.axhline(0, color="#444", lw=0.6)
    ax.set_xlabel(f"{x.removeprefix('x_')} fraction")
    ax.set_ylabel("mixing energy (meV/atom)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
