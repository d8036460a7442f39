"""Named, fixed-length, per-region feature vectors of chemical orderings.

The feature space is fixed by the campaign's element list, so every
composition and every particle size shares it. Blocks, in order:

``<region>.*`` for each region (surface, intermediate, core)
    ``count`` (atoms), ``frac.<A>``, ``cn.<A>`` (mean coordination of A atoms),
    ``entropy`` (mixing entropy -sum x ln x), ``bonds.<A>-<B>`` (share of the
    bonds touching the region, unordered pairs), ``bondlen.<A>-<B>.mean`` /
    ``.std`` (Angstrom, same bonds) and ``wc.<A>-<B>`` (Warren-Cowley
    alpha_AB = 1 - P(B|A) / c_B, ordered pairs A != B, A on a site of the region,
    B any neighbour, c_B the particle's concentration of B).
``surface.site.<class>.*`` (part of the surface block)
    ``count`` and ``frac.<A>`` per surface site class (vertex, edge, facet).
``<outer>-<inner>.*`` for each border between consecutive regions (cross-region)
    ``count`` (bonds across the border) and ``bonds.<A>-<B>``: share of them
    with A on the outer and B on the inner side (ordered pairs).
``global.*``
    ``atoms``, ``count.<A>``, ``bonds`` (total) and ``bonds.<A>-<B>``.
``<group>.nb2.<A>.<B>`` (with ``neighbour_counts``, at the end of each region's block)
    the mean over the group's sites of [the site holds A] × (its neighbours of element
    B != A)², for each surface site class (group ``surface.site.<class>``) and each deeper
    region (group ``<region>``): the lowest many-body term of an embedding energy (a site's
    energy is a nonlinear function of its unlike neighbours, which pair terms miss) — a
    cluster function of three occupations (a site and two of its neighbours), so a linear
    model in it still is a cluster expansion.

Empty regions give zeros and ``count`` 0, never NaN; every undefined ratio
(no bonds of a pair, absent element) is 0.

The blocks (``surface``, ``intermediate``, ``core``, ``cross-region``,
``global``; :func:`region_of_feature`) are what the linear prior weighs
(``model.region_weights``) and what the report's ablation removes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations_with_replacement, permutations, product

import numpy as np

from strata.environments import PairExpansion, block_names
from strata.layers import SITE_CLASSES, Topology
from strata.settings import DescriptorSettings

BLOCKS = ("surface", "intermediate", "core", "cross-region", "global")
#: bond-length variances below this (Angstrom^2) are rounding noise and set to 0
_VARIANCE_FLOOR = 1e-10
#: bond lengths are rounded to 2**-20 Angstrom (about 1e-6) so that sums are exact
_LENGTH_QUANTUM = 2.0**-20


# ---------------------------------------------------------------- names


def _pairs(elements) -> list[tuple[int, int]]:
    """Unordered element index pairs (a <= b)."""
    return list(combinations_with_replacement(range(len(elements)), 2))


def _pair_name(elements, a: int, b: int) -> str:
    return f"{elements[a]}-{elements[b]}"


def _region_names(region: str, elements) -> list[str]:
    """Feature names of one region block, in computation order."""
    unordered = [_pair_name(elements, a, b) for a, b in _pairs(elements)]
    ordered = [_pair_name(elements, a, b) for a, b in permutations(range(len(elements)), 2)]
    names = [f"{region}.count"]
    names += [f"{region}.frac.{e}" for e in elements]
    names += [f"{region}.cn.{e}" for e in elements]
    names += [f"{region}.entropy"]
    names += [f"{region}.bonds.{p}" for p in unordered]
    names += [f"{region}.bondlen.{p}.{stat}" for p in unordered for stat in ("mean", "std")]
    names += [f"{region}.wc.{p}" for p in ordered]
    if region == "surface":
        for site in SITE_CLASSES:
            names += [f"surface.site.{site}.count"]
            names += [f"surface.site.{site}.frac.{e}" for e in elements]
    return names


def _border_names(border: str, elements) -> list[str]:
    pairs = product(range(len(elements)), repeat=2)
    return [f"{border}.count"] + [f"{border}.bonds.{_pair_name(elements, a, b)}" for a, b in pairs]


def _global_names(elements) -> list[str]:
    names = ["global.atoms"] + [f"global.count.{e}" for e in elements] + ["global.bonds"]
    return names + [f"global.bonds.{_pair_name(elements, a, b)}" for a, b in _pairs(elements)]


def neighbour_count_groups(region: str) -> list[str]:
    """The site groups of a region's neighbour-count columns: the surface by site class,
    a deeper region whole."""
    return [f"surface.site.{c}" for c in SITE_CLASSES] if region == "surface" else [region]


def _neighbour_names(region: str, elements) -> list[str]:
    """Names of a region's neighbour-count columns, in computation order."""
    return [f"{group}.nb2.{elements[a]}.{elements[b]}"
            for group in neighbour_count_groups(region)
            for a, b in permutations(range(len(elements)), 2)]


def _block_names(settings: DescriptorSettings) -> dict[str, list[str]]:
    """All feature names by block."""
    elements = settings.elements
    blocks = {region: _region_names(region, elements) for region in settings.region_names}
    if settings.neighbour_counts:
        for region in settings.region_names:
            blocks[region] += _neighbour_names(region, elements)
    blocks["cross-region"] = [n for b in settings.borders for n in _border_names(b, elements)]
    blocks["global"] = _global_names(elements)
    return blocks


def feature_names(settings: DescriptorSettings) -> list[str]:
    """Names of the descriptor vector for these settings: the layer block, then each
    environment block of ``settings.blocks`` (:func:`strata.environments.block_names`)."""
    names = [n for names in _block_names(settings).values() for n in names]
    for block in settings.environments:
        names += block_names(block, settings.elements, settings.region_names)
    return names


def expansions_of(topology: Topology, settings: DescriptorSettings,
                  lattice: bool = True, pairs=None) -> list[PairExpansion]:
    """Each environment block of ``settings`` on ``topology``; with ``lattice`` (a template
    whose orderings are described many times) its pair coefficients are computed once here,
    or taken from ``pairs`` (block name → :attr:`PairExpansion.pairs`) where it holds them.
    Pass to :func:`describe_orderings`."""
    pairs = pairs or {}
    return [PairExpansion(topology, block, settings.elements, lattice, pairs.get(block.name))
            for block in settings.environments]


def region_of_feature(name: str) -> str:
    """Block of a feature name: surface, intermediate, core, cross-region or global."""
    prefix = name.split(".", 1)[0]
    if prefix in ("surface", "intermediate", "core", "global"):
        return prefix
    if "-" in prefix:
        return "cross-region"
    raise ValueError(f"not a descriptor feature name: {name!r}")


_NAME_PATTERNS = [
    (r"frac\.(\w+)$", r"\1 fraction"),
    (r"count\.(\w+)$", r"\1 atoms"),
    (r"cn\.(\w+)$", r"\1 mean coordination"),
    (r"bonds\.(\w+)-(\w+)$", r"\1–\2 bonds"),
    (r"bondlen\.(\w+)-(\w+)\.mean$", r"\1–\2 bond length"),
    (r"bondlen\.(\w+)-(\w+)\.std$", r"\1–\2 bond-length spread"),
    (r"wc\.(\w+)-(\w+)$", r"Warren–Cowley α(\1→\2)"),
    (r"nb2\.(\w+)\.(\w+)$", r"\1 sites × (\2 neighbours)²"),
    (r"bonds$", "bonds"),
    (r"atoms$", "atoms"),
    (r"entropy$", "mixing entropy"),
]


def readable_name(name):
    """A short human-readable label of a descriptor feature name.

    ``surface.frac.Pt`` → ``surface: Pt fraction``; ``surface-intermediate.bonds.Pt-Au`` →
    ``surface→intermediate: Pt–Au bonds``; unknown patterns are returned unchanged.
    """
    try:
        region = region_of_feature(name)
    except ValueError:
        return name
    prefix, _, rest = name.partition(".")
    where = prefix.replace("-", "→") if region == "cross-region" else prefix
    site = re.match(r"site\.(\w+)\.(.*)", rest)
    if site:
        where, rest = f"{where} {site.group(1)} sites", site.group(2)
    # a bare "count" counts bonds across a border, atoms in a region
    count = (r"count$", "bonds" if region == "cross-region" else "atoms")
    for pattern, replacement in [*_NAME_PATTERNS[:7], count, *_NAME_PATTERNS[7:]]:
        if re.fullmatch(pattern, rest):
            return f"{where}: {re.sub(pattern, replacement, rest)}"
    return f"{where}: {rest}"


# ---------------------------------------------------------------- chemistry


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _site_weights(topology: Topology) -> np.ndarray:
    """Per-atom columns summed per element: region one-hot, region x CN, site one-hot."""
    n_regions = len(topology.region_names)
    region = np.eye(n_regions)[topology.region]
    site = np.eye(len(SITE_CLASSES) + 1)[topology.site_class][:, :-1]  # -1 -> no class
    return np.hstack([region, region * topology.coordination[:, None], site])


def _bond_weights(topology: Topology) -> np.ndarray:
    """Per-bond columns summed per ordered element pair.

    Columns: touches region (R), x centred length (R), x squared (R),
    outer end in region (R), inner end in region (R), crosses border (R-1), all (1).
    Lengths are centred on the particle's mean bond length (stable variance) and
    quantised to :data:`_LENGTH_QUANTUM` so that every sum is exact: the result is
    then bitwise independent of summation order (chunk size, atom order).
    """
    n_regions = len(topology.region_names)
    outer, inner = topology.region[topology.bonds[:, 0]], topology.region[topology.bonds[:, 1]]
    eye = np.eye(n_regions)
    outer_end, inner_end = eye[outer], eye[inner]
    touches = np.maximum(outer_end, inner_end)
    lengths = topology.bond_lengths
    length = lengths - (lengths.mean() if len(lengths) else 0.0)
    length = np.round(length / _LENGTH_QUANTUM) * _LENGTH_QUANTUM
    border = (inner == outer + 1)[:, None] & (outer[:, None] == np.arange(n_regions - 1))
    columns = [touches, touches * length[:, None], touches * length[:, None] ** 2]
    columns += [outer_end, inner_end, border, np.ones((len(length), 1))]
    return np.hstack(columns)


def _element_sums(codes: np.ndarray, n_elements: int, weights: np.ndarray) -> np.ndarray:
    """``sums[m, e, c] = sum_i [codes[m, i] == e] * weights[i, c]``."""
    # one dtype on both sides of every product: BLAS (a bool @ float product is a slow loop)
    return np.stack([(codes == e).astype(weights.dtype) @ weights for e in range(n_elements)],
                    axis=1)


def _pair_sums(codes: np.ndarray, topology: Topology, n_elements: int, weights) -> np.ndarray:
    """``sums[m, a, b, c]`` over bonds with element a on the outer end and b on the inner."""
    pair = codes[:, topology.bonds[:, 0]].astype(np.int16) * n_elements
    pair += codes[:, topology.bonds[:, 1]]
    sums = np.stack([(pair == q).astype(weights.dtype) @ weights for q in range(n_elements**2)],
                    axis=1)
    return sums.reshape(len(codes), n_elements, n_elements, -1)


def _unordered(ordered: np.ndarray, pairs) -> np.ndarray:
    """Sum ordered pair sums (a, b) and (b, a) into unordered pairs (last-but-one axes)."""
    return np.stack(
        [ordered[:, a, b] + ordered[:, b, a] if a != b else ordered[:, a, a] for a, b in pairs],
        axis=1,
    )


@dataclass
class _OrderingSums:
    """Per-element and per-pair sums of one chunk of orderings over one topology.

    ``atoms[m, a, c]`` sums the columns of :func:`_site_weights` over atoms of
    element a; ``bonds[m, a, b, c]`` the columns of :func:`_bond_weights` over
    bonds with a on the outer and b on the inner end.
    """

    atoms: np.ndarray
    bonds: np.ndarray
    n_regions: int
    length_offset: float

    @classmethod
    def of(cls, topology: Topology, codes: np.ndarray, n_elements: int) -> _OrderingSums:
        """Sums of ``codes`` (m, n_atoms) over ``topology``."""
        lengths = topology.bond_lengths
        return cls(
            atoms=_element_sums(codes, n_elements, _site_weights(topology)),
            bonds=_pair_sums(codes, topology, n_elements, _bond_weights(topology)),
            n_regions=len(topology.region_names),
            length_offset=float(lengths.mean()) if len(lengths) else 0.0,
        )

    @property
    def composition(self) -> np.ndarray:
        """Atoms per element, shape (m, E)."""
        return self.atoms[:, :, : self.n_regions].sum(axis=2)

    def bond_column(self, kind: int, index: int) -> np.ndarray:
        """Column ``kind * n_regions + index`` of the bond sums, shape (m, E, E)."""
        return self.bonds[..., kind * self.n_regions + index]


def _mixing_entropy(fractions: np.ndarray) -> np.ndarray:
    """-sum x ln x along the last axis, 0 ln 0 = 0."""
    return -(fractions * np.log(np.where(fractions > 0, fractions, 1.0))).sum(axis=-1)


def _warren_cowley(ends: np.ndarray, concentration: np.ndarray) -> np.ndarray:
    """alpha_ab = 1 - P(b | a) / c_b from bond ends ``ends[m, a, b]``; 0 where undefined."""
    per_centre = ends.sum(axis=2, keepdims=True)
    conditional = _safe_divide(ends, per_centre)
    c_b = concentration[:, None, :]
    alpha = 1.0 - _safe_divide(conditional, c_b)
    return np.where((per_centre > 0) & (c_b > 0), alpha, 0.0)


def _region_block(r: int, sums: _OrderingSums, elements) -> list[np.ndarray]:
    """Columns of region ``r``; order matches :func:`_region_names` (without sites)."""
    counts = sums.atoms[:, :, r]
    total = counts.sum(axis=1, keepdims=True)
    fractions = _safe_divide(counts, total)
    mean_cn = _safe_divide(sums.atoms[:, :, sums.n_regions + r], counts)

    pairs = _pairs(elements)
    n_bonds, length_sum, square_sum = (_unordered(sums.bond_column(k, r), pairs) for k in range(3))
    bond_share = _safe_divide(n_bonds, n_bonds.sum(axis=1, keepdims=True))
    mean_length = _safe_divide(length_sum, n_bonds)
    variance = _safe_divide(square_sum, n_bonds) - mean_length**2
    std_length = np.sqrt(np.where(variance > _VARIANCE_FLOOR, variance, 0.0))
    mean_length = np.where(n_bonds > 0, mean_length + sums.length_offset, 0.0)
    lengths = np.stack([mean_length, std_length], axis=2).reshape(len(counts), -1)

    ends = sums.bond_column(3, r) + sums.bond_column(4, r).swapaxes(1, 2)
    composition = sums.composition
    alpha = _warren_cowley(ends, composition / composition.sum(axis=1, keepdims=True))
    ordered = [alpha[:, a, b] for a, b in permutations(range(len(elements)), 2)]
    columns = [total, fractions, mean_cn, _mixing_entropy(fractions)[:, None], bond_share]
    return columns + [lengths] + _columns(ordered)


def _columns(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """List of (m,) arrays as one (m, k) array (empty list allowed)."""
    return [np.stack(arrays, axis=1)] if arrays else []


def _site_block(sums: _OrderingSums) -> list[np.ndarray]:
    """Count and element fractions per surface site class."""
    blocks = []
    for s in range(len(SITE_CLASSES)):
        counts = sums.atoms[:, :, 2 * sums.n_regions + s]
        total = counts.sum(axis=1, keepdims=True)
        blocks += [total, _safe_divide(counts, total)]
    return blocks


def _border_block(k: int, sums: _OrderingSums) -> list[np.ndarray]:
    """Bonds across border k (outer region k, inner k + 1) by ordered pair."""
    crossing = sums.bond_column(5, k).reshape(len(sums.bonds), -1)
    total = crossing.sum(axis=1, keepdims=True)
    return [total, _safe_divide(crossing, total)]


def _global_block(sums: _OrderingSums, elements) -> list[np.ndarray]:
    """Composition counts, atom and bond totals, bond-pair shares of the whole particle."""
    counts = sums.composition
    bonds = _unordered(sums.bonds[..., -1], _pairs(elements))
    n_bonds = bonds.sum(axis=1, keepdims=True)
    return [counts.sum(axis=1, keepdims=True), counts, n_bonds, _safe_divide(bonds, n_bonds)]


def _neighbour_counts(topology: Topology, codes: np.ndarray, n_elements: int) -> np.ndarray:
    """Neighbours of each element around every site, shape (m, n_atoms, E)."""
    n = topology.n_atoms
    onehot = (codes[:, :, None] == np.arange(n_elements)).astype(float)  # (m, n, E)
    counts = topology.adjacency @ onehot.transpose(1, 0, 2).reshape(n, -1)
    return np.rint(counts).astype(int).reshape(n, len(codes), n_elements).transpose(1, 0, 2)


def _neighbour_block(r: int, region: str, topology: Topology, codes: np.ndarray,
                     counts: np.ndarray, n_elements: int) -> list[np.ndarray]:
    """Region ``r``'s neighbour-count columns; order matches :func:`_neighbour_names`."""
    groups = neighbour_count_groups(region)
    sites = np.flatnonzero(topology.region == r)
    group = topology.site_class[sites] if region == "surface" else np.zeros(len(sites), int)
    member = (group[:, None] == np.arange(len(groups))).astype(float)  # (sites, groups)
    size = member.sum(axis=0)
    codes = codes[:, sites]  # the region's sites only; float: the products below are BLAS
    squared = counts[:, sites, :].astype(float) ** 2
    columns = [((codes == a) * squared[:, :, b]) @ member
               for a, b in permutations(range(n_elements), 2)]  # each (m, groups)
    if not columns:
        return []
    means = _safe_divide(np.stack(columns, axis=2), size[None, :, None])
    return [means.reshape(len(codes), -1)]


def _describe_chunk(topology: Topology, codes: np.ndarray, settings) -> np.ndarray:
    """Descriptor rows of one chunk of orderings."""
    elements = settings.elements
    sums = _OrderingSums.of(topology, codes, len(elements))
    blocks = {
        region: _region_block(r, sums, elements) for r, region in enumerate(topology.region_names)
    }
    blocks["surface"] += _site_block(sums)
    if settings.neighbour_counts:
        counts = _neighbour_counts(topology, codes, len(elements))
        for r, region in enumerate(topology.region_names):
            blocks[region] += _neighbour_block(r, region, topology, codes, counts,
                                               len(elements))
    borders = range(sums.n_regions - 1)
    blocks["cross-region"] = [column for k in borders for column in _border_block(k, sums)]
    blocks["global"] = _global_block(sums, elements)
    return np.hstack([np.hstack(columns) for columns in blocks.values()])


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def describe_orderings(
    topology: Topology, codes: np.ndarray, settings: DescriptorSettings, expansions=None
) -> np.ndarray:
    """Descriptors of many orderings that share one geometry.

    Parameters
    ----------
    topology : Topology
        Built with the same layer settings (e.g. ``Topology.from_atoms(atoms, settings)``).
    codes : ndarray of int, shape (n_orderings, n_atoms) or (n_atoms,)
        Indices into ``settings.elements``.
    settings : DescriptorSettings
    expansions : list of strata.environments.PairExpansion, optional
        :func:`expansions_of` ``topology``; when not given, featomic expands each ordering
        directly (right for a few orderings of a relaxed geometry, slow for a pool).

    Returns
    -------
    ndarray, shape (n_orderings, len(feature_names(settings)))
    """
    codes = np.atleast_2d(np.asarray(codes, dtype=np.int8))
    if codes.shape[1] != topology.n_atoms:
        raise ValueError(f"codes have {codes.shape[1]} sites, topology {topology.n_atoms}")
    if codes.size and (codes.min() < 0 or codes.max() >= len(settings.elements)):
        raise ValueError("codes must index settings.elements")
    if expansions is None:  # a geometry described once: no pair coefficients
        expansions = expansions_of(topology, settings, lattice=False)
    out = np.empty((len(codes), len(feature_names(settings))))
    for chunk in _chunks(len(codes), settings.chunk_size):
        out[chunk] = np.hstack([_describe_chunk(topology, codes[chunk], settings)]
                               + [e.describe(codes[chunk]) for e in expansions])
    return out
