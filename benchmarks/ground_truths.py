"""Ground truths of the benchmark suite: long simulated annealing on the oracle.

Procedure (reproducible: fixed seeds, written with the result), per particle of
``benchmarks/systems.yaml``:

1. ``--runs`` (≥ 4) independent simulated-annealing runs of swap moves (two sites holding
   different elements exchange them; the composition is fixed) on asap3's EMT
   (:class:`oracle.Oracle`), each from its own random ordering, temperature falling
   geometrically from ``--hot`` to ``--cold`` eV over ``--sweeps`` × N steps (N atoms);
2. each run's best ordering is then relaxed by steepest descent over every single swap to a
   swap-local minimum;
3. the lowest of the runs (or of an earlier entry, when lower) is the reference. It is called
   the **ground state** when every run ended within ``TOLERANCE`` of it, else the **best
   known**, with the spread of the runs above it.

Usage: ``python benchmarks/ground_truths.py [--systems a b] [--runs 4] [--sweeps 400]
[--jobs 2]``; writes ``benchmarks/ground_truths.json`` (merging with what is there). Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from oracle import HERE, Oracle, systems, template_of

from strata.moves import all_single_swaps
from strata.orderings import random_ordering

TRUTHS = HERE / "ground_truths.json"
TOLERANCE = 1e-4  # eV: runs that agree to this found the same ordering (or a degenerate one)


def anneal(oracle, codes, steps, hot, cold, rng):
    """Simulated annealing of swap moves; the lowest ordering met and its energy."""
    current = np.array(codes)
    energy = oracle.energy(current)
    best, best_energy = current.copy(), energy
    for temperature in np.geomspace(hot, cold, steps):
        i = rng.integers(len(current))
        others = np.flatnonzero(current != current[i])
        j = others[rng.integers(len(others))]
        current[i], current[j] = current[j], current[i]
        trial = oracle.energy(current)
        if trial <= energy or rng.random() < np.exp((energy - trial) / temperature):
            energy = trial
            if energy < best_energy:
                best, best_energy = current.copy(), energy
        else:
            current[i], current[j] = current[j], current[i]
    return best, best_energy


def descend(oracle, codes, energy):
    """Steepest descent over every single swap, to a swap-local minimum."""
    while True:
        neighbours = all_single_swaps(codes)
        energies = np.array([oracle.energy(c) for c in neighbours])
        k = int(np.argmin(energies))
        if energies[k] >= energy - 1e-9:
            return codes, energy
        codes, energy = neighbours[k], float(energies[k])


def one_run(args):
    """One annealing run of one particle (a worker task)."""
    system, seed, sweeps, hot, cold = args
    template, elements, counts = template_of(system)
    oracle = Oracle(template, elements)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    codes, energy = anneal(oracle, random_ordering(counts, rng), sweeps * len(template), hot,
                           cold, rng)
    codes, energy = descend(oracle, codes, energy)
    return {"system": system["name"], "seed": seed, "energy": energy,
            "codes": " ".join(map(str, codes)), "seconds": time.perf_counter() - start}


def summarise(runs, settings, before=None):
    """The ground truth of one particle from its runs (and a truth found ``before``, which
    stays the reference when it is lower than every new run)."""
    energies = np.array([r["energy"] for r in runs])
    best = runs[int(np.argmin(energies))]
    reference = {"energy": best["energy"], "codes": best["codes"]}
    if before is not None and before["energy"] < best["energy"] - TOLERANCE:
        reference = {"energy": before["energy"], "codes": before["codes"]}
    spread = float(energies.max() - reference["energy"])
    return {
        **reference, "status": "ground state" if spread <= TOLERANCE else "best known",
        "spread": spread, "runs": sorted(float(e) for e in energies),
        "seeds": [r["seed"] for r in runs], **settings,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="*")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--sweeps", type=int, default=400, help="annealing steps per atom")
    parser.add_argument("--hot", type=float, default=0.3, help="start temperature (eV)")
    parser.add_argument("--cold", type=float, default=0.002, help="final temperature (eV)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args(argv)
    chosen = systems(args.systems)
    tasks = [(s, args.first_seed + k, args.sweeps, args.hot, args.cold)
             for s in chosen for k in range(args.runs)]
    with ProcessPoolExecutor(args.jobs) as executor:
        results = list(executor.map(one_run, tasks))
    truths = json.loads(TRUTHS.read_text()) if TRUTHS.exists() else {}
    settings = {"sweeps": args.sweeps, "hot": args.hot, "cold": args.cold,
                "oracle": "asap3 EMT"}
    print(f"{'system':<18}{'status':<14}{'energy (eV)':>14}{'spread (eV)':>13}{'s/run':>8}")
    for system in chosen:
        runs = [r for r in results if r["system"] == system["name"]]
        truths[system["name"]] = summarise(runs, settings, truths.get(system["name"]))
        t = truths[system["name"]]
        seconds = np.mean([r["seconds"] for r in runs])
        print(f"{system['name']:<18}{t['status']:<14}{t['energy']:>14.4f}{t['spread']:>13.4f}"
              f"{seconds:>8.0f}")
    TRUTHS.write_text(json.dumps(truths, indent=1, sort_keys=True) + "\n")
    print(f"written: {TRUTHS}")


if __name__ == "__main__":
    main()
