"""Per-round and campaign reports: self-contained HTML that opens from the file system.

Every figure is a matplotlib (Agg) PNG embedded as base64, so one ``report.html`` file is the
whole report (no server, no files beside it) and ``snakemake --report`` can include it.

A round report shows

* progress: best energy and regret against reference calls, the per-round metrics table,
  reference calls, failures and wall time per stage;
* the model: predicted rank against reference (DFT/EMT) rank of the batch the model of the
  round before chose, and a SHAP summary (beeswarm and mean |SHAP|) of the model of this round;
* layer weights: SHAP mass per region and a weighting / ablation table (cross-validated
  metrics with each region removed and under a few weighting schemes);
* structures: the best structures so far (element colours, a cut-away and the element
  fraction per layer) and the table of the round's batch.

The SHAP values explain the *whole* score of :class:`strata.ranking.Surrogate`: the ridge prior
(exact linear SHAP values, ``coef · (x − mean)``) plus the LightGBM trees (TreeExplainer); the
two parts add up to the score the campaign ranks with.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from strata import evaluation  # noqa: E402
from strata.campaign import feature_columns  # noqa: E402
from strata.descriptors import BLOCKS, region_of_feature  # noqa: E402
from strata.reference import read_result  # noqa: E402

REGION_COLOURS = {"surface": "#d95f02", "intermediate": "#7570b3", "core": "#1b9e77",
                  "cross-region": "#e7298a", "global": "#666666"}
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{border-bottom:2px solid #444;padding-bottom:.2em}
h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
.note{color:#555;font-size:.9em}.summary{background:#f6f8fa;border-left:4px solid #4a7;
padding:.5em 1em}nav a{margin-right:1em}
.scroll{overflow-x:auto}
"""


# ----------------------------------------------------------------------------- html helpers

def figure_html(fig, alt):
    """A matplotlib figure as an ``<img>`` with the PNG embedded (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def table_html(table, css_class="data", index=False):
    """A table as HTML with numbers to four significant decimals, NaN as a dash."""
    text = table.to_html(index=index, float_format=_number, na_rep="–", classes=css_class,
                         border=0)
    return f"<div class='scroll'>{text}</div>"


def _number(x):
    """Energies to 4 decimals (meV), small numbers to 4 significant digits."""
    return f"{x:.4f}" if abs(x) >= 1 else f"{x:.4g}"


def page(title, body, nav=""):
    """A self-contained HTML page."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"{nav}<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _para(text, css="note"):
    return f"<p class='{css}'>{text}</p>"


# ----------------------------------------------------------------------------- names

_STAT = {"count": "atoms", "entropy": "mixing entropy"}


def readable_name(name):
    """A short human-readable label of a descriptor feature name.

    ``surface.frac.Pt`` → ``surface: Pt fraction``; ``surface-intermediate.bonds.Pt-Au`` →
    ``surface→intermediate: Pt–Au bonds``; unknown patterns are returned unchanged.
    """
    try:
        region = region_of_feature(name)
    except ValueError:
        return name
    prefix, _, rest = name.partition(".")
    where = prefix.replace("-", "→") if region == "cross-region" else prefix
    site = re.match(r"site\.(\w+)\.(.*)", rest)
    if site:
        where, rest = f"{where} {site.group(1)} sites", site.group(2)
    patterns = [
        (r"frac\.(\w+)$", r"\1 fraction"),
        (r"count\.(\w+)$", r"\1 atoms"),
        (r"cn\.(\w+)$", r"\1 mean coordination"),
        (r"bonds\.(\w+)-(\w+)$", r"\1–\2 bonds"),
        (r"bondlen\.(\w+)-(\w+)\.mean$", r"\1–\2 bond length"),
        (r"bondlen\.(\w+)-(\w+)\.std$", r"\1–\2 bond-length spread"),
        (r"wc\.(\w+)-(\w+)$", r"Warren–Cowley α(\1→\2)"),
        (r"count$", "bonds" if region == "cross-region" else "atoms"),
        (r"bonds$", "bonds"),
        (r"atoms$", "atoms"),
        (r"entropy$", "mixing entropy"),
    ]
    for pattern, replacement in patterns:
        if re.fullmatch(pattern, rest):
            return f"{where}: {re.sub(pattern, replacement, rest)}"
    return f"{where}: {rest}"


# ----------------------------------------------------------------------------- SHAP

def shap_values(surrogate, features, max_samples=300, seed=0):
    """SHAP values of the surrogate's score (ridge prior + trees) on some labelled rows.

    Parameters
    ----------
    surrogate : strata.ranking.Surrogate
    features : pandas.DataFrame
        Rows to explain (with the model's columns); at most ``max_samples`` are drawn.
    max_samples : int
    seed : int

    Returns
    -------
    values : pandas.DataFrame
        One SHAP value per explained row and feature (score units, higher = more stable).
    data : pandas.DataFrame
        The explained feature values (same shape).
    parts : dict
        Mean |SHAP| summed over features of the prior (``"prior"``) and trees (``"trees"``).
    """
    names = list(surrogate.feature_names)
    if len(features) > max_samples:
        rows = np.sort(np.random.default_rng(seed).choice(len(features), max_samples,
                                                          replace=False))
        features = features.iloc[rows]
    X = features[names].to_numpy(dtype=float)
    values = np.zeros_like(X)
    parts = {"prior": 0.0, "trees": 0.0}
    prior = surrogate.main.prior
    if prior is not None:
        linear = prior.contributions(X)
        values += linear
        parts["prior"] = float(np.abs(linear).mean(axis=0).sum())
    booster = surrogate.main.booster
    if booster is not None:
        import shap

        trees = np.asarray(shap.TreeExplainer(booster).shap_values(X))
        values += trees
        parts["trees"] = float(np.abs(trees).mean(axis=0).sum())
    index = features.index
    return (pd.DataFrame(values, columns=names, index=index),
            pd.DataFrame(X, columns=names, index=index), parts)


def mean_abs_shap(values):
    """Mean |SHAP| per feature, largest first."""
    return values.abs().mean().sort_values(ascending=False)


def region_shap(values):
    """Mean |SHAP| summed over the features of each region, and its share of the total.

    Returns
    -------
    pandas.DataFrame
        Index: the blocks of :data:`strata.descriptors.BLOCKS` present; columns
        ``mean_abs_shap``, ``share``, ``features``.
    """
    importance = mean_abs_shap(values)
    region = importance.index.map(region_of_feature)
    table = pd.DataFrame({"mean_abs_shap": importance.groupby(region).sum(),
                          "features": importance.groupby(region).size()})
    table = table.reindex([b for b in BLOCKS if b in table.index])
    total = table["mean_abs_shap"].sum()
    table["share"] = table["mean_abs_shap"] / total if total > 0 else np.nan
    return table[["mean_abs_shap", "share", "features"]]


def beeswarm_figure(values, data, top=15):
    """SHAP beeswarm of the ``top`` features: one dot per structure, coloured by feature value."""
    names = list(mean_abs_shap(values).index[:top])[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(names) + 1.2))
    rng = np.random.default_rng(0)
    for y, name in enumerate(names):
        shap_col = values[name].to_numpy()
        feature = data[name].to_numpy()
        span = np.ptp(feature)
        colour = (feature - feature.min()) / span if span > 0 else np.full(len(feature), 0.5)
        jitter = _swarm_offsets(shap_col, rng)
        points = ax.scatter(shap_col, y + jitter, c=colour, cmap="coolwarm", vmin=0, vmax=1,
                            s=12, edgecolors="none")
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_yticks(range(len(names)), [readable_name(n) for n in names])
    ax.set_xlabel("SHAP value (score units; > 0 pushes towards 'more stable')")
    ax.set_title("SHAP summary (beeswarm)")
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
    """SHAP mass per region (share of the total mean |SHAP|)."""
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh(regions.index[::-1], regions["share"].to_numpy()[::-1] * 100,
            color=[REGION_COLOURS[r] for r in regions.index[::-1]])
    for y, share in enumerate(regions["share"].to_numpy()[::-1]):
        ax.text(share * 100 + 0.5, y, f"{share:.0%}", va="center", fontsize=9)
    ax.set_xlabel("share of total mean |SHAP| (%)")
    ax.set_title("SHAP mass per region")
    ax.set_xlim(0, max(100 * regions["share"].max() * 1.2, 10))
    return fig


# ----------------------------------------------------------------------------- ablation

def weighted_features(labelled, weights, configured=None):
    """Labelled table with each block scaled to ``weights`` (0 drops the block).

    The descriptor columns already carry the configured weights (``configured``, block →
    weight, missing = 1); scaling by ``weights / configured`` is the same as recomputing the
    descriptor with ``DescriptorSettings(region_weights=weights)``, since a block's weight
    multiplies every one of its features. Blocks absent from the table stay absent.
    """
    configured = configured or {}
    table = labelled.copy()
    drop = []
    for name in feature_columns(labelled):
        block = region_of_feature(name)
        weight = float(weights.get(block, 1.0))
        if weight == 0:
            drop.append(name)
        elif weight != float(configured.get(block, 1.0) or 1.0):
            table[name] = table[name] * (weight / float(configured.get(block, 1.0) or 1.0))
    return table.drop(columns=drop)


def ablation_table(labelled, model_config, seed, k, schemes=None, configured=None, folds=5):
    """Cross-validated metrics with each region removed and under weighting schemes.

    Reuses :func:`strata.evaluation.cross_validated_metrics` (the model without its bootstrap
    ensemble: the CV score does not use it).

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``variant``, ``features``, ``spearman``, ``kendall``,
        ``recall@k``, ``regret@k`` (empty when too few labels for ``folds``-fold CV).
    """
    schemes = {"uniform": {}} if schemes is None else schemes
    model = {**(model_config or {}), "ensemble_size": 0}
    present = [b for b in BLOCKS
               if any(region_of_feature(c) == b for c in feature_columns(labelled))]
    variants = [(f"weighting: {name}", weights) for name, weights in schemes.items()]
    variants += [(f"without {block}", {block: 0.0}) for block in present]
    variants += [(f"only {block}", {b: 0.0 for b in BLOCKS if b != block})
                 for block in present if block in ("surface", "intermediate", "core")]
    rows = []
    for name, weights in variants:
        table = weighted_features(labelled, weights, configured)
        n_features = len(feature_columns(table))
        if n_features == 0:
            continue
        figures = evaluation.cross_validated_metrics(table, model, seed, k, folds=folds)
        if not figures:
            return pd.DataFrame()
        rows.append({"variant": name, "features": n_features,
                     **{key.removeprefix("cv."): v for key, v in figures.items()}})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- progress

def progress_figure(metrics):
    """Best energy and regret against reference calls; batch and CV Spearman per round."""
    metrics = metrics.sort_values("round")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax = axes[0]
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
    ax = axes[1]
    for column, style in (("cv.spearman", "o-"), ("batch.spearman", "s--"),
                          ("cv.kendall", "^-"), ("batch.kendall", "v--")):
        if column in metrics and metrics[column].notna().any():
            ax.plot(metrics["round"], metrics[column], style, label=column)
    recall = [c for c in metrics.columns if c.startswith("batch.recall@")]
    for column in recall:
        ax.plot(metrics["round"], metrics[column], "d:", label=column)
    ax.axhline(0, color="#aaa", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("round")
    ax.set_title("Ranking quality per round")
    ax.set_xticks(metrics["round"])
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    return fig


STAGES = ("generate_candidates", "select_batch", "compute_reference", "describe_structures",
          "train_model", "report_round")


def stage_times(labelled, logs_dirs):
    """Wall time per stage and round.

    ``compute_reference``: the summed ``wall_time`` the reference results record (CPU-side
    time of the calculations, however many ran in parallel). Other stages: a Snakemake
    benchmark file ``<round>/benchmarks/<stage>.tsv`` when there is one, else the time
    between the last write of the stage's log and of the stage before it (approximate:
    includes waiting for a free core). NaN when neither is known (``report_round`` needs its
    benchmark: its log is still being written while the report is).

    Parameters
    ----------
    labelled : pandas.DataFrame
    logs_dirs : dict of int to path
        Round → its ``logs`` folder (``results/round_NN/logs``).
    """
    rows = []
    carried = None  # last stage's log time of the round before
    for round_, logs in sorted(logs_dirs.items()):
        logs = Path(logs)
        bench = logs.parent / "benchmarks"
        mtimes = {}
        for stage in STAGES:
            files = list(logs.glob(f"{stage}*.log"))
            if files:
                mtimes[stage] = max(f.stat().st_mtime for f in files)
        row = {"round": round_}
        if carried is not None:
            mtimes["previous round"] = carried
        previous = "previous round"
        for stage in STAGES:
            value = np.nan
            bench_file = bench / f"{stage}.tsv"
            if stage == "compute_reference":
                times = labelled.loc[labelled["round"] == round_, "wall_time"]
                value = float(times.sum()) if times.notna().any() else np.nan
            elif bench_file.exists():
                value = float(pd.read_csv(bench_file, sep="\t")["s"].iloc[-1])
            elif stage in mtimes and previous in mtimes and stage != "report_round":
                value = max(mtimes[stage] - mtimes[previous], 0.0)
            row[f"{stage} (s)"] = value
            previous = stage if stage in mtimes else previous
        carried = mtimes.get("train_model", carried)
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- model view

def rank_figure(batch, labelled):
    """Predicted rank vs reference rank of a batch, and its scores against energies."""
    ok = batch[np.isfinite(batch["energy"]) & np.isfinite(batch["score"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
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
    ax = axes[1]
    so_far = labelled[(labelled["round"] <= batch["round"].max())
                      & np.isfinite(labelled["energy"])]
    best = so_far.groupby("composition")["energy"].min()
    for composition, group in ok.groupby("composition"):
        ax.errorbar(group["energy"] - best[composition], group["score"],
                    yerr=group["uncertainty"].fillna(0), fmt="o", capsize=3,
                    label=f"{composition} batch")
    earlier = so_far[so_far["round"] < batch["round"].max()]
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
    fig.tight_layout()
    return fig


def batch_table(batch, labelled):
    """The round's batch: predicted rank, score, uncertainty, energy and reference ranks."""
    table = batch.copy()
    ok = labelled[np.isfinite(labelled["energy"])]
    rank_all = ok.groupby("composition")["energy"].rank(method="min")
    table["rank so far"] = rank_all.reindex(table.index)
    table["rank in batch"] = table.groupby("composition")["energy"].rank(method="min")
    columns = ["structure_id", "composition", "origin", "pick", "status", "reason", "energy",
               "predicted_rank", "score", "uncertainty", "rank in batch", "rank so far"]
    return table[[c for c in columns if c in table]].sort_values("energy", na_position="last")


# ----------------------------------------------------------------------------- structures

def best_results(labelled, result_paths, n=1):
    """The ``n`` lowest-energy results of each composition (reference files, energies attached).

    Ordered by rank within composition, then energy.
    """
    ok = labelled[np.isfinite(labelled["energy"])].copy()
    ok["rank"] = ok.groupby("composition")["energy"].rank(method="first")
    chosen = ok[ok["rank"] <= n].sort_values(["rank", "energy"])
    order = {sid: i for i, sid in enumerate(chosen["structure_id"])}
    results = []
    for path in result_paths:
        result = read_result(path)
        if result.info["structure_id"] in order:
            results.append(result)
    return sorted(results, key=lambda r: order[r.info["structure_id"]])


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


def structure_figure(atoms, topology, elements, title):
    """One structure: whole particle, cut-away and element fraction per layer."""
    from ase.data import atomic_numbers
    from ase.data.colors import jmol_colors
    from ase.visualize.plot import plot_atoms

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4),
                             gridspec_kw={"width_ratios": [1, 1, 1.3]})
    plot_atoms(atoms, axes[0], rotation="10x,15y,0z", radii=0.9)
    axes[0].set_title("whole particle", fontsize=9)
    plot_atoms(cut_away(atoms), axes[1], rotation="0x,0y,0z", radii=0.9)
    axes[1].set_title("cut-away (front half removed)", fontsize=9)
    for ax in axes[:2]:
        ax.set_axis_off()
    profile = layer_profile(atoms, topology, elements)
    bottom = np.zeros(len(profile))
    ax = axes[2]
    for element in elements:
        colour = jmol_colors[atomic_numbers[element]]
        ax.bar(profile.index, profile[element], bottom=bottom, color=colour,
               edgecolor="#333", label=element)
        bottom += profile[element].to_numpy()
    for layer, count in profile["atoms"].items():
        ax.text(layer, 1.02, f"{count}", ha="center", fontsize=7)
    ax.set_xticks(profile.index, ["surface" if i == 0 else str(i) for i in profile.index])
    ax.set_xlabel("layer (graph distance from the surface; numbers: atoms)")
    ax.set_ylabel("element fraction")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("composition per layer", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def structures_html(results, settings, elements):
    """Pictures of structures with their per-layer composition."""
    from strata.layers import Topology

    parts = []
    for atoms in results:
        info = atoms.info
        energy = atoms.get_potential_energy()
        title = (f"{info['structure_id']} ({info.get('composition', '')}, "
                 f"origin {info.get('origin', '?')}): E = {energy:.4f} eV")
        topology = Topology.from_atoms(atoms, settings)
        fig = structure_figure(atoms, topology, elements, title)
        parts.append(figure_html(fig, f"structure {info['structure_id']}"))
    return "".join(parts)


# ----------------------------------------------------------------------------- pages

def _round_nav(round_names, current=None, prefix=""):
    links = [f"<a href='{prefix}report.html'>campaign</a>"]
    for r in round_names:
        label = f"<b>round {r}</b>" if r == current else f"round {r}"
        links.append(f"<a href='{prefix}round_{r}/report.html'>{label}</a>")
    return f"<nav>{''.join(links)}</nav>"


def _progress_section(metrics, times):
    latest = metrics.sort_values("round").iloc[-1]
    text = (f"After round {int(latest['round'])}: {int(latest['reference_calls'])} reference "
            f"calls, {int(latest['failed'])} failed")
    if pd.notna(latest.get("best_energy")):
        text += f", best energy {latest['best_energy']:.4f} eV"
    if pd.notna(latest.get("regret", np.nan)):
        text += f", regret {latest['regret']:.4g} eV"
    body = "<h2 id='progress'>Campaign progress</h2>" + _para(text + ".", "summary")
    body += figure_html(progress_figure(metrics), "progress: best energy and regret")
    body += ("<h3>Metrics per round</h3>" + _para(
        "batch.*: the batch computed in this round, scored by the model of the round before "
        "(out of sample). cv.*: 5-fold cross-validation on every label so far. Within "
        "composition; NaN when a group has fewer than 3 structures.")
        + table_html(metrics.sort_values("round"), "metrics"))
    if times is not None and not times.empty:
        body += ("<h3>Wall time per stage (s)</h3>" + _para(
            "compute_reference: summed wall time of the reference calculations of the round. "
            "Other stages: Snakemake benchmark files when present, else the gap between the "
            "last log writes of consecutive stages (approximate).")
            + table_html(times, "times"))
    return body


def round_page(round_, metrics, labelled, *, surrogate=None, best=(), settings=None,
               elements=(), shap_samples=300, model_config=None, seed=0, k=5,
               configured_weights=None, schemes=None, ablation=True, times=None,
               round_names=None):
    """The report of one round.

    Parameters
    ----------
    round_ : int
    metrics : pandas.DataFrame
        Metric rows of rounds ``0 … round_``.
    labelled : pandas.DataFrame
        Labelled structures of rounds ``0 … round_``.
    surrogate : strata.ranking.Surrogate, optional
        The model trained in this round (SHAP and ablation sections need it).
    best : list of ase.Atoms
        Best reference results so far, pictured.
    settings : strata.descriptors.DescriptorSettings
    elements : sequence of str
    shap_samples : int
    model_config : dict
    seed : int
    k : int
        recall@k / regret@k (the batch size).
    configured_weights : dict
        The config's ``descriptors.region_weights``.
    schemes : dict, optional
        Weighting schemes, name → block weights (the config's ``report.weighting_schemes``;
        default: uniform only).
    ablation : bool
        Cross-validate with each region removed and under ``schemes`` (the config's
        ``report.ablation``).
    times : pandas.DataFrame, optional
        :func:`stage_times`.
    round_names : list of str, optional
        Every round of the campaign (navigation links).
    """
    ablation_requested = ablation
    round_names = round_names or [f"{r:02d}" for r in range(round_ + 1)]
    nav = _round_nav(round_names, f"{round_:02d}", prefix="../")
    batch = labelled[labelled["round"] == round_]
    body = _progress_section(metrics[metrics["round"] <= round_], times)

    body += "<h2 id='model'>Model view</h2>"
    if round_ > 0 and batch["score"].notna().any():
        body += _para("The batch computed in this round was chosen by the model of round "
                      f"{round_ - 1:02d}; its ranks are out of sample.")
        body += figure_html(rank_figure(batch, labelled), "predicted vs reference rank")
    else:
        body += _para("Round 0 is the initial set: no model chose it, so there is no predicted "
                      "rank to compare.")
    regions = None
    if surrogate is not None:
        ok = labelled[np.isfinite(labelled["energy"])]
        values, data, parts = shap_values(surrogate, ok, shap_samples, seed)
        total = parts["prior"] + parts["trees"]
        body += ("<h3>SHAP summary of the model of this round</h3>" + _para(
            f"TreeExplainer on the trees plus exact linear SHAP of the ridge prior, on "
            f"{len(values)} labelled structures; prior {parts['prior'] / total:.0%} and trees "
            f"{parts['trees'] / total:.0%} of the summed mean |SHAP|." if total > 0 else
            "The model is constant on the labelled structures."))
        body += figure_html(beeswarm_figure(values, data), "SHAP beeswarm")
        body += figure_html(importance_figure(values), "mean |SHAP| bar")
        regions = region_shap(values)

    body += "<h2 id='layers'>Layer weights</h2>"
    if regions is not None:
        body += figure_html(region_figure(regions), "SHAP mass per region")
        body += table_html(regions.rename_axis("region").reset_index(), "regions")
    ablation = (ablation_table(labelled, model_config, seed, k, schemes, configured_weights)
                if ablation else pd.DataFrame())
    if ablation.empty and not ablation_requested:
        body += _para("The ablation table is switched off (report.ablation).")
    elif ablation.empty:
        body += _para("Too few labelled structures for the cross-validated ablation.")
    else:
        body += _para(
            "5-fold cross-validated ranking quality (within composition) of the surrogate "
            "retrained with each region removed (weight 0), with only one region kept, and "
            "under the weighting schemes. The trees and the standardised ridge prior are "
            "invariant to a positive scale of a block, so non-zero weightings agree up to "
            "rounding: only removing a block changes the model.")
        body += table_html(ablation, "ablation")

    body += "<h2 id='structures'>Structures</h2>"
    if best:
        body += _para(f"The {len(best)} lowest-energy structures so far (jmol element colours).")
        body += structures_html(best, settings, elements)
    body += "<h3>Batch of this round</h3>" + _para(
        "predicted_rank, score and uncertainty as recorded when the batch was selected "
        "(score: higher = predicted more stable; uncertainty: spread of the bootstrap "
        "ensemble); rank so far: energy rank among every structure labelled up to this round.")
    body += table_html(batch_table(batch, labelled), "batch")
    return page(f"Strata round {round_:02d}", body, nav)


def campaign_page(metrics, round_names, *, labelled=None, best=(), settings=None, elements=(),
                  times=None):
    """The campaign report: progress, metrics, wall time, best structures, round links."""
    nav = _round_nav(round_names, prefix="")
    body = _progress_section(metrics, times)
    links = "".join(f"<li><a href='round_{r}/report.html'>round {r}</a></li>"
                    for r in round_names)
    body += f"<h2 id='rounds'>Round reports</h2><ul>{links}</ul>"
    if labelled is not None:
        counts = labelled.groupby(["round", "origin"]).size().unstack(fill_value=0)
        counts.columns.name = None
        body += "<h3>Structures computed per round and origin</h3>"
        body += table_html(counts.reset_index(), "origins")
    if best:
        body += "<h2 id='structures'>Best structures</h2>"
        body += structures_html(best, settings, elements)
    return page("Strata campaign", body, nav)
