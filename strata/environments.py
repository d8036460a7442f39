"""Atomic-environment blocks of the descriptor: local order and long range (featomic).

Two blocks that :mod:`strata.descriptors` appends to the layer block when
``descriptors.blocks`` names them:

``local``
    Each atom's neighbour density within ``local.cutoff`` (a Gaussian per neighbour,
    resolved by the neighbour's element) expanded on GTO radial functions × spherical
    harmonics (featomic's ``SphericalExpansion``), made rotation-invariant per degree l (the
    SOAP power spectrum, radial channels paired n = n'), then *shell-averaged* over the
    atom and its bonded neighbours k = 0 … ``shells`` times, so that a short cut-off sees
    the second and third shell (the structural-constraint features of Jiang et al. 2024).
``long_range``
    The same invariants of the LODE expansion (Grisafi & Ceriotti 2019; featomic's
    ``LodeSphericalExpansion``): the smeared 1/r^p potential of the whole particle,
    per element of its source, expanded around each atom — non-local effects (charge
    transfer, strain fields) that a finite cut-off misses. LODE needs a periodic cell: the
    particle sits in a box with ``long_range.vacuum`` around it.

Per atom the invariants are ``rho.<A>.n<n>`` (the l = 0 coefficient: how much density, or
potential, of element A reaches the atom in radial channel n) and ``ps.<A>-<B>.l<l>.n<n>``
(the power spectrum ``Σ_m c^A_nlm c^B_nlm / sqrt(2l+1)``, unordered pairs A <= B). They are
pooled by averaging over the atoms of each region with a given central element:
``<region>.<block>.<centre>.k<k>.<invariant>`` (0 where the region holds no such atom). The
region prefix puts them in the region blocks of the report's SHAP and ablation.

Speed: both expansions are linear in the element occupations of the sites. For one geometry
the *pair coefficients* (the contribution of atom j's density to the expansion around atom
i, featomic's ``SphericalExpansionByPair``; for LODE, one expansion with every atom its own
type) are computed once per template (:class:`PairExpansion` with ``lattice``); the
expansion of any ordering of that geometry is then a matrix product with the occupations,
and the pool's orderings cost no featomic call at all. A relaxed structure is its own
geometry: featomic expands it once, directly.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from strata.layers import Topology

#: orderings expanded at once inside a chunk (bounds the memory of the coefficients)
_SUB_CHUNK = 256


def _pairs(n_elements):
    return list(combinations_with_replacement(range(n_elements), 2))


def invariant_names(block, elements) -> list[str]:
    """Per-atom invariant names of an environment block's settings ``block``."""
    radial = range(block.max_radial + 1)
    names = [f"rho.{e}.n{n}" for e in elements for n in radial]
    names += [f"ps.{elements[a]}-{elements[b]}.l{degree}.n{n}"
              for a, b in _pairs(len(elements)) for degree in range(block.max_angular + 1)
              for n in radial]
    return names


def block_names(block, elements, regions) -> list[str]:
    """Feature names of an environment block, pooled per region, central element and shell."""
    invariants = invariant_names(block, elements)
    return [f"{region}.{block.name}.{centre}.k{k}.{name}"
            for region in regions for centre in elements for k in range(block.shells + 1)
            for name in invariants]


#: what each descriptor block is for (the report and the README say it)
PURPOSE = {
    "layers": "element, coordination and bond-pair fractions of each region of the neighbour "
              "graph (which element sits where)",
    "local": "SOAP-like power spectrum of each atom's neighbour density within local.cutoff, "
             "shell-averaged over neighbours (local order beyond the nearest-neighbour bonds)",
    "long_range": "LODE expansion of the particle's smeared 1/r potential at each atom "
                  "(non-local effects that a finite cut-off misses)",
    "prototypes": "share of each region's atoms whose local environment is nearest each "
                  "prototype environment learned from the labelled structures (model.prototypes)",
}


def block_of_feature(name: str) -> str:
    """Descriptor block of a feature name: ``layers``, ``local``, ``long_range`` or
    ``prototypes`` (the train stage's prototype features, :mod:`strata.prototypes`)."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in ("local", "long_range", "prototypes"):
        return parts[1]
    return "layers"


class PairExpansion:
    """An environment block on one geometry: its expansions, invariants and pooled rows.

    Parameters
    ----------
    topology : strata.layers.Topology
        Positions, bonds (for the shell averages) and regions of the geometry.
    block : strata.settings.LocalSettings or strata.settings.LongRangeSettings
    elements : sequence of str
        The campaign's elements (ordering codes index them).
    lattice : bool
        True for a template whose orderings are described many times (the pool): the
        pair coefficients are computed once and every ordering is a matrix product. False
        for a geometry described once or a few times (a relaxed structure): featomic expands
        each ordering directly (LODE's pair coefficients cost n_atoms² blocks).
    pairs : ndarray, optional
        With ``lattice``, the :attr:`pairs` of this geometry and block computed before (e.g.
        once per campaign, :meth:`strata.featurizer.Featurizer.pair_coefficients`) instead
        of computing them again.

    Attributes
    ----------
    pairs : ndarray or None
        With ``lattice``, shape (n_atoms, n_atoms · n_coefficients): row ``j`` holds the
        coefficients of atom ``j``'s density (or potential) in the expansion around every
        atom ``i``, ordered (i, l, m, n).
    """

    def __init__(self, topology: Topology, block, elements, lattice: bool = True, pairs=None):
        self.topology = topology
        self.block = block
        self.elements = tuple(elements)
        self.n_elements = len(self.elements)
        self.pairs = None
        if lattice:
            n_atoms = topology.n_atoms
            self.pairs = pair_coefficients(topology.positions, block) if pairs is None else pairs
            expected = (n_atoms, n_atoms * _coefficients_per_atom(block))
            if self.pairs.shape != expected:
                raise ValueError(f"{block.name} pair coefficients of shape {self.pairs.shape} "
                                 f"do not belong to this geometry and block {expected}")
            # every site occupied: (i, lmr); Σ_m per (l, r) with 1/sqrt(2l+1): (lmr, lr)
            self._total = self.pairs.reshape(n_atoms, n_atoms, -1).sum(axis=0)
            self._sum_m = _sum_over_m(block)
            self._total_spectrum = (self._total * self._total) @ self._sum_m  # (i, lr)
            # Σ_m (site j's coefficients around i) · (all sites' coefficients around i)
            self._against_total = ((self.pairs.reshape(n_atoms, n_atoms, -1) * self._total[None])
                                   @ self._sum_m).reshape(n_atoms, -1)  # (j, i·lr)
        self.averaging = _shell_averaging(topology)
        self._last = None  # (codes, invariants) of the last call: the prototypes reuse them

    def _free_coefficients(self, codes):
        """Occupations of every element but the last, (n · free, n_atoms), and their
        coefficients (n, free, n_atoms, lmr)."""
        n, n_atoms = codes.shape
        free = self.n_elements - 1  # the last element's share is the total minus the others
        occupation = (codes[:, None, :] == np.arange(free)[None, :, None]).astype(float)
        flat = occupation.reshape(n * free, n_atoms)
        return flat, (flat @ self.pairs).reshape(n, free, n_atoms, -1)

    def expansion(self, codes: np.ndarray) -> list[np.ndarray]:
        """Coefficients of orderings ``codes`` (n, n_atoms): per l, shape
        (n, n_atoms, n_elements, 2l + 1, n_radial); featomic's expansion of each ordering
        (neighbour type = element)."""
        if self.pairs is None:
            each = [self._direct(ordering) for ordering in codes]
            return [np.stack([e[degree] for e in each]) for degree in range(len(each[0]))]
        _, free = self._free_coefficients(codes)
        every = np.concatenate([free, (self._total[None] - free.sum(axis=1))[:, None]], axis=1)
        n, n_atoms, radial = len(codes), self.topology.n_atoms, self.block.max_radial + 1
        out, start = [], 0
        for degree in range(self.block.max_angular + 1):
            size = (2 * degree + 1) * radial
            part = every[..., start:start + size].reshape(n, self.n_elements, n_atoms,
                                                          2 * degree + 1, radial)
            out.append(part.transpose(0, 2, 1, 3, 4))
            start += size
        return out

    def _direct(self, ordering):
        """featomic's expansion of one ordering: per l, (n_atoms, n_elements, 2l + 1, n_radial)."""
        atoms = Atoms(np.array(self.elements)[ordering], positions=self.topology.positions)
        numbers = [atomic_numbers[e] for e in self.elements]
        out = _empty_coefficients(len(atoms), self.n_elements, self.block)
        for key, values in _EXPAND[self.block.name](atoms, self.block).items():
            neighbour = numbers.index(int(key["neighbor_type"]))
            out[int(key["o3_lambda"])][values.samples.column("atom"), neighbour] = values.values
        return out

    def invariants(self, codes: np.ndarray) -> np.ndarray:
        """Per-atom invariants (n, n_atoms, len(invariant_names)) of orderings ``codes``; the
        same orderings twice in a row (a chunk's descriptor, then its prototype features) are
        computed once."""
        if self._last is None or not np.array_equal(self._last[0], codes):
            self._last = (codes.copy(), self._invariants(codes))
        return self._last[1]

    def _invariants(self, codes):
        if self.pairs is not None:
            return self._lattice_invariants(codes)
        coefficients = self.expansion(codes)
        first, second = np.array(_pairs(self.n_elements)).T
        rho = coefficients[0][:, :, :, 0, :]  # (n, i, a, r)
        spectra = [(c[:, :, first] * c[:, :, second]).sum(axis=3) / np.sqrt(2 * degree + 1)
                   for degree, c in enumerate(coefficients)]  # (n, i, pair, r) per l
        return _flat(rho, np.stack(spectra, axis=3))

    def _lattice_invariants(self, codes):
        """:meth:`invariants` from the pair coefficients, the last element's share written
        as the total minus the others': its power-spectrum terms are linear in the others'
        coefficients (precomputed products with the total), which saves most of the work.
        Each Σ_m is one matrix product (:func:`_sum_over_m`), written in place."""
        n, n_atoms = codes.shape
        n_elements, free = self.n_elements, self.n_elements - 1
        radial = self.block.max_radial + 1
        width = (self.block.max_angular + 1) * radial  # (l, r) per element pair
        flat, c = self._free_coefficients(codes)  # c: (n, a, i, lmr)
        linear = (flat @ self._against_total).reshape(n, free, n_atoms, width)
        pairs = _pairs(n_elements)
        out = np.empty((n, n_atoms, n_elements * radial + len(pairs) * width))
        rho = c[..., :radial]  # l = 0 comes first, m = 0 only
        for a in range(free):
            out[:, :, a * radial:(a + 1) * radial] = rho[:, a]
        out[:, :, free * radial:n_elements * radial] = self._total[None, :, :radial] - rho.sum(1)
        quadratic = {}
        for a in range(free):
            for b in range(a, free):
                product = (c[:, a] * c[:, b]).reshape(-1, c.shape[-1]) @ self._sum_m
                quadratic[a, b] = quadratic[b, a] = product.reshape(n, n_atoms, width)
        start = n_elements * radial
        for k, (a, b) in enumerate(pairs):
            columns = slice(start + k * width, start + (k + 1) * width)
            if b < free:
                out[:, :, columns] = quadratic[a, b]
            elif a < free:
                out[:, :, columns] = linear[:, a] - sum(quadratic[a, x] for x in range(free))
            else:
                out[:, :, columns] = (self._total_spectrum[None] - 2 * linear.sum(axis=1)
                                      + sum(quadratic[x, y] for x in range(free)
                                            for y in range(free)))
        return out

    def describe(self, codes: np.ndarray) -> np.ndarray:
        """Pooled block rows of orderings ``codes`` (n, n_atoms), in :func:`block_names` order."""
        return np.concatenate([self._describe(codes[s:s + _SUB_CHUNK])
                               for s in range(0, len(codes), _SUB_CHUNK)])

    def _describe(self, codes):
        per_atom = self.invariants(codes)  # (n, i, f)
        topology = self.topology
        groups = len(topology.region_names) * self.n_elements
        group = topology.region[None, :] * self.n_elements + codes  # (n, i): region · centre
        members = (group[:, None, :] == np.arange(groups)[None, :, None]).astype(float)
        counts = members.sum(axis=2, keepdims=True)
        weights = np.divide(members, counts, out=np.zeros_like(members), where=counts > 0)
        pooled = []
        for _ in range(self.block.shells + 1):
            pooled.append(weights @ per_atom)  # (n, r·e, f)
            # one more shell: w P^k X = (w P^k) X, as one matrix product
            weights = (weights.reshape(-1, len(self.averaging)) @ self.averaging).reshape(
                weights.shape)
        return np.stack(pooled, axis=2).reshape(len(codes), -1)  # (n, r·e, k, f)


def _flat(rho, spectra):
    """Per-atom invariants in :func:`invariant_names` order from ``rho`` (n, i, a, r) and
    ``spectra`` (n, i, pair, l, r)."""
    n, n_atoms = rho.shape[:2]
    return np.concatenate([rho.reshape(n, n_atoms, -1), spectra.reshape(n, n_atoms, -1)], axis=2)


def _shell_averaging(topology: Topology) -> np.ndarray:
    """Row-normalised (identity + adjacency): averages a per-atom value over the atom and
    its bonded neighbours."""
    matrix = np.eye(topology.n_atoms) + topology.adjacency.toarray()
    return matrix / matrix.sum(axis=1, keepdims=True)


def _sum_over_m(block):
    """Matrix (lmr, lr) summing coefficient products over m with 1/sqrt(2l + 1)."""
    radial = block.max_radial + 1
    rows = []
    for degree in range(block.max_angular + 1):
        one = np.zeros((block.max_angular + 1, radial, radial))
        one[degree] = np.eye(radial) / np.sqrt(2 * degree + 1)
        rows += [one.reshape(-1, radial).T.reshape(radial, -1)] * (2 * degree + 1)
    return np.concatenate(rows)


def pair_coefficients(positions, block) -> np.ndarray:
    """The ordering-independent part of a block on a geometry (:attr:`PairExpansion.pairs`):
    shape (n_atoms, n_atoms · n_coefficients), row ``j`` the coefficients of atom ``j``'s
    density (or potential) around every atom ``i``, ordered (i, l, m, n)."""
    n_atoms = len(positions)
    per_degree = _PAIRS[block.name](positions, block)  # per l: (i, j, m, r)
    return np.concatenate([p.transpose(1, 0, 2, 3).reshape(n_atoms, n_atoms, -1)
                           for p in per_degree], axis=2).reshape(n_atoms, -1)


def _coefficients_per_atom(block) -> int:
    """Coefficients (l, m, n) of one atom's expansion."""
    return (block.max_angular + 1) ** 2 * (block.max_radial + 1)


def _empty_coefficients(n_atoms, n_columns, block):
    return [np.zeros((n_atoms, n_columns, 2 * degree + 1, block.max_radial + 1))
            for degree in range(block.max_angular + 1)]


def in_cube(atoms: Atoms, vacuum: float) -> Atoms:
    """``atoms`` centred in a periodic cube with at least ``vacuum`` around them (LODE needs a
    cell); the side depends on the atoms' distances from their centre only, so a rotated
    particle gets the same cube."""
    centred = atoms.get_positions() - atoms.get_positions().mean(axis=0)
    side = 2.0 * (np.linalg.norm(centred, axis=1).max() + vacuum)
    return Atoms(atoms.numbers, positions=centred + side / 2, cell=np.eye(3) * side, pbc=True)


def _expand_local(atoms, block):
    from featomic import SphericalExpansion

    return SphericalExpansion(**block.hypers()).compute(atoms)


def _expand_long_range(atoms, block):
    from featomic import LodeSphericalExpansion

    return LodeSphericalExpansion(**block.hypers()).compute(in_cube(atoms, block.vacuum))


def _local_pairs(positions, block):
    """Pair coefficients of the local expansion (featomic ``SphericalExpansionByPair``)."""
    from featomic import SphericalExpansionByPair

    atoms = Atoms(numbers=np.ones(len(positions), dtype=int), positions=positions)
    tensor = SphericalExpansionByPair(**block.hypers()).compute(atoms)
    pairs = _empty_coefficients(len(positions), len(positions), block)
    for key, values in tensor.items():
        first, second = (values.samples.column(c) for c in ("first_atom", "second_atom"))
        np.add.at(pairs[int(key["o3_lambda"])], (first, second), values.values)
    return pairs


def _long_range_pairs(positions, block):
    """Pair coefficients of the LODE expansion: one expansion with every atom its own type."""
    n_atoms = len(positions)
    atoms = Atoms(numbers=np.arange(1, n_atoms + 1), positions=positions)
    pairs = _empty_coefficients(n_atoms, n_atoms, block)
    for key, values in _expand_long_range(atoms, block).items():
        centre = values.samples.column("atom")
        pairs[int(key["o3_lambda"])][centre, int(key["neighbor_type"]) - 1] = values.values
    return pairs


_PAIRS = {"local": _local_pairs, "long_range": _long_range_pairs}
_EXPAND = {"local": _expand_local, "long_range": _expand_long_range}
