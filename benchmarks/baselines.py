"""Baselines a surrogate campaign must beat, on the same oracle and budget.

* :func:`random_search`: distinct random orderings at the composition;
* :func:`plain_ga`: a plain steady-state genetic algorithm (population 20, tournament of 3,
  cut-and-splice crossover + 1–2 swap mutations, the child replaces the worst when better and
  new), the moves of :mod:`strata.moves`.

Both take ``energy(codes) -> float`` (one reference call each) and stop at the ``budget`` or
when an energy reaches ``target``; they return the energy trace, one entry per call.
"""

import numpy as np

from strata import moves
from strata.orderings import random_ordering


def _reached(trace, target):
    return target is not None and bool(trace) and min(trace) <= target


def random_search(energy, counts, budget, rng, target=None):
    """Distinct random orderings until ``budget`` calls or ``target``."""
    trace, seen = [], set()
    while len(trace) < budget and not _reached(trace, target):
        codes = random_ordering(counts, rng)
        if codes.tobytes() in seen:
            continue
        seen.add(codes.tobytes())
        trace.append(energy(codes))
    return trace


def plain_ga(energy, counts, positions, budget, rng, target=None, population=20):
    """A steady-state GA until ``budget`` calls or ``target``."""
    pop = [random_ordering(counts, rng) for _ in range(population)]
    fitness = [energy(c) for c in pop]
    trace, seen = list(fitness), {c.tobytes() for c in pop}
    stale = 0
    while len(trace) < budget and not _reached(trace, target) and stale < 100 * budget:
        parents = []
        for _ in range(2):
            entrants = rng.choice(population, size=3, replace=False)
            parents.append(pop[min(entrants, key=lambda k: fitness[k])])
        child = moves.crossover(parents[0], parents[1], positions, rng)
        child = moves.swap_mutations(child, int(rng.integers(1, 3)), rng)
        if child.tobytes() in seen:
            stale += 1
            continue
        seen.add(child.tobytes())
        e = energy(child)
        trace.append(e)
        worst = int(np.argmax(fitness))
        if e < fitness[worst]:
            pop[worst], fitness[worst] = child, e
    return trace
