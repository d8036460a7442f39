"""PtAu147 benchmark: reference calls until the ground state of Pt74Au73 is found.

Pt74Au73 on the ideal 147-atom Mackay icosahedron
(``ase.cluster.Icosahedron('Pt', noshells=4, latticeconstant=4.0)``), ASE's EMT with a fresh
calculator per structure (through :func:`strata.reference.compute`), no relaxation. The ground
state (Au on the 12 vertices, the 60 edge sites and 1 of the 20 facet centres) is at
62.5106 eV. Side by side on the same oracle and budget:

* ``random``: distinct random orderings;
* ``ga``: a plain steady-state genetic algorithm (population 20, tournament of 3,
  cut-and-splice crossover + swap mutation, the child replaces the worst when better and new);
* ``strata`` (LambdaRank, the default model) and ``strata-regressor`` (LightGBM regression):
  the campaign's own stage functions — ``search.initial_pool``, ``reference.compute``,
  ``descriptors.describe_many``, ``ranking.fit_surrogate``, ``search.candidate_pool``,
  ``selection.select_batch`` — driven by a campaign config dict as a user writes it.

``--init default`` uses the campaign's initial set (its surface-segregation motif fills the
lowest-coordinated sites with Au, which on this particle *is* the ground state); ``--init
random`` is the initial set of a campaign with ``initial_motifs: [random]``, which measures
the surrogate-guided
search (the setting of the issue's prototypes). ``--set section.key=value`` measures a
variant. Figures are printed, never asserted.

Usage: ``python benchmarks/ptau147.py [--quick] [--seeds 5] [--budget 150] [--init random]``
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from strata import (
    campaign,
    descriptors,
    generation,
    orderings,
    ranking,
    reference,
    search,
    selection,
)
from strata import config as config_module
from strata.descriptors import DescriptorSettings
from strata.layers import Topology

GROUND_STATE = 62.5106  # eV, ASE EMT (asap3: 62.5114)
TOLERANCE = 1e-4
ELEMENTS = ["Pt", "Au"]
CHECKPOINTS = (10, 25, 50, 100)

# The default campaign of config/config.yaml is this benchmark's particle: the benchmark runs
# exactly what a user's `snakemake` runs, through the same stage functions.
BASE_CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml")
                             .read_text())


class Oracle:
    """Counts reference calls and records the energy trace."""

    def __init__(self, template, settings):
        self.template = template
        self.settings = settings
        self.energies = []

    def __call__(self, codes, **info):
        atoms = generation.structure_atoms(self.template, codes, ELEMENTS, **info)
        result = reference.compute(atoms, self.settings)
        energy = (result.get_potential_energy() if result.info["status"] == "ok" else np.nan)
        self.energies.append(energy)
        return result, energy

    @property
    def calls(self):
        return len(self.energies)

    def found(self):
        return bool(self.energies) and np.nanmin(self.energies) <= GROUND_STATE + TOLERANCE


def ground_state_check(template, settings):
    """EMT energy of the described ground state (Au on vertices, edges, one facet centre)."""
    topology = Topology.from_atoms(template)
    codes = np.zeros(len(template), dtype=np.int8)
    low = np.flatnonzero(topology.coordination < 9)
    facets = np.flatnonzero(topology.coordination == 9)
    codes[low] = 1
    codes[facets[0]] = 1
    assert codes.sum() == 73, codes.sum()
    return Oracle(template, settings)(codes)[1]


# ----------------------------------------------------------------------------- baselines

def random_search(template, counts, settings, budget, rng):
    oracle = Oracle(template, settings)
    while oracle.calls < budget and not oracle.found():
        oracle(orderings.random_ordering(counts, rng))
    return oracle.energies


def plain_ga(template, counts, settings, budget, rng, population=20):
    oracle = Oracle(template, settings)
    pop = [orderings.random_ordering(counts, rng) for _ in range(population)]
    energy = [oracle(c)[1] for c in pop]
    seen = {c.tobytes() for c in pop}
    while oracle.calls < budget and not oracle.found():
        parents = []
        for _ in range(2):
            entrants = rng.choice(population, size=3, replace=False)
            parents.append(pop[min(entrants, key=lambda k: energy[k])])
        child = orderings.crossover(parents[0], parents[1], template.positions, rng)
        child = orderings.swap_mutation(child, rng, n_swaps=int(rng.integers(1, 3)))
        if child.tobytes() in seen:
            continue
        seen.add(child.tobytes())
        e = oracle(child)[1]
        worst = int(np.argmax(energy))
        if e < energy[worst]:
            pop[worst], energy[worst] = child, e
    return oracle.energies


# ----------------------------------------------------------------------------- strata

def strata_campaign(user_config, budget, seed, overrides=()):
    """One campaign through the stage functions; returns the energy trace and timings.

    ``overrides`` (``section.key=json``) are applied after validation, so that keys the
    schema does not list yet can be measured (the stage functions check their own sections).
    """
    config = copy.deepcopy(user_config)
    config["seed"] = seed
    config = config_module.validate(config)
    apply_overrides(config, overrides)
    templates, compositions = config_module.check_campaign(config)
    config["compositions"] = compositions
    settings_ref = reference.calculator_settings(config["reference"])
    dsettings = DescriptorSettings.from_config(config["elements"], config["descriptors"])
    oracle = Oracle(templates[0], settings_ref)
    initial = search.initial_pool(templates, config, campaign.round_rng(seed, 0, "generate"))
    labelled, structures = [], []
    timing = {"train": 0.0, "generate": 0.0, "select": 0.0, "describe": 0.0}

    def compute(batch, round_):
        for i, row in enumerate(batch.itertuples(index=False)):
            if oracle.calls >= budget:
                break
            result, energy = oracle(row.codes, structure_id=f"r{round_:02d}-{i:03d}")
            structures.append(result)
            labelled.append({"structure_id": f"r{round_:02d}-{i:03d}", "round": round_,
                             "template": int(row.template), "codes": row.codes,
                             "composition": row.composition, "origin": row.origin,
                             "energy": energy})
            if oracle.found():
                break

    compute(initial, 0)
    round_ = 0
    surrogate = None
    while oracle.calls < budget and not oracle.found():
        table = pd.DataFrame(labelled)
        t0 = time.perf_counter()
        features = descriptors.describe_many(structures, dsettings)
        t1 = time.perf_counter()
        groups = ranking.query_groups(table["composition"], table["template"])
        surrogate = ranking.fit_surrogate(features, table["energy"].to_numpy(), groups,
                                          config["model"], seed=seed + round_)
        t2 = time.perf_counter()
        round_ += 1
        pool = search.candidate_pool(templates, table, surrogate, config,
                                     campaign.round_rng(seed, round_, "generate"))
        t3 = time.perf_counter()
        done = selection.computed_keys(templates, table, config)
        batch = selection.select_batch(pool, done, config["batch_size"], config,
                                       campaign.round_rng(seed, round_, "select"))
        t4 = time.perf_counter()
        timing["describe"] += t1 - t0
        timing["train"] += t2 - t1
        timing["generate"] += t3 - t2
        timing["select"] += t4 - t3
        if len(batch) == 0:
            break
        compute(batch, round_)
    return oracle.energies, timing


# ----------------------------------------------------------------------------- summary

def calls_to_ground_state(energies):
    hits = np.flatnonzero(np.asarray(energies) <= GROUND_STATE + TOLERANCE)
    return int(hits[0]) + 1 if len(hits) else None


def regret_at(energies, k):
    e = np.asarray(energies[:k], dtype=float)
    if len(e) == 0:
        return np.nan
    best = np.nanmin(e)
    if len(energies) < k and best > GROUND_STATE + TOLERANCE:
        return np.nan  # stopped early without the ground state: not defined
    return max(best - GROUND_STATE, 0.0)


def summarise(name, traces, budget, seconds):
    calls = [calls_to_ground_state(t) for t in traces]
    reached = [c for c in calls if c is not None]
    row = {"method": name, "reached": f"{len(reached)}/{len(traces)}"}
    if len(reached) == len(traces):
        row["median"] = float(np.median(reached))
    else:  # unreached seeds count as > budget
        padded = sorted(c if c is not None else np.inf for c in calls)
        median = padded[len(padded) // 2] if len(padded) % 2 else np.median(padded)
        row["median"] = median if np.isfinite(median) else f">{budget}"
    row["min"] = min(reached) if reached else f">{budget}"
    row["max"] = max(reached) if len(reached) == len(traces) else f">{budget}"
    for k in CHECKPOINTS:
        values = [regret_at(t, k) for t in traces]
        # NaN: every seed stopped at its budget before k calls without the ground state
        row[f"regret@{k}"] = (float(np.nanmedian(values)) if not np.all(np.isnan(values))
                              else np.nan)
    row["s/seed"] = seconds / len(traces)
    row["calls"] = " ".join(str(c) if c is not None else "-" for c in calls)
    return row


def apply_overrides(config, assignments):
    """Apply ``section.key=json`` (or top-level ``key=json``) assignments to ``config``."""
    for assignment in assignments:
        path, _, value = assignment.partition("=")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a bare string
        *sections, key = path.split(".")
        target = config
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, budget 40")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--init", choices=("default", "random", "both"), default="both")
    parser.add_argument("--methods", default="random,ga,strata,strata-regressor")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override for the strata methods, value as JSON "
                             "(e.g. selection.exploration=0); repeatable")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = 2, 40
    template = config_module.templates(config_module.validate(copy.deepcopy(BASE_CONFIG)))[0]
    settings_ref = reference.calculator_settings(
        config_module.validate(copy.deepcopy(BASE_CONFIG))["reference"])
    e_gs = ground_state_check(template, settings_ref)
    print(f"ground-state check: EMT {e_gs:.4f} eV (expected {GROUND_STATE} eV)")
    counts = np.array([74, 73])
    methods = args.methods.split(",")
    inits = ("default", "random") if args.init == "both" else (args.init,)
    rows = []
    for method in methods:
        for init in inits if method.startswith("strata") else ("random",):
            traces, start = [], time.perf_counter()
            timing_total = {}
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                rng = np.random.default_rng(1000 + seed)
                if method == "random":
                    traces.append(random_search(template, counts, settings_ref, args.budget, rng))
                elif method == "ga":
                    traces.append(plain_ga(template, counts, settings_ref, args.budget, rng))
                else:
                    user = copy.deepcopy(BASE_CONFIG)
                    if method == "strata-regressor":
                        user["model"]["kind"] = "regressor"
                    if init == "random":  # `initial_motifs: [random]` measures the model alone
                        user["initial_motifs"] = ["random"]
                    trace, timing = strata_campaign(user, args.budget, seed, args.set)
                    traces.append(trace)
                    for k, v in timing.items():
                        timing_total[k] = timing_total.get(k, 0.0) + v
            name = method if not method.startswith("strata") else f"{method} (init {init})"
            rows.append(summarise(name, traces, args.budget, time.perf_counter() - start))
            if timing_total:
                print(f"  {name}: stage seconds per seed "
                      + ", ".join(f"{k} {v / args.seeds:.1f}" for k, v in timing_total.items()))
            print(pd.DataFrame([rows[-1]]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print()
    print("strata settings: config/config.yaml" + "".join(f" {o}" for o in args.set))
    print(f"PtAu147 (Pt74Au73, EMT): reference calls until E <= E_gs + {TOLERANCE} eV, "
          f"{args.seeds} seeds, budget {args.budget}; regret (eV) = median over seeds of best "
          "energy so far minus E_gs")
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    print("target: strata median <= 25 calls, every seed reaching the ground state")


if __name__ == "__main__":
    main()
