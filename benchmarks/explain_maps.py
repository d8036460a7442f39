"""The formula and the chart stages, measured: accuracy, chart quality and cost.

1. Seed DFT data (``../shared/data/hawthorne2026``, the 388-structure composition
   Al41Co5Cu2Fe2Ni5, relaxed 55-atom particles): the surrogate trained on every structure
   (:func:`strata.rounds.fit_model`), explained (:func:`strata.rounds.explain`), and its
   formula (:func:`strata.rounds.formula`) with the cross-validated Spearman, Kendall and MAE
   of the formula, a straight line on the same features and the model. The chart of the 388
   structures (their own relaxed geometries: :func:`strata.chart.rdf_vectors`; and the layer
   descriptor): trustworthiness and motif families.
2. The default campaign (``config/config.yaml``, EMT) through :func:`strata.rounds.run`, and
   after each round the formula and chart jobs as the rules call them: the formula of every
   round, the chart's trustworthiness, family purity against the round-0 motifs and the
   stability of the previous round's points.
3. Cost at 147 atoms (Pt74Au73 on the Mackay icosahedron, EMT): seconds of the formula and
   chart jobs and of their report sections against the round's other non-reference jobs
   (generate, select, describe, train, explain, the round's report without the two
   sections), side by side in one run, in process (no Snakemake start-up); and
   (``--snakemake``) the same campaign under ``snakemake`` in a copy of the workflow, from the
   rules' benchmark files: the formula and chart rules against every other rule of the round
   but ``compute_reference`` (what a round costs a user besides the reference calls).

Run from the repository root:
``python benchmarks/explain_maps.py [--skip seed campaign cost] [--snakemake]``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import copy
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from strata import chart, evaluation, report, rounds
from strata.campaign import Campaign

CONFIG = Path("config/config.yaml")
#: the explain job without its cross-validated tables (the formula reads only SHAP values)
NO_ABLATION = {"ablation": False}
PTAU147 = {"elements": ["Pt", "Au"], "composition": [{"Pt": 74, "Au": 73}],
           "cluster": {"shape": "icosahedron", "size": 4, "lattice_constant": 4.0},
           "ground_truth_energy": None}


def default_config(**overrides):
    """config/config.yaml with top-level ``overrides``."""
    config = yaml.safe_load(CONFIG.read_text())
    config.update(copy.deepcopy(overrides))
    return config


def formula_rows(tables):
    """The method table of a formula job, rounded."""
    return tables["formula"][["method", "spearman", "kendall", "mae_eV", "nodes"]].round(3)


# ----------------------------------------------------------------------------- 1. seed data

def seed_data():
    import hawthorne2026 as seed

    if not (seed.SEED_DATA / "energies.csv").exists():
        print(f"skipped: seed data not found at {seed.SEED_DATA}")
        return
    structures, table = seed.load_dataset()
    group = (table["composition"] == seed.MAIN_COMPOSITION).to_numpy()
    (label, descriptors), = seed.DESCRIPTORS.items()
    data = seed.described(label, descriptors, seed.as_results(structures, table), table, group)
    config = seed.campaign_config(descriptors)
    config["report"] = NO_ABLATION
    campaign = Campaign.from_config(config)
    labelled = data["table"].assign(round=0, status="ok")
    start = time.perf_counter()
    surrogate, _, cv_scores = rounds.train(campaign, 0, labelled)
    shap = rounds.explain(campaign, labelled, surrogate)["shap"]
    tables, text = rounds.formula(campaign, labelled, surrogate, shap, cv_scores)
    print(f"\n=== seed DFT data, {seed.MAIN_COMPOSITION} ({len(labelled)} structures): "
          f"formula [{time.perf_counter() - start:.1f} s]")
    print(text)
    print(formula_rows(tables).to_string(index=False))

    members = [structures[i] for i in np.flatnonzero(group)]
    inputs = {"rdf": chart.rdf_vectors(members, seed.ELEMENTS),
              "layers": data["X"].to_numpy(float)}
    print(f"\n=== seed DFT data: chart of the {len(members)} relaxed structures")
    rows = []
    for name, vectors in inputs.items():
        start = time.perf_counter()
        scale = name == "layers"  # as rounds.chart: RDFs centred only
        coords = chart.embed(vectors, seed=0, scale=scale)
        labels = chart.families(coords)
        energy = data["energy"]
        by_family = pd.Series(energy).groupby(labels).agg(["size", "min", "mean"])
        rows.append({"input": name, "columns": vectors.shape[1],
                     "trustworthiness": chart.quality(vectors, coords, scale=scale),
                     "families": int((by_family.index >= 0).sum()),
                     "unassigned": int((labels < 0).sum()),
                     "best in family": int(labels[np.argmin(energy)]),
                     "seconds": time.perf_counter() - start})
    print(pd.DataFrame(rows).round(3).to_string(index=False))


# ----------------------------------------------------------------------------- 2. campaign

def default_campaign():
    campaign = Campaign.from_config(default_config())
    previous, quality, formulas = None, [], []
    for done in rounds.run(campaign):
        shap = rounds.explain(campaign, done.labelled, done.surrogate)["shap"]
        tables, _ = rounds.formula(campaign, done.labelled, done.surrogate, shap, done.cv_scores)
        charted = rounds.chart(campaign, done.round, done.labelled, done.candidates, previous)
        previous = charted["points"]
        quality.append({"round": done.round, **charted["quality"].iloc[0].to_dict(),
                        "family names": "; ".join(charted["families"]["name"])})
        if not tables["formula"].empty:
            by = tables["formula"].set_index("method")
            formulas.append({"round": done.round, "formula": by.loc["formula", "expression"],
                             "Spearman formula": by.loc["formula", "spearman"],
                             "line": by.loc["linear fit", "spearman"],
                             "model": by.loc["model", "spearman"],
                             "MAE formula (meV)": 1000 * by.loc["formula", "mae_eV"],
                             "MAE model (meV)": 1000 * by.loc["model", "mae_eV"]})
    print("\n=== default campaign (config/config.yaml): formula of every round")
    print(pd.DataFrame(formulas).round(3).to_string(index=False))
    print(f"variables of the last round: {by.loc['formula', 'variables']}")
    print("\n=== default campaign: chart quality per round")
    print(pd.DataFrame(quality).round(3).to_string(index=False))


# ----------------------------------------------------------------------------- 3. cost

def shares(stages, others):
    """The two stages' seconds as a share of the other jobs' and of the whole round's."""
    return {"vs others": stages / others, "of round": stages / (stages + others)}


def cost(n_rounds=4):
    campaign = Campaign.from_config(default_config(**PTAU147))
    settings = campaign.settings
    rows, previous, metrics, best = [], None, [], []
    for done in rounds.run(campaign, rounds=n_rounds):
        seconds = {k: v for k, v in done.seconds.items() if k != "reference"}
        start = time.perf_counter()
        explained = rounds.explain(campaign, done.labelled, done.surrogate)
        seconds["explain"] = time.perf_counter() - start
        start = time.perf_counter()
        formula, _ = rounds.formula(campaign, done.labelled, done.surrogate, explained["shap"],
                                    done.cv_scores)
        formula_s = time.perf_counter() - start
        start = time.perf_counter()
        charted = rounds.chart(campaign, done.round, done.labelled, done.candidates, previous)
        charted["representatives"] = rounds.chart_representatives(
            campaign, done.labelled, charted["families"])
        previous = charted["points"]
        chart_s = time.perf_counter() - start
        # the round's report, without and with the two sections (their figures are theirs)
        metrics.append(done.metrics)
        best = evaluation.best_so_far(best, done.results, settings.report.best_structures)
        page = functools.partial(
            report.round_page, done.round, pd.concat(metrics, ignore_index=True),
            done.labelled, explained, best=best, settings=settings.descriptors,
            elements=campaign.elements)
        start = time.perf_counter()
        page()
        seconds["report"] = time.perf_counter() - start
        start = time.perf_counter()
        page(formula=formula, chart=charted)
        sections_s = time.perf_counter() - start - seconds["report"]
        others = sum(seconds.values())
        stages = formula_s + chart_s + sections_s
        rows.append({"round": done.round, **{f"{k} s": v for k, v in seconds.items()},
                     "formula s": formula_s, "chart s": chart_s,
                     "their report sections s": sections_s, **shares(stages, others)})
    table = pd.DataFrame(rows)
    print("\n=== cost at 147 atoms (Pt74Au73 ico147, EMT), in process: the formula and chart "
          "jobs and their report sections against the round's other non-reference jobs "
          "(the report without the two sections included)")
    print(table.round(2).to_string(index=False))
    later = table[table["round"] > 0]
    mine = ["formula s", "chart s", "their report sections s"]
    print(f"rounds 1-{n_rounds - 1}: formula + chart (+ sections) = "
          f"{later[mine].to_numpy().sum():.1f} s against "
          f"{later.filter(like=' s').drop(columns=mine).to_numpy().sum():.1f}"
          f" s of the other jobs ({100 * later['vs others'].mean():.0f} % of them, "
          f"{100 * later['of round'].mean():.0f} % of the round's non-reference time)")


def cost_under_snakemake(n_rounds=4):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in ("Snakefile", "workflow", "scripts", "config", "envs", "profiles"):
            copy_ = shutil.copytree if Path(name).is_dir() else shutil.copy
            copy_(name, folder / name)
        (folder / "overlay.yaml").write_text(yaml.safe_dump({**PTAU147, "rounds": n_rounds}))
        start = time.perf_counter()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("snakemake")), "--cores", "2", "--configfile",
             "config/config.yaml", "overlay.yaml"], cwd=folder, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:])
            return
        rows = []
        for round_ in range(n_rounds):
            seconds = {path.stem: float(pd.read_csv(path, sep="\t")["s"].iloc[0]) for path in
                       (folder / "results" / f"round_{round_:02d}" / "benchmarks").glob("*.tsv")
                       if not path.stem.startswith("compute_reference")}
            formula_s, chart_s = seconds.pop("formula"), seconds.pop("chart")
            stages = formula_s + chart_s
            others = sum(seconds.values())
            rows.append({"round": round_, **seconds, "formula": formula_s, "chart": chart_s,
                         "others": others, **shares(stages, others)})
    table = pd.DataFrame(rows)
    print(f"\n=== cost at 147 atoms under snakemake ({time.perf_counter() - start:.0f} s in "
          "all): wall time of each rule of a round (s, its benchmark file), compute_reference "
          "left out; vs others = (formula + chart) / the other rules; of round = (formula + "
          "chart) / every rule of the round")
    print(table.round(2).to_string(index=False))
    print(f"mean over the rounds: formula + chart = {100 * table['vs others'].mean():.0f} % "
          f"of the other rules, {100 * table['of round'].mean():.0f} % of the round's "
          "non-reference time")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=["seed", "campaign", "cost"])
    parser.add_argument("--snakemake", action="store_true",
                        help="also measure the cost at 147 atoms under snakemake (~3 min)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if "seed" not in args.skip:
        seed_data()
    if "campaign" not in args.skip:
        default_campaign()
    if "cost" not in args.skip:
        cost()
        if args.snakemake:
            cost_under_snakemake()
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
