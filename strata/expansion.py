"""The linear prior as a pair cluster expansion, and its exact optimum by mixed-integer programming.

On a fixed template, the occupation-linear descriptor columns (``model.prior_features:
linear``: element fractions per region and surface site class, bond counts per element pair
and region) are sums of point terms (one per site and element) and pair terms (one per bond
and element pair) of the occupations. The ridge prior on them (:mod:`strata.prior`) is then a
site- and bond-resolved pair cluster expansion, like the TOP method's (Kozlov et al., Chem.
Sci. 2015). :meth:`PairExpansion.of` reads its coefficients off the score by finite
differences and checks that they reproduce it; :func:`maximise` finds the ordering of highest
score at fixed composition *exactly*, as a mixed-integer linear programme (Larsen, Jacobsen
and Schiøtz, PRL 2018) solved by HiGHS (:func:`scipy.optimize.milp`): the surrogate's own
optimum is found with certainty, not hoped for from a stochastic search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from strata.orderings import CODE_DTYPE

CHECK_ORDERINGS = 32  # random orderings on which a compiled expansion must reproduce the score
RELATIVE_TOLERANCE = 1e-6  # of the score's spread over them


class NotAnExpansion(ValueError):
    """The score is not a pair expansion over the bonds (e.g. ``prior_features: all``)."""


@dataclass(frozen=True)
class PairExpansion:
    """``score(codes) = constant + sum_i point[i, codes_i] + sum_b pair[b, codes_i, codes_j]``.

    Attributes
    ----------
    constant : float
    point : numpy.ndarray, shape (n_sites, n_elements)
        Column 0 is zero (element 0 is the reference occupation).
    pair : numpy.ndarray, shape (n_bonds, n_elements, n_elements)
        Rows and columns 0 are zero.
    bonds : numpy.ndarray of int, shape (n_bonds, 2)
    """

    constant: float
    point: np.ndarray
    pair: np.ndarray
    bonds: np.ndarray

    def __call__(self, codes):
        """Score of orderings ``codes`` (2-D)."""
        codes = np.asarray(codes, dtype=int)
        sites = np.arange(codes.shape[1])
        score = self.constant + self.point[sites, codes].sum(axis=1)
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        return score + self.pair[np.arange(len(i)), codes[:, i], codes[:, j]].sum(axis=1)

    @classmethod
    def of(cls, score, bonds, n_sites, n_elements, rng):
        """Read the expansion off ``score(codes) -> scores`` by finite differences
        (:meth:`of_many` of one score).

        Raises
        ------
        NotAnExpansion
            When the expansion does not reproduce the score.
        """
        return cls.of_many(lambda codes: np.asarray(score(codes))[None, :], bonds, n_sites,
                           n_elements, rng)[0]

    @classmethod
    def of_many(cls, scores, bonds, n_sites, n_elements, rng):
        """Read the expansions of several scores at once off ``scores(codes) -> (n_scores,
        n_rows)`` by finite differences, each ordering scored once for all of them.

        Element 0 on every site is the reference; a point term is the change of one site to
        element ``a``, a pair term the excess of changing both ends of a bond. Each result is
        checked on :data:`CHECK_ORDERINGS` random orderings.

        Raises
        ------
        NotAnExpansion
            When an expansion does not reproduce its score on them.
        """
        bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
        elements = np.arange(1, n_elements)
        base = np.zeros((1, n_sites), dtype=CODE_DTYPE)
        singles = np.repeat(base, n_sites * len(elements), axis=0)
        site, element = np.divmod(np.arange(len(singles)), len(elements))
        singles[np.arange(len(singles)), site] = elements[element]
        a, b = np.meshgrid(elements, elements, indexing="ij")
        a, b = a.ravel(), b.ravel()
        doubles = np.repeat(base, len(bonds) * len(a), axis=0)
        bond, pair = np.divmod(np.arange(len(doubles)), len(a))
        doubles[np.arange(len(doubles)), bonds[bond, 0]] = a[pair]
        doubles[np.arange(len(doubles)), bonds[bond, 1]] = b[pair]
        checks = rng.integers(n_elements, size=(CHECK_ORDERINGS, n_sites)).astype(CODE_DTYPE)
        values = np.asarray(scores(np.concatenate([base, singles, doubles, checks])),
                            dtype=float)
        expansions = []
        for row in values:
            constant = row[0]
            point = np.zeros((n_sites, n_elements))
            point[site, elements[element]] = row[1:1 + len(singles)] - constant
            pairs = np.zeros((len(bonds), n_elements, n_elements))
            pairs[bond, a[pair], b[pair]] = (row[1 + len(singles):1 + len(singles) + len(doubles)]
                                             - constant - point[bonds[bond, 0], a[pair]]
                                             - point[bonds[bond, 1], b[pair]])
            expansion = cls(constant=float(constant), point=point, pair=pairs, bonds=bonds)
            expansion._check(checks, row[-CHECK_ORDERINGS:])
            expansions.append(expansion)
        return expansions

    def _check(self, codes, expected):
        error = np.abs(self(codes) - expected).max()
        if not error <= RELATIVE_TOLERANCE * max(np.ptp(expected), 1e-12):
            raise NotAnExpansion(f"the score is not a pair expansion over the bonds "
                                 f"(max deviation {error:.3g})")


def maximise(expansion, counts, time_limit=10.0):
    """The ordering of highest score with ``counts[a]`` atoms of element ``a``, by MILP.

    Variables: occupations ``x[i, a]`` (binary, one element per site, the counts fixed) and,
    for every non-zero pair term, ``y[b, a, c]`` standing for ``x[i, a] x[j, c]``: bounded
    above by both factors where the term is positive, below by their sum minus 1 where it is
    negative (the linearisation is exact at the optimum).

    Parameters
    ----------
    expansion : PairExpansion
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
    counts = np.asarray(counts, dtype=int)
    n_sites, n_elements = expansion.point.shape
    n_x = n_sites * n_elements
    bond, a, c = np.nonzero(np.abs(expansion.pair) > 0)
    weight = expansion.pair[bond, a, c]
    n_y = len(bond)
    x_i = expansion.bonds[bond, 0] * n_elements + a  # column of x[i, a]
    x_j = expansion.bonds[bond, 1] * n_elements + c
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
