"""Chemical orderings at a fixed stoichiometry.

An ordering is an ``int8`` array ``codes`` with one entry per site of a template:
``codes[i]`` is the index, in the campaign's element list, of the element on site ``i``.
Every function here keeps the composition exactly. The moves that make new orderings from
existing ones (swap mutations, crossovers, …) are in :mod:`strata.moves`.
"""

import numpy as np

CODE_DTYPE = np.int8


def composition_key(counts, elements):
    """Key of a composition, e.g. ``"Au73Pt74"`` (elements alphabetical, zero counts left out).

    Parameters
    ----------
    counts : array_like of int
        Count per element, aligned with ``elements``.
    elements : list[str]
    """
    pairs = sorted((s, int(n)) for s, n in zip(elements, counts, strict=True) if n > 0)
    return "".join(f"{s}{n}" for s, n in pairs)


def element_counts(codes, n_elements):
    """Count per element of one ordering or of each row of a 2-D array of orderings."""
    codes = np.asarray(codes)
    one_hot = codes[..., None] == np.arange(n_elements)
    return one_hot.sum(axis=-2)


def first_occurrences(codes):
    """Indices of the first occurrence of each distinct row of ``codes`` (2-D), in order."""
    codes = np.ascontiguousarray(codes)
    raw = codes.view(f"V{codes.shape[1] * codes.itemsize}").ravel()
    return np.sort(np.unique(raw, return_index=True)[1])


def codes_from_symbols(symbols, elements):
    """Ordering of a list of chemical symbols.

    Raises
    ------
    ValueError
        When a symbol is not one of ``elements``.
    """
    index = {s: i for i, s in enumerate(elements)}
    unknown = sorted(set(symbols) - set(index))
    if unknown:
        raise ValueError(f"elements {unknown} are not in the campaign's elements {elements}")
    return np.array([index[s] for s in symbols], dtype=CODE_DTYPE)


def symbols_from_codes(codes, elements):
    """Chemical symbols of an ordering."""
    return [elements[c] for c in codes]


def random_ordering(counts, rng):
    """A uniformly random ordering with the given count per element."""
    codes = np.repeat(np.arange(len(counts), dtype=CODE_DTYPE), counts)
    return rng.permutation(codes)


def fill_by_priority(priority, counts, element_sequence, rng):
    """Fill sites in increasing ``priority`` with elements in ``element_sequence``.

    The first element of the sequence takes the ``counts[e]`` sites of lowest priority, the
    next the following ones, and so on. Ties in priority are broken at random, which gives
    different orderings of the same motif.

    Parameters
    ----------
    priority : numpy.ndarray
        One value per site.
    counts : array_like of int
        Count per element.
    element_sequence : sequence of int
        Element indices in filling order (every element with a non-zero count).
    rng : numpy.random.Generator
    """
    tie_break = rng.random(len(priority))
    order = np.lexsort((tie_break, np.round(priority, 6)))
    filled = np.repeat(np.asarray(element_sequence, dtype=CODE_DTYPE),
                       np.asarray(counts)[list(element_sequence)])
    codes = np.empty(len(priority), dtype=CODE_DTYPE)
    codes[order] = filled
    return codes


def _sequence(counts, first):
    """Element indices with a non-zero count, ``first`` in front."""
    rest = [e for e in np.flatnonzero(counts) if e not in first]
    return [e for e in first if counts[e] > 0] + rest


def core_shell(positions, counts, core_elements, rng):
    """Core–shell ordering: ``core_elements`` fill the sites closest to the centre first."""
    radius = np.linalg.norm(positions - positions.mean(axis=0), axis=1)
    return fill_by_priority(radius, counts, _sequence(counts, core_elements), rng)


def janus(positions, counts, rng):
    """Janus ordering: elements fill the particle side by side along a random direction."""
    direction = rng.normal(size=3)
    projection = (positions - positions.mean(axis=0)) @ (direction / np.linalg.norm(direction))
    return fill_by_priority(projection, counts, rng.permutation(np.flatnonzero(counts)), rng)


def surface_segregated(coordination, counts, element, rng):
    """``element`` on the least-coordinated sites, the other elements at random elsewhere."""
    codes = fill_by_priority(coordination, counts, _sequence(counts, [element]), rng)
    rest = codes != element
    codes[rest] = rng.permutation(codes[rest])
    return codes


def layered(positions, counts, rng):
    """Onion ordering: radial shells, from the outside in, alternate between elements.

    Each shell (atoms at one distance from the centre, to 0.1 Å) takes the next element
    that still has atoms left; a shell larger than what is left spills into the next element.
    """
    radius = np.linalg.norm(positions - positions.mean(axis=0), axis=1)
    shell = np.unique(np.round(-radius, 1), return_inverse=True)[1]
    sequence = list(rng.permutation(np.flatnonzero(counts)))
    left = np.array(counts, dtype=int)
    codes = np.empty(len(positions), dtype=CODE_DTYPE)
    turn = 0
    for s in range(shell.max() + 1):
        for site in rng.permutation(np.flatnonzero(shell == s)):
            while left[sequence[turn % len(sequence)]] == 0:
                turn += 1
            codes[site] = sequence[turn % len(sequence)]
            left[codes[site]] -= 1
        turn += 1
    return codes
