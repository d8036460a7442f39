"""Per-round and campaign reports: self-contained HTML that opens from the file system.

Every figure (:mod:`strata.figures`) is a PNG embedded as base64, so one ``report.html`` file
is the whole report (no server, no files beside it) and ``snakemake --report`` can include it.
This module only renders: the explanations come as tables from :mod:`strata.explain` (rule
``explain_model``), the best structures from the round's ``best.extxyz`` (:func:`best_so_far`).

A round report shows

* progress: best energy and regret against reference calls, the per-round metrics table,
  reference calls, failures and wall time per stage;
* the model: predicted rank against reference (DFT/EMT) rank of the batch the model of the
  round before chose, and a SHAP summary (beeswarm and mean |SHAP|) of the model of this round
  (ridge prior and trees together);
* layer weights: SHAP mass per region, the layer-weight table (cross-validated metrics under
  the configured ``model.region_weights`` and each of ``report.weighting_schemes``) and the
  region ablation (each region removed, or only one kept);
* structures: the best structures so far (element colours, a cut-away and the element
  fraction per layer) and the table of the round's batch.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from strata import figures, files
from strata.chart import family_table as chart_family_table
from strata.environments import PURPOSE, block_of_feature
from strata.explain import shap_columns
from strata.featurizer import RELAXATION_PREFIX

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
#: stages of a round, in order, whose wall time the reports show


# ----------------------------------------------------------------------------- html helpers

def figure_html(fig, alt):
    """A matplotlib figure as an ``<img>`` with the PNG embedded (the figure is closed)."""
    data = base64.b64encode(figures.png(fig)).decode("ascii")
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
    """A paragraph of class ``css``."""
    return f"<p class='{css}'>{text}</p>"


# ----------------------------------------------------------------------------- tables

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

def structures_html(results, settings, elements):
    """Pictures of structures with their per-layer composition."""
    from strata.layers import Topology

    parts = []
    for atoms in results:
        info = atoms.info
        title = (f"{info['structure_id']} ({info.get('composition', '')}, "
                 f"origin {info.get('origin', '?')}): E = {atoms.get_potential_energy():.4f} eV")
        topology = Topology.from_atoms(atoms, settings)
        fig = figures.structure_figure(atoms, topology, elements, title)
        parts.append(figure_html(fig, f"structure {info['structure_id']}"))
    return "".join(parts)


# ----------------------------------------------------------------------------- sections

def _round_nav(round_names, current=None, prefix=""):
    """Links to the campaign report and every round's (``current`` in bold)."""
    links = [f"<a href='{prefix}report.html'>campaign</a>"]
    for r in round_names:
        label = f"<b>round {r}</b>" if r == current else f"round {r}"
        links.append(f"<a href='{prefix}round_{r}/report.html'>{label}</a>")
    return f"<nav>{''.join(links)}</nav>"


def _progress_section(metrics, times):
    """Summary line, progress figure, metrics per round and wall time per stage."""
    latest = metrics.sort_values("round").iloc[-1]
    text = (f"After round {int(latest['round'])}: {int(latest['reference_calls'])} reference "
            f"calls, {int(latest['failed'])} failed")
    if pd.notna(latest.get("best_energy")):
        text += f", best energy {latest['best_energy']:.4f} eV"
    if pd.notna(latest.get("regret", np.nan)):
        text += f", regret {latest['regret']:.4g} eV"
    if pd.notna(latest.get("better_chance", np.nan)):
        text += (f"; chance that this round's pool held a better ordering than the best "
                 f"before it: {latest['better_chance']:.0%}")
    body = "<h2 id='progress'>Campaign progress</h2>" + _para(text + ".", "summary")
    body += figure_html(figures.progress_figure(metrics), "progress: best energy and regret")
    body += ("<h3>Metrics per round</h3>" + _para(
        "batch.*: the batch computed in this round, scored by the model of the round before "
        "(out of sample). cv.*: 5-fold cross-validation on every label so far. Within "
        "composition; NaN when a group has fewer than 3 structures. better_chance: the share "
        "of the previous round's bootstrap models that score some candidate of the round's "
        "pool above the best structure computed before it (largest over the compositions; "
        "the stop rule selection.stop_chance compares it; a low chance says the search and "
        "the model see nothing better, not that nothing better exists).")
        + table_html(metrics.sort_values("round"), "metrics"))
    if times is not None and not times.empty:
        body += ("<h3>Wall time per stage (s)</h3>" + _para(
            "compute_reference: summed wall time of the reference calculations of the round. "
            "Other stages: Snakemake benchmark files when present, else the gap between the "
            "last log writes of consecutive stages (approximate).")
            + table_html(times, "times"))
    return body


def _parts_note(regions, n_explained):
    """What the SHAP values explain, and how the prior and the trees share them."""
    prior = float(regions["prior"].sum()) if "prior" in regions else np.nan
    trees = float(regions["trees"].sum()) if "trees" in regions else np.nan
    total = prior + trees
    if not total > 0:
        return _para("The model is constant on the labelled structures.")
    return _para(
        f"TreeExplainer on the trees plus exact linear SHAP of the ridge prior, on "
        f"{n_explained} labelled structures; prior {prior / total:.0%} and trees "
        f"{trees / total:.0%} of the summed mean |SHAP|.")


def _blocks_note(values):
    """Which descriptor blocks the model sees, what each is for, and its share of the mean
    |SHAP| (only when a block besides the layers is in use)."""
    blocks = pd.Series([block_of_feature(c) for c in values.columns], index=values.columns)
    if set(blocks) == {"layers"}:
        return ""
    mass = values.abs().mean().groupby(blocks).sum()
    share = mass / mass.sum() if mass.sum() > 0 else mass * 0
    return _para("Descriptor blocks (descriptors.blocks), each pooled per region and central "
                 "element, with their share of the mean |SHAP|: " + "; ".join(
                     f"<b>{b}</b> {100 * share.get(b, 0):.0f} % — {PURPOSE[b]}"
                     for b in PURPOSE if b in set(blocks)) + ".")


def _model_section(round_, batch, labelled, explained):
    """Predicted against reference rank of the batch, and the SHAP summary."""
    body = "<h2 id='model'>Model view</h2>"
    if round_ > 0 and batch["score"].notna().any():
        body += _para("The batch computed in this round was chosen by the model of round "
                      f"{round_ - 1:02d}; its ranks are out of sample.")
        body += figure_html(figures.rank_figure(batch, labelled), "predicted vs reference rank")
    else:
        body += _para("Round 0 is the initial set: no model chose it, so there is no predicted "
                      "rank to compare.")
    shap = explained.get("shap")
    if shap is None or shap.empty:
        return body
    features = labelled.set_index("structure_id")
    extra = explained.get("prototype_features")
    if extra is not None and len(extra.columns) > 1:  # the train stage's prototype features
        features = features.join(extra.set_index("structure_id"))
    values = shap[shap_columns(shap)].set_axis(shap["structure_id"])
    values = values[values.index.isin(features.index)]  # feature values come from labelled
    if values.empty:
        return body
    data = features.loc[values.index, values.columns]
    body += "<h3>SHAP summary of the model of this round</h3>"
    body += _blocks_note(values)
    if explained.get("regions") is not None:
        body += _parts_note(explained["regions"], len(values))
    body += figure_html(figures.beeswarm_figure(values, data), "SHAP beeswarm")
    body += figure_html(figures.importance_figure(values), "mean |SHAP| bar")
    return body


def _prototypes_section(explained):
    """The prototype environments (``model.prototypes``): each one's exemplar pictured, and
    what more atoms like it in a region do to the score ("" without prototypes)."""
    table, environments = explained.get("prototypes"), explained.get("environments")
    if table is None or table.empty or not environments:
        return ""
    body = "<h2 id='prototypes'>Prototype environments</h2>" + _para(
        f"{len(environments)} prototype environments learned by K-means from every labelled "
        "atom's local invariants (descriptors.local) and its element; each structure's "
        "features include, per region, the share of its atoms nearest each prototype. "
        "Pictured: the real atom closest to each prototype (large) with its bonded neighbours "
        "(small; the prototype also sees farther atoms within the cut-off). direction: +1 "
        "when more of the region's atoms like the prototype raise the score (predicted more "
        "stable), −1 when they lower it.")
    body += figure_html(figures.prototypes_figure(environments, table), "prototype environments")
    shown = table.copy()
    shown["effect"] = [f"more {row.region} atoms like P{row.prototype} → "
                       + figures.prototype_effect(row._asdict()) for row in shown.itertuples()]
    columns = ["effect", "mean_abs_shap", "mean_share", "centre", "atoms", "structure_id"]
    return body + table_html(shown[columns].head(12).round(4), "prototypes")


def _layers_section(explained, ablation):
    """SHAP mass per region, the layer-weight table and the region ablation."""
    body = "<h2 id='layers'>Layer weights</h2>"
    regions = explained.get("regions")
    if regions is not None and not regions.empty:
        body += figure_html(figures.region_figure(regions), "SHAP mass per region")
        body += table_html(regions, "regions")
    weighting, removed = explained.get("weighting"), explained.get("ablation")
    if not ablation:
        return body + _para("The layer-weight and ablation tables are switched off "
                            "(report.ablation).")
    if weighting is None or weighting.empty or removed is None or removed.empty:
        return body + _para("Too few labelled structures for the cross-validated tables.")
    body += "<h3>Layer weights of the linear prior</h3>" + _para(
        "5-fold cross-validated ranking quality (within composition) of the surrogate refitted "
        "under the configured model.region_weights and under each of report.weighting_schemes "
        "(missing blocks weigh 1). A weight scales a block's standardised columns in the ridge "
        "prior (its penalty divided by the weight squared; 0 leaves the block out of the "
        "prior); the trees see every block.")
    body += table_html(weighting, "weighting")
    body += "<h3>Region ablation</h3>" + _para(
        "The same cross-validation with a region's descriptor columns removed from the model "
        "(trees and prior), or with only one region kept (cross-region and global removed "
        "too).")
    return body + table_html(removed, "ablation")


def _structures_section(best, batch, labelled, settings, elements):
    """Pictures of the best structures so far, and the batch table."""
    body = "<h2 id='structures'>Structures</h2>"
    if best:
        body += _para(f"The {len(best)} lowest-energy structures so far (jmol element colours).")
        body += structures_html(best, settings, elements)
    body += "<h3>Batch of this round</h3>" + _para(
        "predicted_rank, score and uncertainty as recorded when the batch was selected "
        "(score: higher = predicted more stable; uncertainty: spread of the bootstrap "
        "ensemble); rank so far: energy rank among every structure labelled up to this round.")
    return body + table_html(batch_table(batch, labelled), "batch")


def _short(column):
    """A relaxation column's name without its ``relaxation`` prefix."""
    return column.removeprefix(RELAXATION_PREFIX)


def _relaxation_section(batch, labelled):
    """What the relaxations did: the batch's steps, final forces, convergence and per-region
    displacement and bond change, and the campaign's means per region ("" unless relaxed)."""
    columns = files.relaxation_columns(labelled)
    relaxed = labelled[labelled["relax_steps"].notna()] if "relax_steps" in labelled else []
    if not columns or len(relaxed) == 0:
        return ""
    body = "<h2 id='relaxation'>Relaxation</h2>" + _para(
        "The surrogate describes every structure by its ordering on the ideal lattice (the "
        "pool's space); these columns say what the relaxation did and are not features. "
        "displacement: mean distance of a region's atoms from their ideal site (Å, net "
        "translation removed); bond change: mean relative change of the ideal bonds whose "
        "outer atom is in the region (%, positive = expanded); fmax: largest final force "
        "(eV/Å).")
    unconverged = relaxed[relaxed["relax_converged"].eq(False)]
    body += _para(f"{len(relaxed)} relaxed structures so far, {len(unconverged)} not "
                  "converged within relax.steps"
                  + (f" ({', '.join(unconverged['structure_id'].astype(str))})"
                     if len(unconverged) else "") + ".")
    means = relaxed[columns].mean().rename("mean so far").to_frame().T
    means.columns = [_short(c) for c in means.columns]
    body += "<h3>Per region, every relaxed structure so far</h3>" + table_html(
        means.reset_index(names="").round(3), "relaxation")
    shown = [c for c in ("structure_id", "energy", "prerelax_steps", "relax_steps", "fmax",
                         "relax_converged") if c in batch] + columns
    table = batch[shown].sort_values("energy").rename(columns=_short)
    return body + "<h3>Batch of this round</h3>" + table_html(table.round(3), "relaxation")


def _formula_section(formula):
    """The round's formula of stability (rule ``formula``; "" when switched off)."""
    if formula is None:
        return ""
    from strata.formula import verdict

    table, parity = formula["formula"], formula["parity"]
    body = "<h2 id='formula'>Formula of stability</h2>" + _para(
        "The features the model uses most (largest mean |SHAP|) distilled by symbolic "
        "regression (gplearn, + − × ÷, at most report.formula.max_size nodes) into an "
        "expression of ΔE, the energy relative to the mean of its composition, scaled to eV by "
        "least squares. Cross-validated on the model's folds next to a straight line on the "
        "same features and the model itself (its scores mapped to eV by one line for the MAE).")
    if table.empty:
        return body + _para("Too few labelled structures for a cross-validated formula yet.")
    row = table.set_index("method").loc["formula"]
    body += f"<p class='summary'><b>{html.escape(str(row['expression']))}</b></p>"
    body += "<ul>" + "".join(f"<li>{html.escape(v)}</li>"
                              for v in str(row["variables"]).split("; ")) + "</ul>"
    body += _para(html.escape(verdict(table)), "summary")
    shown = table[["method", "spearman", "kendall", "mae_eV", "nodes"]].rename(
        columns={"mae_eV": "MAE (eV)"})
    body += table_html(shown.round(4), "formula")
    return body + figure_html(figures.parity_figure(parity), "formula parity")


def _chart_section(chart, settings, elements):
    """The chart of the structures explored and its motif families (rule ``chart``)."""
    if chart is None:
        return ""
    points, families, quality = chart["points"], chart["families"], chart["quality"]
    q = quality.iloc[0]
    encoding = ("per-element-pair radial distribution functions" if q["input"] == "rdf"
                else "the layer descriptor")
    body = "<h2 id='chart'>Chart of the structures explored</h2>" + _para(
        f"Every computed structure and a fixed set of random orderings of the particle, "
        f"encoded by {encoding}, "
        "mapped to two dimensions (PCA, then t-SNE started from the previous round's map and "
        "aligned onto it, so that earlier points stay where they were); a sample of this "
        "round's pool is then placed into the map by its nearest charted neighbours, without "
        "moving it. Dense groups of computed structures are motif families (HDBSCAN), named "
        "by their composition per region. Light grey: random orderings; grey: pool candidates "
        "not computed; ringed: this round's batch; star: the best structure.")
    body += _para(
        f"Chart quality: trustworthiness {q['trustworthiness']:.3f} (1 = every map "
        f"neighbourhood is one in the encoding); family purity against the round-0 motifs "
        f"{q['purity']:.2f}; previous points moved by {q['stability']:.3f} of the map's "
        f"spread (– in round 0); {int(q['families'])} families among {int(q['computed'])} "
        "computed structures.")
    body += figure_html(figures.chart_figure(points, families), "chart of the structures")
    if families.empty:
        return body
    shown = families.rename(columns={"best_e_rel": "best ΔE (eV)", "mean_e_rel": "mean ΔE (eV)"})
    body += table_html(shown.round(4), "families")
    return body + "<h3>Lowest-energy member of each family</h3>" + _family_pictures(
        chart.get("representatives", []), settings, elements)


def _family_pictures(representatives, settings, elements):
    from strata.layers import Topology

    parts = []
    for atoms in representatives:
        info = atoms.info
        title = f"F{info['family']} {info['name']}: {info['structure_id']}"
        fig = figures.structure_figure(atoms, Topology.from_atoms(atoms, settings), elements,
                                       title)
        parts.append(figure_html(fig, f"family {info['family']}"))
    return "".join(parts)


def _formula_evolution_section(formulas):
    """Each round's formula and its accuracy: does it converge?"""
    if not formulas:
        return ""
    rows = []
    for round_, table in formulas.items():
        if table.empty:
            continue
        by = table.set_index("method")
        rows.append({"round": round_, "formula": by.loc["formula", "expression"],
                     "variables": by.loc["formula", "variables"],
                     "Spearman formula": by.loc["formula", "spearman"],
                     "Spearman model": by.loc["model", "spearman"],
                     "MAE formula (eV)": by.loc["formula", "mae_eV"]})
    body = "<h2 id='formula'>Formula of stability, round by round</h2>"
    if not rows:
        return body + _para("No round had enough labelled structures for a formula.")
    table = pd.DataFrame(rows)
    same = len(table) > 1 and table["variables"].iloc[-1] == table["variables"].iloc[-2]
    body += _para("The last two rounds' formulas use the same variables: it has settled."
                  if same else "The formula still changes its variables between the last two "
                  "rounds: more labels may change it.", "summary")
    return body + table_html(table.round(4), "formulas")


def _campaign_chart_section(points, labelled):
    """The last round's chart with the path of the best structure after each round."""
    if points is None:
        return ""
    ok = labelled[np.isfinite(labelled["energy"])].sort_values("round")
    where = points.set_index(points["structure_id"].astype(str))
    steps = []
    for round_ in sorted(ok["round"].unique()):
        best = ok[ok["round"] <= round_].nsmallest(1, "energy")["structure_id"].astype(str)
        if best.iloc[0] in where.index:
            steps.append({"round": round_, **where.loc[best.iloc[0], ["x", "y"]].to_dict()})
    path = pd.DataFrame(steps, columns=["round", "x", "y"])
    families = chart_family_table(points)
    body = "<h2 id='chart'>Chart of the whole campaign</h2>" + _para(
        "The last round's chart; the red line joins the best structure after each round.")
    return body + figure_html(figures.chart_figure(points, families, path), "campaign chart")


def _hull_section(hull, settings=None, elements=()):
    """The round's mixing-energy hull (rule ``hull``; "" without ``hull.enabled``), with
    ``hull["structures"]`` (the round's best.extxyz) its compositions' best orderings."""
    if hull is None:
        return ""
    from strata.hull import hull_changes

    table, points, previous = hull["hull"], hull["points"], hull.get("previous")
    body = "<h2 id='hull'>Mixing-energy convex hull</h2>" + _para(
        "E_mix = (E − Σ n_i E_i / N) / N per atom, against the pure particles of the same "
        "shape and calculator settings; the best ordering found so far counts at each "
        "composition. Compositions on the lower convex hull are stable against separating "
        "into their neighbours; the distance says how far above the hull the others lie.")
    mixed = ~_pure(table)
    on = table[table["on_hull"] & mixed]
    body += _para(f"{len(on)} of {int(mixed.sum())} compositions on the hull: "
                  f"{', '.join(on['composition']) or 'none'}.", "summary")
    changes = hull_changes(previous, table)
    if previous is not None:
        body += _para("Since the round before: " + ("; ".join(changes) if changes
                                                     else "no change."), "summary")
    if len([c for c in table.columns if c.startswith("x_")]) == 2:
        body += figure_html(figures.hull_figure(points, table, previous), "hull")
    else:
        body += _para("The hull is pictured for two elements; for more, see the table.")
    shown = table.assign(e_mix=1000 * table["e_mix"], distance=1000 * table["distance"])
    shown = shown.rename(columns={"e_mix": "E_mix (meV/atom)",
                                  "distance": "above hull (meV/atom)"})
    body += table_html(shown.round(3), "hull")
    return body + _best_per_composition(table, hull.get("structures", ()), settings, elements)


def _best_per_composition(table, structures, settings, elements):
    """The best ordering of every mixed composition of a hull table (from ``structures``, the
    round's best.extxyz): a grid of cut-away views, their layer profiles side by side, and
    the on-hull ones pictured in full."""
    from strata.layers import Topology

    by_id = {a.info["structure_id"]: a for a in structures}
    rows = table[~_pure(table) & table["structure_id"].isin(by_id)]
    if rows.empty or settings is None:
        return ""
    best = [by_id[i] for i in rows["structure_id"]]
    on = set(rows.loc[rows["on_hull"], "composition"])
    profiles = {c: figures.layer_profile(a, Topology.from_atoms(a, settings), elements)
                for c, a in zip(rows["composition"], best, strict=True)}
    body = "<h3>Best ordering per composition</h3>" + _para(
        "Cut-away views (front half removed, jmol colours; red: on the hull) and the "
        f"{elements[-1]} fraction per layer of every composition's best ordering so far.")
    body += figure_html(figures.thumbnails_figure(best, list(rows["composition"]), on),
                        "best ordering per composition")
    body += figure_html(figures.layer_profiles_figure(profiles, on, elements[-1]),
                        "layer profiles per composition")
    shown = [a for a, c in zip(best, rows["composition"], strict=True) if c in on]
    if shown:
        body += _para("The compositions on the hull, whole and per layer:")
        body += structures_html(shown, settings, elements)
    return body


def _pure(table):
    """Rows of a hull table that are the pure particles."""
    return table["structure_id"].astype(str).str.startswith("pure-")


def _hull_evolution_section(hulls, labelled, structures=(), settings=None, elements=()):
    """The hull after each round against the reference calls so far, and the last round's
    best ordering per composition (from ``structures``, its best.extxyz)."""
    if not hulls:
        return ""
    calls = {r: int((labelled["round"] <= int(r)).sum()) for r in hulls}
    rows = []
    for round_, table in hulls.items():
        on = table[table["on_hull"] & ~_pure(table)]
        rows.append({"round": round_, "reference calls": calls[round_],
                     "compositions on the hull": ", ".join(on["composition"]),
                     "lowest E_mix (meV/atom)": 1000 * table["e_mix"].min()})
    body = "<h2 id='hull'>The hull, round by round</h2>" + _para(
        "The lower convex hull of the best mixing energy per composition after each round "
        "(results/hull.csv holds the last).")
    first = next(iter(hulls.values()))
    if len([c for c in first.columns if c.startswith("x_")]) == 2:
        body += figure_html(figures.hull_evolution_figure(hulls, calls), "hull evolution")
    body += table_html(pd.DataFrame(rows).round(3), "hulls")
    last = list(hulls.values())[-1]
    return body + _best_per_composition(last, structures, settings, elements)


# ----------------------------------------------------------------------------- pages

def round_page(round_, metrics, labelled, explained=None, *, best=(), settings=None,
               elements=(), ablation=True, times=None, round_names=None, formula=None,
               chart=None, hull=None):
    """The report of one round.

    Parameters
    ----------
    round_ : int
    metrics : pandas.DataFrame
        Metric rows of rounds ``0 … round_``.
    labelled : pandas.DataFrame
        Labelled structures of rounds ``0 … round_`` (the batch, ranks so far, and the
        feature values of the structures SHAP explains).
    explained : dict of str to pandas.DataFrame, optional
        The tables of :func:`strata.explain.explain_round` (``shap``, ``regions``,
        ``ablation``, ``weighting``); without them the SHAP and layer sections are empty.
    best : list of ase.Atoms
        Best reference results so far, pictured.
    settings : strata.settings.DescriptorSettings
        Layers of the pictured structures.
    elements : sequence of str
    ablation : bool
        Whether the cross-validated tables were asked for (``report.ablation``).
    times : pandas.DataFrame, optional
        :func:`stage_times`.
    round_names : list of str, optional
        Every round of the campaign (navigation links).
    formula : dict of str to pandas.DataFrame, optional
        ``formula`` and ``parity`` of rule ``formula`` (None: switched off).
    chart : dict, optional
        ``points``, ``families``, ``quality`` and ``representatives`` (ase.Atoms) of rule
        ``chart`` (None: switched off).
    hull : dict, optional
        ``hull``, ``points`` and (after round 0) ``previous`` of rule ``hull``, and
        ``structures`` (the round's best.extxyz: every composition's best ordering
        pictured); None: ``hull.enabled`` off.
    """
    explained = explained or {}
    round_names = round_names or [f"{r:02d}" for r in range(round_ + 1)]
    nav = _round_nav(round_names, f"{round_:02d}", prefix="../")
    batch = labelled[labelled["round"] == round_]
    body = _progress_section(metrics[metrics["round"] <= round_], times)
    body += _model_section(round_, batch, labelled, explained)
    body += _prototypes_section(explained)
    if explained:
        body += _layers_section(explained, ablation)
    body += _formula_section(formula)
    body += _chart_section(chart, settings, elements)
    body += _hull_section(hull, settings, elements)
    body += _structures_section(best, batch, labelled, settings, elements)
    body += _relaxation_section(batch, labelled)
    return page(f"Strata round {round_:02d}", body, nav)


def _failed_section(labelled):
    """Every failed reference calculation of the campaign, with its reason."""
    if "status" not in labelled:
        return ""
    failed = labelled[labelled["status"] != "ok"]
    body = f"<h2 id='failed'>Failed calculations ({len(failed)})</h2>"
    if failed.empty:
        return body + _para("Every reference calculation succeeded.")
    columns = [c for c in ("round", "structure_id", "composition", "status", "reason")
               if c in failed]
    body += _para("Left out of training; a rerun with the cause fixed computes them again "
                  "(failures are not stored).")
    return body + table_html(failed[columns], "failed")


def campaign_page(metrics, round_names, *, labelled=None, best=(), settings=None, elements=(),
                  times=None, formulas=None, chart_points=None, hulls=None, hull_best=()):
    """The campaign report: progress, metrics, wall time, best structures, round links; with
    ``formulas`` (round → formula table) the formula round by round, with ``chart_points``
    (the last round's chart) the campaign's chart and the path of its best structure, with
    ``hulls`` (round → hull table) the hull round by round and the best ordering of every
    composition among ``hull_best`` (the last round's best.extxyz)."""
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
        body += _failed_section(labelled)
        body += _formula_evolution_section(formulas)
        body += _campaign_chart_section(chart_points, labelled)
        body += _hull_evolution_section(hulls, labelled, hull_best, settings, elements)
    if best:
        body += "<h2 id='structures'>Best structures</h2>"
        body += structures_html(best, settings, elements)
    return page("Strata campaign", body, nav)
