"""Composition-preserving moves on orderings: the variation operators of the search.

Every move takes orderings (``int8`` arrays of element codes, :mod:`strata.orderings`) and
returns new ones with exactly the same count per element; random moves take the generator
``rng`` as an argument and draw nothing else, so a seeded generator gives the same children.

=======================  =========================================================
move                     what it does
=======================  =========================================================
:func:`swap_mutations`   1 … n swaps of two sites holding different elements
:func:`shell_mutations`  the same, each swap between two different site shells
:func:`all_single_swaps` every ordering one swap away (the neighbourhood)
:func:`screened_swaps`   the k swaps of the neighbourhood a cheap model ranks best
:func:`compound_swaps`   the 2 … n best disjoint single swaps applied together
:func:`crossover`        cut-and-splice child of two parents (one random plane)
:func:`crossovers`       crossover children of random pairs of parents
:func:`fresh_orderings`  structured motifs and random orderings (not a move of a
                         parent: new material at the composition)
=======================  =========================================================
"""

import numpy as np

from strata import orderings
from strata.generation import motif_makers


def swap_mutations(codes, n_swaps, rng):
    """Swap mutations of one ordering or of many at once (vectorised over rows).

    Each swap exchanges a random site with a random site holding a different element.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,) or (m, n_atoms)
    n_swaps : int or numpy.ndarray of int, shape (m,)
        Swaps per row.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        Shaped like ``codes``, same composition per row; a row with a single element is left
        as it is.
    """
    return _swaps(codes, n_swaps, rng, shells=None)


def shell_mutations(codes, n_swaps, shells, rng):
    """Swap mutations whose every swap exchanges two sites of *different* shells.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,) or (m, n_atoms)
    n_swaps : int or numpy.ndarray of int, shape (m,)
    shells : numpy.ndarray of int, shape (n_atoms,)
        Shell per site, e.g. :meth:`strata.featurizer.Featurizer.shells` (vertex, edge, facet,
        sub-surface layers).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        Shaped like ``codes``; a swap with no admissible partner site is skipped.
    """
    return _swaps(codes, n_swaps, rng, shells=np.asarray(shells))


def _swaps(codes, n_swaps, rng, shells):
    """Swap mutations, optionally across shells (one code path for both moves)."""
    codes = np.asarray(codes)
    out = np.atleast_2d(codes).copy()
    m, n_atoms = out.shape
    rows = np.arange(m)
    n_swaps = np.broadcast_to(np.asarray(n_swaps), (m,))
    for s in range(int(n_swaps.max(initial=0))):
        i = rng.integers(n_atoms, size=m)
        weight = rng.random((m, n_atoms))
        forbidden = out == out[rows, i][:, None]
        if shells is not None:
            forbidden |= shells[None, :] == shells[i][:, None]
        weight[forbidden] = -1.0
        j = weight.argmax(axis=1)
        ok = (n_swaps > s) & (weight[rows, j] >= 0)
        a, b = out[rows[ok], i[ok]], out[rows[ok], j[ok]]
        out[rows[ok], i[ok]], out[rows[ok], j[ok]] = b, a
    return out if codes.ndim == 2 else out[0]


def all_single_swaps(codes):
    """Every ordering one swap (of two different elements) away from ``codes`` (1-D).

    Returns
    -------
    numpy.ndarray, shape (m, n_atoms)
        In the order of the site pairs ``(i, j)``, ``i < j``.
    """
    return _swapped(codes, *_unlike_pairs(codes))


def screened_swaps(codes, k, gains):
    """The ``k`` single swaps of ``codes`` (1-D) that ``gains`` ranks best.

    A cheap model screens the neighbourhood, e.g. a linear prior's exact swap gains
    (:meth:`strata.expansion.SwapAscent.gains`), so that only ``k`` swaps are scored on an
    expensive one.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,)
    k : int
        Swaps kept.
    gains : callable
        ``gains(codes) -> (n_atoms, n_atoms)``: the gain of swapping sites ``i`` and ``j``;
        only called when there are more than ``k`` swaps.

    Returns
    -------
    numpy.ndarray, shape (min(k, m), n_atoms)
        In the order of :func:`all_single_swaps` (all of them when there are no more than
        ``k``).
    """
    i, j = _unlike_pairs(codes)
    if len(i) > k:
        keep = np.sort(np.argpartition(-gains(codes)[i, j], k - 1)[:k])
        i, j = i[keep], j[keep]
    return _swapped(codes, i, j)


def _unlike_pairs(codes):
    """Site pairs ``(i, j)``, ``i < j``, that hold different elements."""
    i, j = np.triu_indices(len(codes), 1)
    keep = codes[i] != codes[j]
    return i[keep], j[keep]


def _swapped(codes, i, j):
    """``codes`` with sites ``i[r]`` and ``j[r]`` swapped, one row per ``r``."""
    out = np.repeat(codes[None, :], len(i), axis=0)
    rows = np.arange(len(i))
    out[rows, i], out[rows, j] = codes[j], codes[i]
    return out


def compound_swaps(codes, neighbours, scores, n_max):
    """Orderings that combine the 2, 3, … ``n_max`` best single swaps on disjoint sites.

    On a nearly additive model, improving swaps on different sites add up, so one scan of
    the neighbourhood moves the search many swaps deep instead of one.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,)
        The parent.
    neighbours : numpy.ndarray, shape (m, n_atoms)
        Its single swaps (:func:`all_single_swaps`).
    scores : numpy.ndarray, shape (m,)
        Model scores of ``neighbours``.
    n_max : int
        Most swaps combined; below 2, nothing is returned.

    Returns
    -------
    numpy.ndarray, shape (k, n_atoms)
        Row ``r`` holds the ``r + 2`` best compatible swaps; ``k <= n_max - 1``.
    """
    if n_max < 2 or len(neighbours) == 0:
        return np.empty((0, len(codes)), dtype=codes.dtype)
    used = np.zeros(len(codes), dtype=bool)
    current = codes.copy()
    out = []
    for row in np.argsort(-scores, kind="stable"):
        sites = np.flatnonzero(neighbours[row] != codes)
        if used[sites].any():
            continue
        used[sites] = True
        current[sites] = neighbours[row][sites]
        out.append(current.copy())
        if len(out) == n_max:
            break
    return np.array(out[1:], dtype=codes.dtype).reshape(-1, len(codes))


def crossover(mother, father, positions, rng):
    """Cut-and-splice crossover that keeps the mother's composition.

    Sites on one side of a random plane through the centre come from ``mother``, the rest
    from ``father``; then randomly chosen sites of the elements in excess are given to the
    elements in deficit, which restores the mother's composition.

    Parameters
    ----------
    mother, father : numpy.ndarray, shape (n_atoms,)
    positions : numpy.ndarray, shape (n_atoms, 3)
        Site positions of the template.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (n_atoms,)
    """
    direction = rng.normal(size=3)
    side = (positions - positions.mean(axis=0)) @ direction > 0
    child = np.where(side, mother, father).astype(orderings.CODE_DTYPE)
    n_elements = int(max(mother.max(), father.max())) + 1
    excess = (orderings.element_counts(child, n_elements)
              - orderings.element_counts(mother, n_elements))
    surplus_sites = np.concatenate(
        [rng.choice(np.flatnonzero(child == e), size=n, replace=False)
         for e, n in enumerate(excess) if n > 0] or [np.empty(0, int)]
    )
    deficit = np.repeat(np.arange(n_elements), np.clip(-excess, 0, None))
    child[rng.permutation(surplus_sites)] = deficit.astype(orderings.CODE_DTYPE)
    return child


def crossovers(parents, positions, n_children, rng):
    """Crossover children of ``n_children`` random pairs of ``parents`` (same composition).

    Parameters
    ----------
    parents : numpy.ndarray, shape (k, n_atoms)
    positions : numpy.ndarray, shape (n_atoms, 3)
    n_children : int
        Pairs drawn; a pair that draws the same parent twice gives no child.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (<= n_children, n_atoms)
    """
    if len(parents) < 2 or n_children == 0:
        return np.empty((0, parents.shape[1]), dtype=parents.dtype)
    pairs = rng.integers(len(parents), size=(n_children, 2))
    children = [crossover(parents[a], parents[b], positions, rng) for a, b in pairs if a != b]
    return np.array(children, dtype=parents.dtype).reshape(-1, parents.shape[1])


def fresh_orderings(positions, coordination, counts, n, rng, structured=True):
    """``n`` fresh orderings: the structured motifs (one of each, if asked), then random ones.

    Parameters
    ----------
    positions : numpy.ndarray, shape (n_atoms, 3)
    coordination : numpy.ndarray, shape (n_atoms,)
        Coordination number per site (surface segregation).
    counts : numpy.ndarray
        Count per element.
    n : int
    rng : numpy.random.Generator
    structured : bool
        Start with the motifs of :func:`strata.generation.motif_makers`.

    Returns
    -------
    codes : numpy.ndarray, shape (n, n_atoms)
    origins : list[str]
        Motif name or ``"random"`` per row.
    """
    codes, origins = [], []
    if structured:
        for origin, make in motif_makers(positions, coordination, counts):
            if len(codes) < n:
                codes.append(make(rng))
                origins.append(origin)
    while len(codes) < n:
        codes.append(orderings.random_ordering(counts, rng))
        origins.append("random")
    return np.array(codes, dtype=orderings.CODE_DTYPE).reshape(n, len(positions)), origins
