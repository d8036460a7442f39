"""A composition scan: reference calls until every composition's best ordering, and until the
exact mixing-energy hull, against independent per-composition campaigns, a GA and random
search, in one run and on one oracle (asap3's EMT, :class:`oracle.Oracle`).

The particle is a suite particle (``--system``, default ico55-AgAu) scanned over every
mixed composition (1 … N − 1 atoms of its second element, or ``--counts a b`` for a part).

* **Ground truths per composition** by the suite's procedure (:mod:`ground_truths`:
  simulated annealing of swap moves, then a steepest descent over single swaps), ``--runs``
  runs of ``--sweeps`` sweeps each, cached in ``benchmarks/hull_truths.json`` with their
  settings; an energy any method of the run finds lower replaces the truth (best known), and
  the table says how many did. The true hull is that of the truths and the pure particles.
* **strata (scan)**: one campaign over every composition (``composition: {scan: …}``,
  ``hull.enabled``) through :func:`strata.rounds.run`, with the preset's settings
  (``config/agau55-hull.yaml``): ``initial_size`` 2 at every ``initial_every``-th composition
  (``--initial-every`` overrides it), the batch shared among compositions by their chance to
  lower the hull.
* **strata (independent)**: one campaign per composition with the same settings and one
  structure per round, the campaigns advancing together round by round (no model, no hull
  shared).
* **GA**, **random**: :mod:`baselines` per composition, advancing together one call per
  composition at a time.

Per method: calls until the hull is exact (every composition on the true hull found within
``--tolerance`` meV/atom of its true mixing energy: :meth:`Score.exact`) and until every
composition's best ordering is found (within 1e-4 eV), in all and per composition; the two
pure particles count as calls for every method. ``>B`` when not within the budget.

Usage: ``python benchmarks/hull_scan.py [--system ico55-AgAu] [--counts 1 54] [--budget 20]
[--runs 2] [--sweeps 100] [--init structured|random] [--initial-every N] [--jobs 2]
[--seeds 0 1 2]``; ``--budget`` is per composition. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import baselines
import numpy as np
import pandas as pd
import yaml
from ground_truths import TOLERANCE, anneal, descend
from oracle import HERE, campaign_config, oracle_of, systems
from suite import spread

from strata import hull, rounds
from strata.campaign import Campaign
from strata.orderings import composition_key, random_ordering

PRESET = yaml.safe_load((HERE.parent / "config" / "agau55-hull.yaml").read_text())
BASE = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())
TRUTHS = HERE / "hull_truths.json"
PURE_CALLS = 2


def lattice_constant(system):
    """One fcc lattice constant for every composition and the pure particles (Å): the mean of
    the elements' (Vegard's law at the equiatomic composition), so that every method and the
    truths compute the same template."""
    from ase.data import atomic_numbers, reference_states

    return float(np.mean([reference_states[atomic_numbers[e]]["a"]
                          for e in system["elements"]]))


def scan_config(system, first, last, seed, init="structured", **keys):
    """config.yaml with the preset's scan settings on a suite particle (``init`` random: the
    initial set of random orderings only)."""
    config = json.loads(json.dumps(BASE))
    config.update({k: v for k, v in PRESET.items() if k not in ("elements", "cluster")})
    config.update(campaign_config(system, seed=seed, ground_truth_energy=None))
    config["cluster"] = {**BASE["cluster"], **system["cluster"],
                         "lattice_constant": lattice_constant(system)}
    config["composition"] = {"scan": {system["elements"][1]: [first, last]}, "step": 1}
    config["report"] = {"formula": {"enabled": False}, "chart": {"enabled": False}}
    if init == "random":
        config["initial_motifs"] = ["random"]
    config.update(keys)
    return config


def one_composition(system, counts):
    """The suite's campaign config of a particle at one composition."""
    amounts = dict(zip(system["elements"], map(int, counts), strict=True))
    cluster = {**system["cluster"], "lattice_constant": lattice_constant(system)}
    return Campaign.from_config(campaign_config(system, composition=[amounts],
                                                cluster=cluster, initial_size=2))


# ----------------------------------------------------------------------------- truths

def _truth_run(args):
    system, counts, seed, sweeps = args
    campaign = one_composition(system, counts)
    oracle, rng = oracle_of(campaign), np.random.default_rng(seed)
    codes, energy = anneal(oracle, random_ordering(np.asarray(counts), rng),
                           sweeps * len(campaign.templates[0]), 0.3, 0.002, rng)
    codes, energy = descend(oracle, codes, energy)
    return composition_key(counts, system["elements"]), float(energy)


def ground_truths(system, compositions, runs, sweeps, jobs):
    """Composition key → lowest energy of ``runs`` annealing runs (cached with settings)."""
    stored = json.loads(TRUTHS.read_text()) if TRUTHS.exists() else {}
    settings = {"runs": runs, "sweeps": sweeps, "lattice_constant": lattice_constant(system)}
    entry = stored.get(system["name"], {})
    energies = dict(entry.get("energies", {})) if entry.get("settings") == settings else {}
    keys = [composition_key(c, system["elements"]) for c in compositions]
    missing = [c for c, k in zip(compositions, keys, strict=True) if k not in energies]
    if missing:
        start = time.perf_counter()
        tasks = [(system, [int(n) for n in c], seed, sweeps) for c in missing
                 for seed in range(runs)]
        with ProcessPoolExecutor(jobs) as pool:
            for key, energy in pool.map(_truth_run, tasks):
                energies[key] = min(energy, energies.get(key, np.inf))
        stored[system["name"]] = {"settings": settings, "energies": energies}
        TRUTHS.write_text(json.dumps(stored, indent=1))
        print(f"ground truths of {len(missing)} compositions: "
              f"{time.perf_counter() - start:.0f} s")
    return {k: energies[k] for k in keys}


# ----------------------------------------------------------------------------- scoring

class Score:
    """Calls until every composition's best is found and until the hull is exact."""

    def __init__(self, truths, pure, campaign, tolerance):
        self.truths, self.pure, self.campaign = truths, pure, campaign
        self.tolerance = tolerance
        self.true = self.hull_of(truths)

    def hull_of(self, best):
        """The hull table of composition → lowest energy."""
        counts = self.campaign.composition_counts()
        elements = list(self.campaign.elements)
        table = pd.DataFrame([{"composition": k, "structure_id": k, "energy": e,
                               **dict(zip(elements, counts[k], strict=True))}
                              for k, e in best.items()])
        points = hull.mixing_table(table, self.pure, elements)
        return hull.hull_table(points, self.pure, elements, len(self.campaign.templates[0]))

    def gaps(self, best):
        """Composition on the true hull → how far ``best`` (composition → lowest energy so
        far) leaves it above its true mixing energy (eV/atom; inf when not computed). At one
        composition the pure particles' terms cancel: the gap is the energy's over N."""
        size = len(self.campaign.templates[0])
        on = self.true.loc[self.true["on_hull"], "composition"]
        return {c: (best.get(c, np.inf) - self.truths[c]) / size
                for c in on if c in self.truths}

    def exact(self, best):
        """Whether the hull of ``best`` is the true one within the tolerance: every
        composition on the true hull found within it of its true mixing energy. Every found
        energy lies at or above its truth, so the found hull then lies within the tolerance
        of the true one at every composition, and a composition the found hull has and the
        true one lacks lies within it too (compositions on a straight hull segment, e.g.
        non-interacting dopants, are on the hull or not by µeV differences: the hull is
        exact to the tolerance, not to them)."""
        return all(gap <= self.tolerance for gap in self.gaps(best).values())

    def missed(self, trace):
        """The true on-hull compositions a whole trace leaves above their truth by more than
        the tolerance, with the gap (meV/atom)."""
        gaps = self.gaps(best_of(trace))
        return ", ".join(f"{c} {1000 * g:.1f}" for c, g in gaps.items()
                         if g > self.tolerance) or "none"

    def calls(self, trace):
        """(calls to the exact hull, calls to every best) of a trace of (composition, energy)
        calls, the pure particles' calls added; None when not reached."""
        best, to_hull, to_all = {}, None, None
        for n, (key, energy) in enumerate(trace, start=PURE_CALLS + 1):
            best[key] = min(energy, best.get(key, np.inf))
            if to_all is None and len(best) == len(self.truths) and all(
                    best[k] <= self.truths[k] + TOLERANCE for k in self.truths):
                to_all = n
            if to_hull is None and self.exact(best):
                to_hull = n
            if to_hull and to_all:
                break
        return to_hull, to_all


def best_of(trace):
    """Composition → lowest energy of a trace of (composition, energy) calls."""
    best = {}
    for key, energy in trace:
        best[key] = min(energy, best.get(key, np.inf))
    return best


def interleaved(traces):
    """Per-composition traces merged as campaigns advancing together: step ``k`` of every
    composition before step ``k + 1`` of any (a step: a list of energies)."""
    merged, depth = [], max(len(t) for t in traces.values())
    for step in range(depth):
        for key, steps in traces.items():
            if step < len(steps):
                merged += [(key, e) for e in steps[step]]
    return merged


# ----------------------------------------------------------------------------- methods

def strata_scan(system, first, last, seed, budget, init, **keys):
    """The scan campaign's trace of (composition, energy), the pure particles left out
    (``keys``: config keys over the preset's)."""
    campaign = Campaign.from_config(scan_config(system, first, last, seed, init,
                                                rounds=10_000, **keys))
    oracle, trace = oracle_of(campaign), []

    def compute(atoms):
        result = oracle.compute(atoms)
        trace.append((atoms.info["composition"], result.get_potential_energy()))
        return result

    start, rounds_ = time.perf_counter(), 0
    for done in rounds.run(campaign, compute):
        rounds_ = done.round + 1
        if len(trace) >= budget + PURE_CALLS:
            break
    return trace[PURE_CALLS:budget + PURE_CALLS], time.perf_counter() - start, rounds_


def strata_independent(args):
    """One composition's own campaign: its energies, round by round."""
    system, counts, seed, budget, init = args
    config = scan_config(system, 1, 1, seed, init, batch_size=1, rounds=budget)
    config["composition"] = [dict(zip(system["elements"], map(int, counts), strict=True))]
    config["hull"] = {"enabled": False}
    campaign = Campaign.from_config(config)
    oracle, steps = oracle_of(campaign), []
    for done in rounds.run(campaign, oracle.compute):
        steps.append([r.get_potential_energy() for r in done.results])
        if oracle.calls >= budget:
            break
    return composition_key(counts, system["elements"]), steps


def baseline(args):
    """Random search or the GA at one composition: its energies, one call a step."""
    system, counts, seed, budget, _, method = args
    campaign = one_composition(system, counts)
    oracle, rng = oracle_of(campaign), np.random.default_rng(10_000 + seed)
    if method == "random":
        trace = baselines.random_search(oracle, np.asarray(counts), budget, rng)
    else:
        trace = baselines.plain_ga(oracle, np.asarray(counts), campaign.templates[0].positions,
                                   budget, rng)
    return composition_key(counts, system["elements"]), [[e] for e in trace]


def traces_of(system, first, last, compositions, seed, args):
    """Every method's trace of (composition, energy) calls with one seed, with a note."""
    n = len(compositions)
    traces = {}
    keys = {"initial_every": args.initial_every} if args.initial_every else {}
    trace, seconds, rounds_ = strata_scan(system, first, last, seed, args.budget * n,
                                          args.init, **keys)
    traces["strata (scan)"] = (trace, f"{rounds_} rounds, {seconds:.0f} s")
    tasks = [(system, [int(c) for c in counts], seed, args.budget, args.init)
             for counts in compositions]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        independent = dict(pool.map(strata_independent, tasks))
    traces["strata (independent)"] = (interleaved(independent),
                                      f"{time.perf_counter() - start:.0f} s")
    for method in ("GA", "random"):
        with ProcessPoolExecutor(args.jobs) as pool:
            per = dict(pool.map(baseline, [(*task, method) for task in tasks]))
        traces[method] = (interleaved(per), "")
    return traces


# ----------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="ico55-AgAu")
    parser.add_argument("--counts", nargs=2, type=int, help="first and last count scanned")
    parser.add_argument("--budget", type=int, default=20, help="calls per composition")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--tolerance", type=float, default=1.0, help="meV/atom")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--init", choices=["structured", "random"], default="structured",
                        help="the strata campaigns' initial set: the preset's motifs, or "
                             "random orderings (initial_motifs: [random])")
    parser.add_argument("--initial-every", type=int,
                        help="the scan's initial set at every n-th composition only "
                             "(default: the preset's)")
    parser.add_argument("--save", help="write every method's trace to this JSON file")
    parser.add_argument("--load", nargs="+",
                        help="score the traces of --save files (no campaigns), their seeds "
                             "together")
    args = parser.parse_args(argv)
    system, = systems([args.system])
    size = len(Campaign.from_config(campaign_config(system)).templates[0])
    first, last = args.counts or (1, size - 1)
    campaign = Campaign.from_config(scan_config(system, first, last, args.seeds[0]))
    compositions = list(campaign.compositions)
    n = len(compositions)
    truths = ground_truths(system, compositions, args.runs, args.sweeps, args.jobs)
    if args.load:
        runs = {int(seed): {m: (list(map(tuple, t)), note) for m, (t, note) in traces.items()}
                for path in args.load
                for seed, traces in json.loads(Path(path).read_text()).items()}
    else:
        runs = {seed: traces_of(system, first, last, compositions, seed, args)
                for seed in args.seeds}
    if args.save:
        Path(args.save).write_text(json.dumps(runs))
    improved = set()  # a method found lower than the annealing runs: the truth is that
    for traces in runs.values():
        for trace, _ in traces.values():
            for key, energy in trace:
                if energy < truths[key] - TOLERANCE:
                    truths[key] = energy
                    improved.add(key)
    oracle = oracle_of(campaign)
    pure = {e: oracle.energy(np.full(size, k)) for k, e in enumerate(campaign.elements)}
    score = Score(truths, pure, campaign, args.tolerance / 1000)
    on = score.true[score.true["on_hull"]]
    print(f"\n=== {system['name']}: {n} compositions "
          f"({composition_key(compositions[0], campaign.elements)} … "
          f"{composition_key(compositions[-1], campaign.elements)}); true hull: "
          f"{', '.join(on['composition'])}; annealing truths bettered by a method at "
          f"{len(improved)} compositions")
    budget = args.budget * n + PURE_CALLS
    rows = []
    for seed, traces in runs.items():
        for method, (trace, note) in traces.items():
            to_hull, to_all = score.calls(trace)
            rows.append({"seed": seed, "method": method,
                         "calls to exact hull (per composition)": _calls(to_hull, n, budget),
                         "calls to every best (per composition)": _calls(to_all, n, budget),
                         "note": note,
                         "true hull missed at the end (meV/atom)": score.missed(trace),
                         "to_hull": to_hull})
    table = pd.DataFrame(rows)
    print(f"calls include the {PURE_CALLS} pure particles; budget {args.budget} per "
          f"composition; hull exact: every on-hull composition found within "
          f"{args.tolerance} meV/atom of its true mixing energy")
    print(table.drop(columns="to_hull").to_string(index=False))
    print(f"\nover {len(runs)} seeds: calls to the exact hull, median [min, max]; "
          f"ratio: the independent campaigns' median over the method's")
    spreads = {method: spread([None if pd.isna(c) else c for c in rows_["to_hull"]])
               for method, rows_ in table.groupby("method", sort=False)}
    reference = spreads["strata (independent)"]["median"]
    print(pd.DataFrame([
        {"method": method, **{k: _calls(v, n, budget) for k, v in values.items()},
         "independent / method": f"{reference / values['median']:.2f}"
         if np.isfinite(values["median"]) and np.isfinite(reference) else "—"}
        for method, values in spreads.items()]).to_string(index=False))


def _calls(calls, n, budget):
    """Calls and calls per composition, ``>budget`` when not reached (None or infinite)."""
    if calls is None or not np.isfinite(calls):
        return f">{budget}"
    return f"{calls:g} ({calls / n:.1f})"


if __name__ == "__main__":
    main()
