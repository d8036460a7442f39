"""Seed-paper DFT data: layer statistics, ranking quality and a pool-based campaign.

The 999 relaxed 55-atom Al-Co-Fe-Ni-Cu particles of the seed paper (read from
``../shared/data/hawthorne2026``). Every figure is measured inside the 388-structure
composition Al41Co5Cu2Fe2Ni5 (energy is set by composition; within it the range is ~0.15 eV),
through Strata's own code path: a campaign context (:class:`strata.campaign.Campaign`) of the
data set's particle, whose round jobs describe the structures (:func:`strata.rounds.describe`),
train the surrogate (:func:`strata.rounds.fit_model`; ``kind`` ranker = LambdaRank, regressor
= LightGBM regression on the energy, sorted) and choose each batch
(:func:`strata.rounds.choose_from`), exactly as in a user's campaign.

1. Layer statistics of the descriptor (atoms per region over all 999 particles).
2. Cross-validation: 5-fold Spearman, Kendall, recall@5, regret@5 (mean over folds and
   shuffles; and pooled out-of-fold as in :mod:`strata.evaluation`), ranker vs regressor.
   Reference to beat: Spearman 0.80 / Kendall 0.61 (a default GBDT regressor on the seed
   paper's own descriptors).
3. Pool-based campaign: 10 random labels, then batches of 5 chosen from the unlabelled rest
   of the composition by ``select_batch`` on the surrogate's score and uncertainty, until the
   true lowest-energy structure is picked; over many seeds, against random picking.
4. Learning curve: random training subsets of 25 … 300 labels, metrics on the held-out rest.

Usage (from the repository root)::

    python benchmarks/hawthorne2026.py [--quick] [--seeds 50] [--jobs 2]
        [--model KEY=VALUE ...] [--selection KEY=VALUE ...] [--coordination]
        [--blocks layers layers+local layers+long_range all] [--local KEY=VALUE ...]
        [--descriptors KEY=VALUE ...]

``--model``/``--selection`` override keys of the campaign's ``model`` / ``selection`` config
sections (schema defaults otherwise; printed). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from sklearn.model_selection import KFold

import strata
from strata import featurizer, files, metrics, ranking, rounds
from strata.campaign import Campaign
from strata.settings import ModelSettings

SEED_DATA = Path("../shared/data/hawthorne2026")
ELEMENTS = ["Al", "Co", "Fe", "Ni", "Cu"]
MAIN_COMPOSITION = "Al41Co5Cu2Fe2Ni5"
K = 5
#: relaxed seed clusters: shell minimum near 1.35 (see strata.layers), geometric surface
DESCRIPTORS = {"f=1.35 geometric": {"bond_factor": 1.35, "surface_method": "geometric"}}
#: descriptor block sets compared by ``--blocks`` (``descriptors.blocks``)
BLOCK_SETS = {"layers": ["layers"], "layers+local": ["layers", "local"],
              "layers+long_range": ["layers", "long_range"],
              "all": ["layers", "local", "long_range"]}
#: the seed-like setting, compared only with ``--coordination`` (it doubles the run time)
COORDINATION = {"f=1.2 coordination": {}}
KINDS = ("ranker", "regressor")
#: evaluation-only: the bootstrap ensemble gives the uncertainty, never the score (the main
#: booster is fitted first with the same seed), so CV and learning curves skip it
NO_ENSEMBLE = {"ensemble_size": 0}
N_INITIAL = 10
BATCH_SIZE = 5
WITHIN = (20, 25, 50, 100)


# ----------------------------------------------------------------------------- data

def read_seed_structures(folder: Path = SEED_DATA, ids=None) -> list:
    """The seed paper's relaxed structures (``structures/<id>.xyz`` in the tarball), in the
    order of ``ids`` (default: every id, ascending)."""
    with tarfile.open(folder / "structures.tar.gz") as archive:
        members = {
            int(Path(m.name).stem): m for m in archive.getmembers() if m.name.endswith(".xyz")
        }
        return [
            read(io.StringIO(archive.extractfile(members[i]).read().decode()), format="xyz")
            for i in (sorted(members) if ids is None else ids)
        ]


def load_dataset(folder: Path = SEED_DATA) -> tuple[list, pd.DataFrame]:
    """Structures in id order and a table ``id, energy, composition``."""
    energies = pd.read_csv(folder / "energies.csv", skipinitialspace=True)
    energies.columns = energies.columns.str.strip()
    energies = energies.rename(columns={"Etot": "energy"}).astype({"id": int, "energy": float})
    structures = read_seed_structures(folder, energies["id"])
    energies["composition"] = [a.get_chemical_formula(mode="hill") for a in structures]
    return structures, energies


def campaign_config(descriptors=None, model=None, selection=None, seed=0) -> dict:
    """The campaign config of the data set's particle: 55-atom Al41Co5Cu2Fe2Ni5 (the
    icosahedron is a stand-in template: the candidates are the data set's relaxed
    structures), GPAW references (none is run), batches of five."""
    return {
        "elements": ELEMENTS,
        "composition": [{"Al": 41, "Co": 5, "Cu": 2, "Fe": 2, "Ni": 5}],
        "cluster": {"shape": "icosahedron", "size": 3},
        "reference": {"calculator": "gpaw"},
        "descriptors": dict(descriptors or {}),
        "model": dict(model or {}),
        "selection": dict(selection or {}),
        "batch_size": BATCH_SIZE,
        "seed": seed,
    }


def as_results(structures, table) -> list:
    """The data set's structures as reference results (energy, id, status)."""
    results = []
    for atoms, row in zip(structures, table.itertuples(index=False), strict=True):
        result = atoms.copy()
        result.calc = SinglePointCalculator(result, energy=row.energy)
        result.info.update(structure_id=str(row.id), round=0, template=0,
                           composition=row.composition, origin="pool", status="ok")
        results.append(result)
    return results


def layer_statistics(features: pd.DataFrame, settings) -> pd.DataFrame:
    """Atoms per region over all structures: mean, min, max."""
    counts = features[[f"{region}.count" for region in settings.region_names]]
    counts.columns = list(settings.region_names)
    return counts.agg(["mean", "min", "max"]).T


# ----------------------------------------------------------------------------- workers

_DATA: dict = {}


def _init_worker(data: dict) -> None:
    """One BLAS/OpenMP thread per worker process (LightGBM already uses one)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _DATA.update(data)


def _fit(train: np.ndarray, model: dict, seed: int) -> ranking.Surrogate:
    """Model evaluation (CV, learning curve): the surrogate alone, no campaign."""
    X, energy, comp = _DATA["X"], _DATA["energy"], _DATA["composition"]
    settings = ModelSettings.from_config(model)
    return ranking.fit_surrogate(X.iloc[train], energy[train],
                                 ranking.query_groups(comp[train]), settings, seed)


def _holdout(train: np.ndarray, test: np.ndarray, model: dict, seed: int) -> np.ndarray:
    """Scores of the ``test`` rows by a surrogate fitted on the ``train`` rows."""
    return _fit(train, model, seed).score(_DATA["X"].iloc[test])


def _figures(energy: np.ndarray, score: np.ndarray) -> dict:
    out = metrics.group_metrics(energy, score, K)
    out[f"regret@{K} [meV]"] = 1000 * out.pop(f"regret@{K}")
    return out


def _cv_task(args: tuple) -> tuple:
    kind, shuffle, fold, train, test, model = args
    score = _holdout(train, test, {**model, "kind": kind}, seed=shuffle)
    return kind, shuffle, fold, test, score


def _curve_task(args: tuple) -> list[dict]:
    size, repeat, model = args
    n = len(_DATA["energy"])
    order = np.random.default_rng(1000 * size + repeat).permutation(n)
    train, test = np.sort(order[:size]), np.sort(order[size:])
    rows = []
    for kind in KINDS:
        score = _holdout(train, test, {**model, "kind": kind}, seed=repeat)
        rows.append({"kind": kind, "labels": size, "repeat": repeat,
                     **_figures(_DATA["energy"][test], score)})
    return rows


def _campaign_task(args: tuple) -> dict:
    """One pool-based campaign through the round jobs: labels until the true best is picked.

    The campaign's seed is ``seed``: it trains every round's surrogate and draws the
    selection's random stream of each round, as in the workflow.
    """
    kind, seed, model, selection_config = args
    campaign = Campaign.from_config(campaign_config(
        _DATA["descriptors"], {**model, "kind": kind}, selection_config, seed))
    table, ids = _DATA["table"], _DATA["ids"]
    n, best = len(table), int(np.argmin(table["energy"].to_numpy()))
    labelled = [int(i) for i in np.random.default_rng(seed).choice(n, N_INITIAL, replace=False)]
    round_, start = 0, time.perf_counter()
    while best not in labelled and len(labelled) < n:
        round_ += 1
        surrogate = rounds.fit_model(campaign, table.iloc[labelled])
        pool = np.setdiff1d(np.arange(n), labelled)
        features = table.iloc[pool][surrogate.feature_names]
        candidates = pd.DataFrame({
            "template": 0,
            # all 388 share one site order of the elements: codes repeat, the key is unique
            "codes": list(table["codes"].to_numpy()[pool]),
            "composition": table["composition"].to_numpy()[pool],
            "origin": "pool",
            "score": surrogate.score(features),
            "uncertainty": surrogate.uncertainty(features),
            "key": ids[pool],
        })
        batch = rounds.choose_from(campaign, round_, candidates, set(ids[labelled]))
        position = {key: i for i, key in enumerate(ids)}
        picks = [position[key] for key in batch["key"]]
        if not picks:
            break
        labelled.extend(picks)
    found = best in labelled
    return {"kind": kind, "seed": seed,
            "labels": len(labelled) if found else np.nan,  # computed in whole batches
            "position": labelled.index(best) + 1 if found else np.nan,
            "rounds": round_, "seconds": time.perf_counter() - start}


# ----------------------------------------------------------------------------- parts

def cross_validate(executor, n: int, model: dict, shuffles: int, folds: int = 5):
    """Per-fold mean and pooled out-of-fold figures, ranker vs regressor."""
    energy = _DATA["energy"]
    tasks = [(kind, s, f, train, test, model)
             for kind in KINDS for s in range(shuffles)
             for f, (train, test) in enumerate(
                 KFold(n_splits=folds, shuffle=True, random_state=s).split(np.arange(n)))]
    per_fold, pooled = [], {}
    for kind, s, _, test, score in executor.map(_cv_task, tasks):
        per_fold.append({"kind": kind, **_figures(energy[test], score)})
        pooled.setdefault((kind, s), np.empty(n))[test] = score
    fold_mean = pd.DataFrame(per_fold).groupby("kind", sort=False).mean()
    pooled_rows = pd.DataFrame([{"kind": kind, **_figures(energy, score)}
                                for (kind, _), score in pooled.items()])
    return fold_mean, pooled_rows.groupby("kind", sort=False).mean()


def random_picking(n: int, seeds: int = 100_000) -> dict:
    """Labels until the best is picked by random picking: exact and simulated.

    ``position``: one structure at a time, E = (n + 1) / 2. ``labels``: the campaign's
    accounting (10 initial labels, then whole batches of 5).
    """
    position = np.arange(1, n + 1)  # the best's position in a random permutation: uniform
    labels = np.where(position <= N_INITIAL, N_INITIAL,
                      N_INITIAL + BATCH_SIZE * np.ceil((position - N_INITIAL) / BATCH_SIZE))
    labels = np.minimum(labels, n)
    simulated = np.random.default_rng(0).integers(1, n + 1, size=seeds)
    simulated_labels = labels[simulated - 1]
    return {
        "exact": {"mean position": (n + 1) / 2, "mean labels": labels.mean(),
                  "median labels": float(np.median(labels)),
                  **{f"P(labels<={w})": float((labels <= w).mean()) for w in WITHIN}},
        "simulated": {"mean position": simulated.mean(), "mean labels": simulated_labels.mean(),
                      "median labels": float(np.median(simulated_labels)),
                      **{f"P(labels<={w})": float((simulated_labels <= w).mean())
                         for w in WITHIN}},
    }


def simulate_random_campaigns(n: int, seeds: int) -> pd.DataFrame:
    """Random picking with the campaign's protocol and accounting, same number of seeds."""
    rows = []
    for seed in range(seeds):
        order = np.random.default_rng(10_000 + seed).permutation(n)
        position = int(np.flatnonzero(order == 0)[0]) + 1  # structure 0 stands for the best
        labels = N_INITIAL if position <= N_INITIAL else min(
            n, N_INITIAL + BATCH_SIZE * int(np.ceil((position - N_INITIAL) / BATCH_SIZE)))
        rows.append({"kind": "random", "seed": seed, "labels": labels, "position": position})
    return pd.DataFrame(rows)


def campaign_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Median/mean/min/max labels until the best is picked, and seeds within 20/25/50/100."""
    rows = {}
    for kind, r in runs.groupby("kind", sort=False):
        labels = r["labels"]
        rows[kind] = {"seeds": len(r), "median": labels.median(), "mean": labels.mean(),
                      "min": labels.min(), "max": labels.max(),
                      **{f"<= {w}": int((labels <= w).sum()) for w in WITHIN},
                      "mean position": r["position"].mean(),
                      "not found": int(labels.isna().sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def parse_overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs, values parsed as JSON when possible (``4.0``, ``"none"``)."""
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def overrides_label(overrides: dict) -> str:
    """``KEY=VALUE`` pairs of ``overrides`` as one label."""
    return " ".join(f"{k}={v}" for k, v in overrides.items())


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few seeds/repeats")
    parser.add_argument("--seeds", type=int, help="campaign seeds (default 50; quick 3)")
    parser.add_argument("--repeats", type=int, help="learning-curve repeats (default 10; quick 1)")
    parser.add_argument("--shuffles", type=int, help="CV shuffles (default 3; quick 1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    parser.add_argument("--campaign-kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--model", nargs="*", metavar="KEY=VALUE", help="model overrides")
    parser.add_argument("--selection", nargs="*", metavar="KEY=VALUE",
                        help="selection overrides")
    parser.add_argument("--coordination", action="store_true",
                        help="also cross-validate the f=1.2 coordination descriptor")
    parser.add_argument("--skip", nargs="*", default=[], choices=["cv", "campaign", "curve"])
    parser.add_argument("--descriptors", nargs="*", metavar="KEY=VALUE",
                        help="descriptors overrides of every descriptor set (e.g. "
                             "neighbour_counts=true)")
    parser.add_argument("--local", nargs="*", metavar="KEY=VALUE",
                        help="descriptors.local overrides (e.g. max_radial=2 shells=1)")
    parser.add_argument("--long-range", nargs="*", metavar="KEY=VALUE",
                        help="descriptors.long_range overrides")
    parser.add_argument("--blocks", nargs="+", metavar="BLOCKS", choices=list(BLOCK_SETS),
                        help="compare descriptor block sets (CV and campaign each, same "
                             f"folds and seeds): {', '.join(BLOCK_SETS)}")
    args = parser.parse_args(argv)
    if "prototypes" in parse_overrides(args.model):
        # prototypes read each structure's lattice ordering (template + codes); the data
        # set's relaxed particles have none, so every structure would get the same features
        parser.error("--model prototypes: the seed data has no lattice orderings to assign "
                     "prototype environments on (measure prototypes with suite.py)")
    args.seeds = args.seeds or (3 if args.quick else 50)
    args.repeats = args.repeats or (1 if args.quick else 10)
    args.shuffles = args.shuffles or (1 if args.quick else 3)
    return args


# ----------------------------------------------------------------------------- main

def print_settings(model: dict, selection_config: dict, jobs: int) -> dict:
    """Validate the overrides (an unknown key fails early, naming it) and print them."""
    campaign = Campaign.from_config(campaign_config(model=model, selection=selection_config))
    print(f"strata {strata.__version__}; jobs {jobs}")
    print(f"model overrides: {model or 'none (schema defaults)'}; "
          f"selection overrides: {selection_config or 'none (schema defaults)'}")
    settings_model = campaign.settings.model.to_dict()
    print("model settings: " + ", ".join(f"{k}={v}" for k, v in settings_model.items()
                                         if k != "kind"))
    return settings_model


def described(label: str, descriptors: dict, results: list, table, group) -> dict:
    """Describe every structure through the describe job; the worker data of the main
    composition."""
    t0 = time.perf_counter()
    campaign = Campaign.from_config(campaign_config(descriptors))
    labelled = rounds.describe(campaign, results)
    # the data set's structures are relaxed and not orderings of one template: each is
    # described by its own geometry (the library's per-geometry path), not on the stand-in
    features = featurizer.describe_many(results, campaign.settings.descriptors)
    labelled[features.columns] = features.to_numpy()
    print(f"\n=== descriptor [{label}]: {features.shape[1]} features, "
          f"described in {time.perf_counter() - t0:.1f} s")
    print("atoms per region (all 999):")
    print(layer_statistics(features, campaign.settings.descriptors).round(2).to_string())
    main_rows = labelled[group].reset_index(drop=True)
    main_rows["codes"] = main_rows["codes"].map(files.codes_from_text)
    return {
        "X": features[group].reset_index(drop=True),
        "energy": table.loc[group, "energy"].to_numpy(),
        "composition": np.array([MAIN_COMPOSITION] * int(group.sum())),
        "ids": table.loc[group, "id"].astype(str).to_numpy(),
        "table": main_rows,
        "descriptors": descriptors,
    }


def print_cv(executor, n: int, model: dict, shuffles: int) -> None:
    t0 = time.perf_counter()
    fold_mean, pooled = cross_validate(executor, n, {**model, **NO_ENSEMBLE}, shuffles)
    print(f"\n5-fold CV in {MAIN_COMPOSITION}, mean over folds of {shuffles} shuffle(s) "
          f"(reference 0.80 / 0.61) [{time.perf_counter() - t0:.0f} s]:")
    print(fold_mean.round(3).to_string())
    print("pooled out-of-fold (all 388 at once, as strata.evaluation):")
    print(pooled.round(3).to_string())


def print_campaigns(executor, data: dict, args, model: dict, selection_config: dict) -> None:
    t0 = time.perf_counter()
    n, energy = len(data["energy"]), data["energy"]
    tasks = [(kind, seed, model, selection_config)
             for seed in range(args.seeds) for kind in args.campaign_kinds]
    runs = pd.DataFrame(list(executor.map(_campaign_task, tasks)))
    runs = pd.concat([runs, simulate_random_campaigns(n, args.seeds)])
    print(f"\npool campaign in {MAIN_COMPOSITION}: {N_INITIAL} random labels, batches of "
          f"{BATCH_SIZE}, until the true best (id {data['ids'][np.argmin(energy)]}) is picked; "
          f"labels counted in whole batches, 'position' = its place in the pick order "
          f"[{time.perf_counter() - t0:.0f} s]:")
    print(campaign_summary(runs).to_string())
    print("labels per seed:")
    print(runs.pivot(index="kind", columns="seed", values="labels")
          .loc[[*args.campaign_kinds, "random"]].to_string())
    print("random picking, exact and simulated (100000 draws):")
    print(pd.DataFrame(random_picking(n)).T.round(3).to_string())


def print_curve(executor, args, model: dict) -> None:
    t0 = time.perf_counter()
    tasks = [(size, r, {**model, **NO_ENSEMBLE})
             for size in args.sizes for r in range(args.repeats)]
    rows = [row for chunk in executor.map(_curve_task, tasks) for row in chunk]
    curve = pd.DataFrame(rows).drop(columns="repeat")
    curve = curve.groupby(["labels", "kind"]).mean().unstack("kind")
    curve.columns = [f"{m} {k}" for m, k in curve.columns]
    print(f"\nlearning curve in {MAIN_COMPOSITION}: random training subsets, metrics on the "
          f"held-out rest, mean of {args.repeats} repeat(s) [{time.perf_counter() - t0:.0f} s]:")
    print(curve.round(3).to_string())


def main(argv=None) -> None:
    args = parse_args(argv)
    if not (SEED_DATA / "energies.csv").exists():
        print(f"skipped: seed-paper data not found at {SEED_DATA} (run from the repo root)")
        return
    start = time.perf_counter()
    model, selection_config = parse_overrides(args.model), parse_overrides(args.selection)
    settings_model = print_settings(model, selection_config, args.jobs)
    structures, table = load_dataset()
    group = (table["composition"] == MAIN_COMPOSITION).to_numpy()
    energy = table.loc[group, "energy"].to_numpy()
    n = int(group.sum())
    print(f"{len(structures)} structures, {table['composition'].nunique()} compositions, "
          f"{n} in {MAIN_COMPOSITION} (energy range {1000 * np.ptp(energy):.0f} meV)")
    labels = ranking.relevance_labels(energy, ranking.query_groups([MAIN_COMPOSITION] * n),
                                      settings_model["levels"])
    print(f"relevance labels: {len(np.unique(labels))} levels, {np.bincount(labels).min()}-"
          f"{np.bincount(labels).max()} structures per level, best = {labels.max()}")
    results = as_results(structures, table)
    descriptor_sets = {**DESCRIPTORS, **(COORDINATION if args.coordination else {})}
    if args.blocks:
        (label, main), = DESCRIPTORS.items()
        hypers = {"local": parse_overrides(args.local),
                  "long_range": parse_overrides(args.long_range)}
        label += "".join(f" {k}:{overrides_label(v)}" for k, v in hypers.items() if v)
        descriptor_sets = {f"{label} {name}": {**main, "blocks": BLOCK_SETS[name],
                                               **{k: v for k, v in hypers.items() if v}}
                           for name in args.blocks}
    if extra := parse_overrides(args.descriptors):
        descriptor_sets = {f"{label} {overrides_label(extra)}": {**descriptors, **extra}
                           for label, descriptors in descriptor_sets.items()}
    for number, (label, descriptors) in enumerate(descriptor_sets.items()):
        data = described(label, descriptors, results, table, group)
        _init_worker(data)
        with ProcessPoolExecutor(args.jobs, initializer=_init_worker,
                                 initargs=(data,)) as executor:
            if "cv" not in args.skip:
                print_cv(executor, n, model, args.shuffles)
            if number > 0 and not args.blocks:
                continue  # the campaign and learning curve use the main descriptor only
            if "campaign" not in args.skip:
                print_campaigns(executor, data, args, model, selection_config)
            if "curve" not in args.skip:
                print_curve(executor, args, model)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
