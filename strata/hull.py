"""The mixing-energy convex hull of a composition scan.

For a particle of ``N`` atoms whose pure-element versions (same template, same calculator
settings) have energies ``E_i``, the excess (mixing) energy of a structure with ``n_i`` atoms
of element ``i`` and energy ``E`` is, per atom,

    E_mix = (E − Σ_i n_i E_i / N) / N        (eV/atom),

zero for the pure particles. At each composition the best ordering found so far counts; the
lower convex hull of those points and the pure ends says which compositions are stable
against separating into their neighbours. A composition is *on the hull* when its best
``E_mix`` lies on it (within ``tolerance``); its *distance* to the hull is how far above.

The hull is found by linear programming (:func:`scipy.optimize.linprog`, HiGHS), so it works
for any number of elements: the hull energy at fractions ``x`` is the lowest
``Σ_j λ_j E_mix,j`` over convex weights ``λ`` of the points with ``Σ_j λ_j x_j = x``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linprog

#: on the hull: at most this far above it (eV/atom)
TOLERANCE = 1e-6


def mixing_energy(energy, counts, pure):
    """Excess energy per atom (eV/atom) of particles with ``counts`` atoms of each element.

    Parameters
    ----------
    energy : array_like, shape (n,)
        Total energies (eV) of the particles.
    counts : array_like, shape (n, k)
        Atoms of each of the ``k`` elements; every row adds up to the particle size ``N``.
    pure : array_like, shape (k,)
        Total energies (eV) of the pure particles of each element (same template).
    """
    counts = np.atleast_2d(np.asarray(counts, float))
    size = counts.sum(axis=1)
    return (np.asarray(energy, float) - counts @ np.asarray(pure, float) / size) / size


def hull_energy(fractions, points, energies):
    """The lower convex hull of ``(points, energies)`` evaluated at ``fractions``.

    Parameters
    ----------
    fractions : array_like, shape (m, k)
        Compositions (fractions of each element, adding up to 1) to evaluate at; each must be
        a convex combination of ``points``.
    points : array_like, shape (n, k)
        Compositions of the hull's points (the pure ends included).
    energies : array_like, shape (n,)
        Their mixing energies.

    Returns
    -------
    ndarray, shape (m,)
    """
    points, energies = np.asarray(points, float), np.asarray(energies, float)
    fractions = np.atleast_2d(np.asarray(fractions, float))
    # fractions add up to 1: the last column is implied, the weights' sum constraint is not
    a_eq = np.vstack([points[:, :-1].T, np.ones(len(points))])
    out = np.empty(len(fractions))
    for row, x in enumerate(fractions):
        done = linprog(energies, A_eq=a_eq, b_eq=np.append(x[:-1], 1.0), bounds=(0, None),
                       method="highs")
        if not done.success:
            raise ValueError(f"composition {x} is outside the hull's compositions")
        out[row] = done.fun
    return out


def mixing_table(structures, pure, elements):
    """Fractions and mixing energy of every computed structure.

    Parameters
    ----------
    structures : pandas.DataFrame
        One row per computed structure: ``composition`` (key), ``structure_id``, ``energy``
        (eV, NaN for a failed one) and one count column per element (named as the element).
    pure : dict of str to float
        Energy (eV) of the pure particle of each element.
    elements : sequence of str

    Returns
    -------
    pandas.DataFrame
        The structures with a finite energy: ``structure_id``, ``composition``, ``x_<El>`` per
        element, ``energy`` and ``e_mix`` (eV/atom).
    """
    elements = list(elements)
    ok = structures[np.isfinite(structures["energy"].to_numpy(float))]
    counts = ok[elements].to_numpy(float)
    table = ok[["structure_id", "composition"]].reset_index(drop=True)
    x = counts / counts.sum(axis=1, keepdims=True) if len(ok) else counts
    for column, e in enumerate(elements):
        table[f"x_{e}"] = x[:, column]
    return table.assign(energy=ok["energy"].to_numpy(float),
                        e_mix=mixing_energy(ok["energy"], counts, [pure[e] for e in elements]))


def hull_table(points, pure, elements, size, tolerance=TOLERANCE):
    """Best structure, mixing energy, hull membership and distance of every composition.

    Parameters
    ----------
    points : pandas.DataFrame
        :func:`mixing_table` of the computed structures.
    pure : dict of str to float
        Energy (eV) of the pure particle of each element.
    elements : sequence of str
    size : int
        Atoms per particle (names the pure ends, e.g. ``Au55``).
    tolerance : float
        On the hull: at most this far above it (eV/atom).

    Returns
    -------
    pandas.DataFrame
        One row per composition (the pure ends included, ``structure_id`` ``pure-<El>``),
        sorted by the fraction of the last element (then the others): ``composition``,
        ``x_<El>`` per element, ``structure_id`` (the best), ``energy``, ``e_mix``
        (eV/atom), ``on_hull``, ``distance`` (eV/atom above the hull) and ``computed``
        (structures of that composition with an energy).
    """
    elements = list(elements)
    fractions = [f"x_{e}" for e in elements]
    best = points.loc[points.groupby("composition")["e_mix"].idxmin()]
    rows = best.assign(computed=best["composition"].map(points["composition"].value_counts()))
    ends = pd.DataFrame([{"composition": f"{e}{size}", "structure_id": f"pure-{e}",
                          "energy": pure[e], "e_mix": 0.0, "computed": 1,
                          **{f"x_{f}": float(f == e) for f in elements}} for e in elements])
    rows = pd.concat([rows, ends], ignore_index=True)
    x = rows[fractions].to_numpy(float)
    distance = rows["e_mix"].to_numpy(float) - hull_energy(x, x, rows["e_mix"])
    rows = rows.assign(distance=np.maximum(distance, 0.0), on_hull=distance <= tolerance)
    columns = ["composition", *fractions, "structure_id", "energy", "e_mix", "on_hull",
               "distance", "computed"]
    order = [f"x_{e}" for e in reversed(elements)]
    return rows.sort_values(order, kind="stable")[columns].reset_index(drop=True)


def hull_changes(previous, current):
    """What changed on the hull since the previous round's table (:func:`hull_table`).

    Returns
    -------
    list of str
        Compositions that joined or left the hull, and those whose best mixing energy fell
        (by how much, meV/atom); empty when nothing changed.
    """
    if previous is None or previous.empty:
        return []
    before = previous.set_index("composition")
    after = current.set_index("composition")
    joined = [c for c in after.index[after["on_hull"]]
              if c not in before.index or not before.loc[c, "on_hull"]]
    left = [c for c in before.index[before["on_hull"]]
            if c in after.index and not after.loc[c, "on_hull"]]
    common = after.index.intersection(before.index)
    fell = (before.loc[common, "e_mix"] - after.loc[common, "e_mix"])
    fell = fell[fell > TOLERANCE].sort_values(ascending=False)
    lines = []
    if joined:
        lines.append(f"joined the hull: {', '.join(joined)}")
    if left:
        lines.append(f"left the hull: {', '.join(left)}")
    if len(fell):
        lines.append("lower best E_mix: " + ", ".join(
            f"{c} (−{1000 * v:.1f} meV/atom)" for c, v in fell.items()))
    return lines


def below_hull_probability(e_mix, sigma, hull_at):
    """Probability that a structure predicted at ``e_mix`` ± ``sigma`` (eV/atom, normal) lies
    below the current hull energy ``hull_at`` of its composition (by more than
    :data:`TOLERANCE`)."""
    from scipy.stats import norm

    sigma = np.maximum(np.asarray(sigma, float), 1e-12)
    return norm.cdf((np.asarray(hull_at, float) - TOLERANCE - np.asarray(e_mix, float)) / sigma)


def energy_scale(energy, score, groups):
    """The within-composition energy a unit of surrogate score is worth: the least-squares
    slope (eV per score, negative: higher score = lower energy) of group-centred energy on
    group-centred score, pooled over the compositions, and the residual spread (eV).

    A LambdaRank score only ranks within its composition; this line turns a candidate's
    score into an energy relative to its composition's labelled structures.
    """
    from strata.prior import group_centred

    energy, score = np.asarray(energy, float), np.asarray(score, float)
    de, ds = group_centred(energy, groups), group_centred(score, groups)
    slope = (ds @ de) / (ds @ ds) if ds @ ds > 0 else 0.0
    residual = de - slope * ds
    dof = max(len(energy) - len(set(groups)) - 1, 1)
    return float(slope), float(np.sqrt(residual @ residual / dof))
