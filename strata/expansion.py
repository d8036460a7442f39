"""The linear prior as a cluster expansion, and its optima: exact (MILP) or by swap ascent.

On a fixed template, the occupation-linear descriptor columns (``model.prior_features:
linear``: element fractions per region and surface site class, bond counts per element pair
and region) are sums of point terms (one per site and element) and pair terms (one per bond
and element pair) of the occupations. The ridge prior on them (:mod:`strata.prior`) is then a
site- and bond-resolved pair cluster expansion, like the TOP method's (Kozlov et al., Chem.
Sci. 2015). With ``descriptors.neighbour_counts`` the columns ``[site holds A] x (B
neighbours)^2`` add triplet terms (a site and two of its neighbours).
:meth:`ClusterExpansion.of_many` reads the coefficients off the score by finite differences
and checks that they reproduce it.

:func:`maximise` finds the ordering of highest score of a pair expansion at fixed
composition *exactly*, as a mixed-integer linear programme (Larsen, Jacobsen and Schiøtz, PRL
2018) solved by HiGHS (:func:`scipy.optimize.milp`). :class:`SwapAscent` climbs any
expansion (triplets included) by its best single swap, the gains of every swap computed
exactly at once, many orderings and expansions together: the local optima of a bootstrap
ensemble's priors from many starts, cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from strata.orderings import CODE_DTYPE

CHECK_ORDERINGS = 32  # random orderings on which a compiled expansion must reproduce the score
RELATIVE_TOLERANCE = 1e-6  # of the score's spread over them
ASCENT_TOLERANCE = 1e-9  # smallest score gain a swap of the ascent must make


class NotAnExpansion(ValueError):
    """The score is not a pair expansion over the bonds (e.g. ``prior_features: all``)."""


def clusters(bonds, n_sites, triplets=False):
    """The clusters an expansion is read on: pairs and, with ``triplets``, triplets.

    Without triplets the pairs are the bonds. With them, the triplets are every site with two
    of its neighbours (what ``[site holds A] x (B neighbours)^2`` couples), and the pairs every
    two sites of such a triplet (bonded or sharing a neighbour).

    Returns
    -------
    pairs : numpy.ndarray of int, shape (n_pairs, 2)
    triplets : numpy.ndarray of int, shape (n_triplets, 3)
        Sites sorted within each.
    """
    bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
    if not triplets:
        return bonds, np.empty((0, 3), dtype=int)
    neighbours = [set() for _ in range(n_sites)]
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    found = {tuple(sorted((i, j, k))) for i in range(n_sites)
             for j, k in combinations(sorted(neighbours[i]), 2)}
    triplet_sites = np.array(sorted(found), dtype=int).reshape(-1, 3)
    pairs = {tuple(sorted(b)) for b in bonds.tolist()}
    for a, b in ((0, 1), (0, 2), (1, 2)):
        pairs.update(map(tuple, triplet_sites[:, [a, b]].tolist()))
    return np.array(sorted(pairs), dtype=int).reshape(-1, 2), triplet_sites


@dataclass(frozen=True)
class ClusterExpansion:
    """``score(codes) = constant + sum_i point[i, c_i] + sum_p pair[p, c_j, c_k]
    + sum_t triplet[t, c_i, c_j, c_k]`` over sites ``i``, ``pairs`` ``(j, k)`` and
    ``triplets`` ``(i, j, k)``.

    Attributes
    ----------
    constant : float
    point : numpy.ndarray, shape (n_sites, n_elements)
        Column 0 is zero (element 0 is the reference occupation).
    pair : numpy.ndarray, shape (n_pairs, n_elements, n_elements)
        Rows and columns 0 are zero.
    pairs : numpy.ndarray of int, shape (n_pairs, 2)
    triplet : numpy.ndarray, shape (n_triplets, n_elements, n_elements, n_elements)
        Zero wherever an index is 0; empty for a pair expansion.
    triplets : numpy.ndarray of int, shape (n_triplets, 3)
    """

    constant: float
    point: np.ndarray
    pair: np.ndarray
    pairs: np.ndarray
    triplet: np.ndarray | None = None
    triplets: np.ndarray | None = None

    @property
    def n_triplets(self):
        return 0 if self.triplets is None else len(self.triplets)

    def __call__(self, codes):
        """Score of orderings ``codes`` (2-D)."""
        codes = np.asarray(codes, dtype=int)
        sites = np.arange(codes.shape[1])
        score = self.constant + self.point[sites, codes].sum(axis=1)
        j, k = self.pairs[:, 0], self.pairs[:, 1]
        score = score + self.pair[np.arange(len(j)), codes[:, j], codes[:, k]].sum(axis=1)
        if self.n_triplets:
            t = self.triplets
            score = score + self.triplet[np.arange(len(t)), codes[:, t[:, 0]], codes[:, t[:, 1]],
                                         codes[:, t[:, 2]]].sum(axis=1)
        return score

    @classmethod
    def of(cls, score, bonds, n_sites, n_elements, rng, triplets=False):
        """Read the expansion off ``score(codes) -> scores`` by finite differences
        (:meth:`of_many` of one score).

        Raises
        ------
        NotAnExpansion
            When the expansion does not reproduce the score.
        """
        return cls.of_many(lambda codes: np.asarray(score(codes))[None, :], bonds, n_sites,
                           n_elements, rng, triplets)[0]

    @classmethod
    def of_many(cls, scores, bonds, n_sites, n_elements, rng, triplets=False):
        """Read the expansions of several scores at once off ``scores(codes) -> (n_scores,
        n_rows)`` by finite differences, each ordering scored once for all of them.

        Element 0 on every site is the reference; a point term is the change of one site to
        element ``a``, a pair term the excess of changing both sites of a pair, a triplet
        term the excess of changing all three over its points and pairs (the clusters of
        :func:`clusters`). Each result is checked on :data:`CHECK_ORDERINGS` random orderings.

        Raises
        ------
        NotAnExpansion
            When an expansion does not reproduce its score on them.
        """
        pairs, triplet_sites = clusters(bonds, n_sites, triplets)
        elements = np.arange(1, n_elements)
        singles, (site, a1) = _changed(n_sites, np.arange(n_sites)[:, None], elements, 1)
        doubles, (pair, a2, b2) = _changed(n_sites, pairs, elements, 2)
        triples, (trip, a3, b3, c3) = _changed(n_sites, triplet_sites, elements, 3)
        checks = rng.integers(n_elements, size=(CHECK_ORDERINGS, n_sites)).astype(CODE_DTYPE)
        base = np.zeros((1, n_sites), dtype=CODE_DTYPE)
        values = np.asarray(scores(np.concatenate([base, singles, doubles, triples, checks])),
                            dtype=float)
        index = np.full((n_sites, n_sites), -1)
        index[pairs[:, 0], pairs[:, 1]] = index[pairs[:, 1], pairs[:, 0]] = np.arange(len(pairs))
        ends = np.cumsum([1, len(singles), len(doubles), len(triples)])
        expansions = []
        for row in values:
            constant = row[0]
            point = np.zeros((n_sites, n_elements))
            point[site, a1] = row[ends[0]:ends[1]] - constant
            pair_term = np.zeros((len(pairs), n_elements, n_elements))
            j, k = pairs[pair, 0], pairs[pair, 1]
            pair_term[pair, a2, b2] = (row[ends[1]:ends[2]] - constant - point[j, a2]
                                       - point[k, b2])
            triplet_term = np.zeros((len(triplet_sites),) + (n_elements,) * 3)
            i, j, k = triplet_sites[trip].T
            triplet_term[trip, a3, b3, c3] = (
                row[ends[2]:ends[3]] - constant - point[i, a3] - point[j, b3] - point[k, c3]
                - pair_term[index[i, j], a3, b3] - pair_term[index[i, k], a3, c3]
                - pair_term[index[j, k], b3, c3])
            expansion = cls(constant=float(constant), point=point, pair=pair_term, pairs=pairs,
                            triplet=triplet_term, triplets=triplet_sites)
            expansion._check(checks, row[-CHECK_ORDERINGS:])
            expansions.append(expansion)
        return expansions

    def _check(self, codes, expected):
        error = np.abs(self(codes) - expected).max()
        if not error <= RELATIVE_TOLERANCE * max(np.ptp(expected), 1e-12):
            raise NotAnExpansion(f"the score is not a cluster expansion over the "
                                 f"{'triplets' if self.n_triplets else 'bonds'} "
                                 f"(max deviation {error:.3g})")


def _changed(n_sites, sites, elements, order):
    """Orderings of element 0 everywhere but on the ``sites`` of one cluster (a row of
    ``sites``, shape (n_clusters, order)), which hold every combination of the non-reference
    ``elements``; with the cluster index and the element of each site per ordering."""
    combos = np.array(list(product(elements, repeat=order)), dtype=int).reshape(-1, order)
    cluster, combo = np.divmod(np.arange(len(sites) * len(combos)), len(combos))
    codes = np.zeros((len(cluster), n_sites), dtype=CODE_DTYPE)
    for slot in range(order):
        codes[np.arange(len(cluster)), sites[cluster, slot]] = combos[combo, slot]
    return codes, (cluster, *combos[combo].T)


def maximise(expansion, counts, time_limit=10.0):
    """The ordering of highest score with ``counts[a]`` atoms of element ``a``, by MILP.

    Variables: occupations ``x[i, a]`` (binary, one element per site, the counts fixed) and,
    for every non-zero pair term, ``y[b, a, c]`` standing for ``x[i, a] x[j, c]``: bounded
    above by both factors where the term is positive, below by their sum minus 1 where it is
    negative (the linearisation is exact at the optimum).

    Parameters
    ----------
    expansion : ClusterExpansion
        Without triplets (a pair expansion).
    counts : array_like of int, shape (n_elements,)
    time_limit : float
        Seconds HiGHS may spend; past it the best ordering found so far is returned.

    Returns
    -------
    codes : numpy.ndarray of int8, shape (n_sites,) or None
        None when HiGHS found no ordering in the time.
    optimal : bool
        Whether HiGHS proved it optimal.
    """
    if expansion.n_triplets and np.any(expansion.triplet):
        raise NotAnExpansion("the exact optimum takes a pair expansion (no triplet terms)")
    counts = np.asarray(counts, dtype=int)
    n_sites, n_elements = expansion.point.shape
    n_x = n_sites * n_elements
    bond, a, c = np.nonzero(np.abs(expansion.pair) > 0)
    weight = expansion.pair[bond, a, c]
    n_y = len(bond)
    x_i = expansion.pairs[bond, 0] * n_elements + a  # column of x[i, a]
    x_j = expansion.pairs[bond, 1] * n_elements + c
    y = n_x + np.arange(n_y)
    rows, cols, vals, lower, upper = [], [], [], [], []

    def constrain(columns, values, lo, hi):
        row = len(lower)
        rows.extend([row] * len(columns))
        cols.extend(columns)
        vals.extend(values)
        lower.append(lo)
        upper.append(hi)

    for i in range(n_sites):
        constrain(range(i * n_elements, (i + 1) * n_elements), [1.0] * n_elements, 1, 1)
    for e in range(n_elements):
        constrain(range(e, n_x, n_elements), [1.0] * n_sites, counts[e], counts[e])
    for k in range(n_y):
        if weight[k] > 0:  # maximised: y may not exceed either factor
            constrain([y[k], x_i[k]], [1.0, -1.0], -np.inf, 0)
            constrain([y[k], x_j[k]], [1.0, -1.0], -np.inf, 0)
        else:  # y at least x_i + x_j - 1
            constrain([y[k], x_i[k], x_j[k]], [1.0, -1.0, -1.0], -1, np.inf)
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lower), n_x + n_y)).tocsr()
    objective = -np.concatenate([expansion.point.ravel(), weight])
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    result = milp(objective, constraints=LinearConstraint(matrix, lower, upper),
                  integrality=integrality, bounds=Bounds(0, 1),
                  options={"time_limit": float(time_limit), "disp": False})
    if result.x is None:
        return None, False
    codes = result.x[:n_x].reshape(n_sites, n_elements).argmax(axis=1).astype(CODE_DTYPE)
    if not np.array_equal(np.bincount(codes, minlength=n_elements), counts):
        return None, False
    return codes, bool(result.status == 0)


class SwapAscent:
    """Steepest single-swap ascent of cluster expansions, many orderings at once.

    The gain of every swap of two unlike sites ``(u, v)`` is exact: the change of putting
    ``c_v`` on ``u`` alone plus that of ``c_u`` on ``v`` alone (each summed over the clusters
    holding the site), plus, over the clusters holding both, the interaction of the two
    changes. Every cluster is held as a triplet: a point or a pair is padded with a dummy
    site (index ``n_sites``) that always holds element 0; a last, all-dummy cluster of zero
    terms pads the lists of clusters per site. A climb keeps these sums and, after each swap,
    updates those of the clusters holding the two swapped sites only.

    Parameters
    ----------
    expansions : list of ClusterExpansion
        On the same clusters (one :meth:`ClusterExpansion.of_many` read).
    """

    SLOT_PAIRS = ((0, 1), (0, 2), (1, 2))
    OTHER_SLOTS = ((1, 2), (0, 2), (0, 1))
    ROWS = 32  # orderings climbed together (bounds the memory of the per-cluster sums)

    def __init__(self, expansions):
        first = expansions[0]
        n_sites, n_elements = first.point.shape
        self.n_sites, self.n_elements = n_sites, n_elements
        dummy = n_sites
        points = np.c_[np.arange(n_sites), np.full((n_sites, 2), dummy)]
        pairs = np.c_[first.pairs, np.full(len(first.pairs), dummy)]
        triplets = first.triplets if first.n_triplets else np.empty((0, 3), dtype=int)
        self.sites = np.concatenate([points, pairs, triplets, [[dummy] * 3]]).astype(int)
        shape = (n_elements,) * 3
        self.terms = np.stack([np.concatenate([
            np.pad(e.point[:, :, None, None], ((0, 0), (0, 0), (0, n_elements - 1),
                                               (0, n_elements - 1))),
            np.pad(e.pair[:, :, :, None], ((0, 0), (0, 0), (0, 0), (0, n_elements - 1))),
            e.triplet if e.n_triplets else np.empty((0, *shape)),
            np.zeros((1, *shape))]) for e in expansions])
        # per slot s: rows (expansion, cluster, other two elements in order) of the terms
        # as a function of the element in slot s
        self._by_slot = [np.ascontiguousarray(self.terms.transpose(order)).reshape(-1, n_elements)
                         for order in ((0, 1, 3, 4, 2), (0, 1, 2, 4, 3), (0, 1, 2, 3, 4))]
        self._flat_terms = self.terms.ravel()
        held = [np.flatnonzero((self.sites == site).any(axis=1)) for site in range(n_sites)]
        self._held = np.full((n_sites, max(map(len, held))), len(self.sites) - 1)
        for site, clusters_of_site in enumerate(held):
            self._held[site, :len(clusters_of_site)] = clusters_of_site
        real = self.sites[:, [t for _, t in self.SLOT_PAIRS]] < n_sites
        first_slot = self.sites[:, [s for s, _ in self.SLOT_PAIRS]]
        second_slot = self.sites[:, [t for _, t in self.SLOT_PAIRS]]
        # (cluster, slot pair) -> entry u * n + v of the interaction, n * n when not real
        self._pair_entry = np.where(real, first_slot * n_sites + second_slot, n_sites * n_sites)

    def gains(self, codes, which):
        """Score change of every swap, shape (m, n_sites, n_sites); ``-inf`` between like
        sites. ``which[m]``: the expansion of row ``m`` of ``codes``."""
        return _Climb(self, codes, which).gains()

    def climb(self, codes, which, max_steps=None):
        """Each row of ``codes`` taken by its best swap until none gains (a single-swap
        optimum of expansion ``which[m]``); returns the climbed orderings."""
        codes = np.array(codes, dtype=CODE_DTYPE)
        which = np.asarray(which, dtype=int)
        for start in range(0, len(codes), self.ROWS):
            rows = slice(start, start + self.ROWS)
            codes[rows] = _Climb(self, codes[rows], which[rows]).run(
                max_steps or 10 * self.n_sites)
        return codes

    def _values(self, codes, which, clusters):
        """``values[m, k, s, e]``: term of cluster ``clusters[m, k]`` with element ``e`` in
        its slot ``s``, the other two as in ``codes`` (with the dummy column)."""
        occupied = self._occupied(codes, clusters)
        return np.stack([self._by_slot[s][self._row(which, clusters, occupied[:, :, o1],
                                                    occupied[:, :, o2])]
                         for s, (o1, o2) in enumerate(self.OTHER_SLOTS)], axis=2)

    def _interactions(self, codes, which, clusters):
        """``excess[m, k, p]``: the interaction of swapping the two sites of slot pair ``p``
        of cluster ``clusters[m, k]`` (zero where one is the dummy)."""
        occupied = self._occupied(codes, clusters)
        out = []
        for s, t in self.SLOT_PAIRS:
            a, b = occupied[:, :, s], occupied[:, :, t]

            def term(x, y, s=s, t=t):
                slots = [occupied[:, :, 0], occupied[:, :, 1], occupied[:, :, 2]]
                slots[s], slots[t] = x, y
                return self._flat_terms[self._row(which, clusters, slots[0], slots[1])
                                        * self.n_elements + slots[2]]

            out.append(term(b, a) - term(b, b) - term(a, a) + term(a, b))
        return np.stack(out, axis=2)

    def _occupied(self, codes, clusters):
        """Element on each site of cluster ``clusters[m, k]`` in row ``m`` of ``codes``
        (with the dummy column), shape (m, k, 3)."""
        sites = self.sites[clusters]
        return np.take_along_axis(codes, sites.reshape(len(codes), -1), axis=1).reshape(
            sites.shape)

    def _row(self, which, clusters, first, second):
        """Flat index of (expansion ``which[m]``, cluster, element ``first``, element
        ``second``) in arrays of shape (n_expansions, n_clusters, E, E)."""
        row = which[:, None] * len(self.sites) + clusters
        return (row * self.n_elements + first) * self.n_elements + second


class _Climb:
    """The sums of one :meth:`SwapAscent.climb` over its orderings, updated swap by swap.

    ``field[m, w, e]``: sum over the clusters holding site ``w`` of their term with ``e`` on
    ``w``; ``interaction[m, u * n + v]``: sum over the clusters holding ``u`` and ``v`` of
    the interaction of swapping them.
    """

    def __init__(self, ascent, codes, which):
        self.ascent, self.which = ascent, np.asarray(which, dtype=int)
        self.codes = np.c_[np.asarray(codes, dtype=int), np.zeros(len(codes), dtype=int)]
        every = np.broadcast_to(np.arange(len(ascent.sites)), (len(codes), len(ascent.sites)))
        self.values = ascent._values(self.codes, self.which, every)
        self.excess = ascent._interactions(self.codes, self.which, every)
        self.field = self._field_sums(every, self.values)
        self.interaction = self._interaction_sums(every, self.excess)

    def _field_sums(self, clusters, values):
        m, (n, n_elements) = len(self.codes), (self.ascent.n_sites, self.ascent.n_elements)
        site = self.ascent.sites[clusters]  # (m, k, 3)
        flat = ((np.arange(m)[:, None, None] * (n + 1) + site)[..., None] * n_elements
                + np.arange(n_elements))
        return np.bincount(flat.ravel(), weights=values.ravel(),
                           minlength=m * (n + 1) * n_elements).reshape(m, n + 1, n_elements)

    def _interaction_sums(self, clusters, excess):
        m, n = len(self.codes), self.ascent.n_sites
        flat = np.arange(m)[:, None, None] * (n * n + 1) + self.ascent._pair_entry[clusters]
        return np.bincount(flat.ravel(), weights=excess.ravel(),
                           minlength=m * (n * n + 1)).reshape(m, n * n + 1)

    def gains(self, like=-np.inf):
        """Gain of every swap, shape (m, n, n); ``like`` between like sites (the gain of
        swapping them is 0, which the climb never takes: no mask needed there)."""
        n, own = self.ascent.n_sites, self.codes[:, :-1]
        field = self.field[:, :n]
        single = field - np.take_along_axis(field, own[:, :, None], axis=2)  # (m, n, E)
        onehot = (own[:, :, None] == np.arange(self.ascent.n_elements)).astype(float)
        half = single @ onehot.transpose(0, 2, 1)  # [m, u, v]: c_v put on u alone
        half += self.interaction[:, :n * n].reshape(-1, n, n)
        gain = half + half.transpose(0, 2, 1)
        if like != 0:
            gain[own[:, :, None] == own[:, None, :]] = like
        return gain

    def run(self, max_steps):
        """Swap each row's best until none gains; returns the orderings."""
        n, done = self.ascent.n_sites, []
        rows = np.arange(len(self.codes))
        for _ in range(max_steps):
            gain = self.gains(like=0).reshape(len(rows), -1)
            best = gain.argmax(axis=1)
            up = gain[np.arange(len(rows)), best] > ASCENT_TOLERANCE
            if not up.all():
                done += list(zip(rows[~up], self.codes[~up, :n], strict=True))
                self._keep(up)
                rows, best = rows[up], best[up]
            if not len(rows):
                break
            self._swap(*np.divmod(best, n))
        done += list(zip(rows, self.codes[:, :n], strict=True))
        return np.stack([codes for _, codes in sorted(done, key=lambda pair: pair[0])])

    def _keep(self, rows):
        for name in ("codes", "which", "values", "excess", "field", "interaction"):
            setattr(self, name, getattr(self, name)[rows])

    def _swap(self, u, v):
        """Swap sites ``u[m]`` and ``v[m]`` of every row; update the clusters holding them."""
        ascent, m = self.ascent, np.arange(len(self.codes))
        self.codes[m, u], self.codes[m, v] = self.codes[m, v], self.codes[m, u]
        held_v = ascent._held[v]
        held_v = np.where((ascent.sites[held_v] == u[:, None, None]).any(axis=2),
                          len(ascent.sites) - 1, held_v)  # those holding both: once
        changed = np.concatenate([ascent._held[u], held_v], axis=1)
        values = ascent._values(self.codes, self.which, changed)
        excess = ascent._interactions(self.codes, self.which, changed)
        self.field += self._field_sums(changed, values - self.values[m[:, None], changed])
        self.interaction += self._interaction_sums(changed,
                                                   excess - self.excess[m[:, None], changed])
        self.values[m[:, None], changed] = values
        self.excess[m[:, None], changed] = excess
