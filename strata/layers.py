"""Neighbour graph, surface detection, layer index and regions of one geometry.

A :class:`Topology` holds everything about a nanoparticle that depends on the
positions only, not on which element sits on which site: the bonds, the
coordination numbers, the surface atoms, the topological layer of every atom
(breadth-first graph distance from the surface, surface = 0), the region of
every atom (surface / intermediate / core) and the surface site classes.
All chemical orderings of one template share one :class:`Topology`.

Notes
-----
Bond factor. Atoms *i* and *j* are bonded when
``d_ij < bond_factor * (r_i + r_j)`` with *r* from
:func:`ase.neighborlist.natural_cutoffs`. On ideal close-packed clusters any
factor between about 1.1 and 1.4 gives the same graph (first shell at
0.95-1.05, second shell at about 1.47 in these reduced units). Relaxed,
irregular particles have a broad, split first shell: on the 999 relaxed
Al-Co-Fe-Ni-Cu seed clusters the reduced pair distances peak at 0.98 and 1.13
and the minimum before the second shell lies near 1.35, so the default 1.2
cuts real bonds there and leaves most interior atoms under-coordinated.
Use :func:`suggest_bond_factor` on relaxed data, and/or the geometric
surface test (``surface_method="geometric"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree

from strata.settings import LayerSettings, schema_default

SITE_CLASSES = ("vertex", "edge", "facet")


def bond_graph(
    atoms: Atoms, bond_factor: float = schema_default("descriptors", "bond_factor")
) -> tuple[np.ndarray, np.ndarray]:
    """Unique bonds ``d_ij < f (r_i + r_j)`` of a structure.

    Finite particles use a k-d tree (:class:`scipy.spatial.cKDTree`); periodic
    structures fall back to :func:`ase.neighborlist.neighbor_list`.

    Returns
    -------
    bonds : ndarray of int, shape (n_bonds, 2)
        Atom index pairs ``i < j``, each bond once.
    lengths : ndarray of float, shape (n_bonds,)
    """
    cutoffs = np.array(natural_cutoffs(atoms, mult=bond_factor))
    if atoms.pbc.any():
        i, j, d = neighbor_list("ijd", atoms, cutoffs)
        once = i < j
        return np.column_stack([i[once], j[once]]), d[once]
    positions = atoms.get_positions()
    pairs = cKDTree(positions).query_pairs(2 * cutoffs.max(), output_type="ndarray")
    pairs = pairs.reshape(-1, 2)
    lengths = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)
    bonded = lengths < cutoffs[pairs[:, 0]] + cutoffs[pairs[:, 1]]
    return np.sort(pairs[bonded], axis=1), lengths[bonded]


def _fibonacci_sphere(n_points: int) -> np.ndarray:
    """Nearly uniform unit vectors on the sphere."""
    k = np.arange(n_points) + 0.5
    z = 1.0 - 2.0 * k / n_points
    phi = np.pi * (1.0 + 5**0.5) * k
    rho = np.sqrt(1.0 - z**2)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])


def exposed_atoms(
    positions: np.ndarray,
    radii: np.ndarray,
    probe_radius: float,
    n_directions: int = 96,
    min_exposure: float = 0.02,
) -> np.ndarray:
    """Geometric surface test: atoms with a non-zero probe-accessible solid angle.

    A probe sphere is placed touching atom *i* in ``n_directions`` directions
    (Shrake-Rupley points at distance ``radii[i] + probe_radius``); a direction
    is open when the probe overlaps no other atom. An atom is exposed when the
    open share of directions exceeds ``min_exposure``. Independent of the bond
    cutoff, so it cross-checks the coordination test on relaxed particles.

    Parameters
    ----------
    positions : ndarray, shape (n_atoms, 3)
    radii : ndarray, shape (n_atoms,)
        Atomic sphere radii (e.g. half the mean bond length of each atom).
    probe_radius : float
    n_directions : int
    min_exposure : float

    Returns
    -------
    ndarray of bool, shape (n_atoms,)
    """
    n_atoms = len(positions)
    directions = _fibonacci_sphere(n_directions)
    points = positions[:, None, :] + (radii[:, None, None] + probe_radius) * directions
    points = points.reshape(-1, 3)
    owner = np.repeat(np.arange(n_atoms), n_directions)
    reach = radii.max() + probe_radius
    pairs = cKDTree(points).sparse_distance_matrix(
        cKDTree(positions), reach, output_type="coo_matrix"
    )
    point, atom, distance = pairs.row, pairs.col, pairs.data
    blocks = (atom != owner[point]) & (distance < radii[atom] + probe_radius - 1e-9)
    blocked = np.zeros(len(points), dtype=bool)
    blocked[point[blocks]] = True
    open_share = 1.0 - blocked.reshape(n_atoms, n_directions).mean(axis=1)
    return open_share > min_exposure


def graph_distance_from(sources: np.ndarray, bonds: np.ndarray, n_atoms: int) -> np.ndarray:
    """Breadth-first graph distance of every atom from the nearest source atom.

    A virtual node bonded to all sources makes this one BFS. Atoms not
    connected to any source get the largest finite distance found.
    """
    virtual = n_atoms
    src = np.concatenate([bonds[:, 0], np.full(len(sources), virtual)])
    dst = np.concatenate([bonds[:, 1], sources])
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n_atoms + 1, n_atoms + 1))
    distance = shortest_path(graph, directed=False, unweighted=True, indices=virtual)[:-1] - 1
    finite = np.isfinite(distance)
    distance[~finite] = distance[finite].max() if finite.any() else 0
    return distance.astype(int)


def suggest_bond_factor(
    structures: list[Atoms], search: tuple[float, float] = (1.1, 1.45), bin_width: float = 0.025
) -> float:
    """Bond factor at the minimum of the reduced pair-distance histogram.

    Reduced distances ``d_ij / (r_i + r_j)`` of all pairs are histogrammed; the
    least populated bin inside ``search`` separates the first coordination
    shell from the second.

    Parameters
    ----------
    structures : list of ase.Atoms
    search : (float, float)
        Window of factors to search.
    bin_width : float

    Returns
    -------
    float
    """
    reduced = []
    for atoms in structures:
        radii = np.array(natural_cutoffs(atoms))
        pairs, d = bond_graph(atoms, search[1])
        reduced.append(d / radii[pairs].sum(axis=1))
    edges = np.arange(search[0], search[1] + bin_width, bin_width)
    counts, edges = np.histogram(np.concatenate(reduced), bins=edges)
    low = np.argmin(counts)
    return float(0.5 * (edges[low] + edges[low + 1]))


@dataclass(frozen=True, eq=False)
class Topology:
    """Bonds, surface, layers and regions of one geometry.

    Build with :meth:`from_atoms`. Bonds are oriented so that
    ``layer[bonds[:, 0]] <= layer[bonds[:, 1]]`` (outer atom first).

    Attributes
    ----------
    positions : ndarray, shape (n_atoms, 3)
    settings : LayerSettings
    bonds : ndarray of int, shape (n_bonds, 2)
    bond_lengths : ndarray, shape (n_bonds,)
    coordination : ndarray of int, shape (n_atoms,)
    surface : ndarray of bool, shape (n_atoms,)
        Surface atoms by ``settings.surface_method``.
    layer : ndarray of int, shape (n_atoms,)
        Graph distance from the surface; surface = 0.
    region : ndarray of int, shape (n_atoms,)
        Index into ``region_names``.
    site_class : ndarray of int, shape (n_atoms,)
        Index into :data:`SITE_CLASSES` for surface atoms, -1 elsewhere.
    """

    positions: np.ndarray
    settings: LayerSettings
    bonds: np.ndarray
    bond_lengths: np.ndarray
    coordination: np.ndarray
    surface: np.ndarray
    layer: np.ndarray
    region: np.ndarray
    site_class: np.ndarray

    @classmethod
    def from_atoms(cls, atoms: Atoms, settings: LayerSettings | None = None) -> Topology:
        """Topology of ``atoms`` (element symbols only enter through the bond radii).

        Parameters
        ----------
        atoms : ase.Atoms
        settings : LayerSettings or any object with its attributes
            (e.g. :class:`strata.settings.DescriptorSettings`); defaults if None.
        """
        settings = settings or LayerSettings()
        n_atoms = len(atoms)
        bonds, lengths = bond_graph(atoms, settings.bond_factor)
        coordination = np.bincount(bonds.ravel(), minlength=n_atoms)
        positions = atoms.get_positions()
        surface = _surface_mask(settings, positions, bonds, lengths, coordination)
        if not surface.any():
            raise ValueError("no surface atoms found: is this a finite particle?")
        layer = graph_distance_from(np.flatnonzero(surface), bonds, n_atoms)
        outer_first = layer[bonds[:, 0]] > layer[bonds[:, 1]]
        bonds[outer_first] = bonds[outer_first, ::-1]
        return cls(
            positions=positions,
            settings=settings,
            bonds=bonds,
            bond_lengths=lengths,
            coordination=coordination,
            surface=surface,
            layer=layer,
            region=regions_of_layers(layer, settings.intermediate_layers),
            site_class=_site_classes(coordination, surface, settings.site_bins),
        )

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.positions)

    @property
    def region_names(self) -> tuple[str, ...]:
        """Names of the region indices in :attr:`region`."""
        return self.settings.region_names

    @property
    def region_labels(self) -> np.ndarray:
        """Region name of every atom (for colouring structures)."""
        return np.asarray(self.region_names)[self.region]

    @property
    def region_counts(self) -> dict[str, int]:
        """Atoms per region (zero for an empty region)."""
        counts = np.bincount(self.region, minlength=len(self.region_names))
        return dict(zip(self.region_names, counts.tolist(), strict=True))

    @property
    def coordination_surface(self) -> np.ndarray:
        """Surface by coordination below ``bulk_coordination``."""
        return self.coordination < self.settings.bulk_coordination

    @cached_property
    def adjacency(self):
        """Symmetric 0/1 bond matrix, shape (n_atoms, n_atoms) (scipy.sparse CSR)."""
        i, j = self.bonds.T
        return coo_matrix((np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])),
                          shape=(self.n_atoms, self.n_atoms)).tocsr()

    @cached_property
    def geometric_surface(self) -> np.ndarray:
        """Surface by the probe-sphere test (:func:`exposed_atoms`)."""
        return _exposed(self.positions, self.bonds, self.bond_lengths)

    @property
    def surface_disagreement(self) -> int:
        """Atoms where the coordination and the geometric surface tests disagree."""
        return int((self.coordination_surface != self.geometric_surface).sum())


def regions_of_layers(layer: np.ndarray, intermediate_layers: int) -> np.ndarray:
    """Region index per atom: 0 surface, then intermediate (1..k), then core (> k)."""
    if intermediate_layers == 0:
        return (layer > 0).astype(int)
    return np.digitize(layer, [1, intermediate_layers + 1])


def _site_classes(coordination: np.ndarray, surface: np.ndarray, bins) -> np.ndarray:
    """Vertex / edge / facet index of surface atoms by coordination, -1 elsewhere."""
    return np.where(surface, np.digitize(coordination, bins), -1)


def _exposed(positions: np.ndarray, bonds: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`exposed_atoms` with radii of half each atom's mean bond length."""
    n_atoms = len(positions)
    ends = bonds.ravel()
    total = np.bincount(ends, weights=np.repeat(lengths, 2), minlength=n_atoms)
    count = np.bincount(ends, minlength=n_atoms)
    typical = lengths.mean() if len(lengths) else 2.5
    radii = 0.5 * np.where(count > 0, total / np.maximum(count, 1), typical)
    return exposed_atoms(positions, radii, probe_radius=float(radii.mean()))


def _surface_mask(settings, positions, bonds, lengths, coordination) -> np.ndarray:
    """Surface atoms by the method named in ``settings.surface_method``."""
    by_coordination = coordination < settings.bulk_coordination
    if settings.surface_method == "coordination":
        return by_coordination
    by_geometry = _exposed(positions, bonds, lengths)
    if settings.surface_method == "geometric":
        return by_geometry
    return by_coordination & by_geometry
