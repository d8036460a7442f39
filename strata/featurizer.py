"""Descriptor tables of structures and of orderings (:mod:`strata.descriptors` is the core).

* :func:`describe` / :func:`describe_many`: structures of any geometry, ideal or relaxed
  (reference results): one :class:`strata.layers.Topology` per distinct geometry.
* :class:`Featurizer`: orderings of the campaign's fixed templates. The search scores
  hundreds of thousands of orderings per round on a few templates: the neighbour graph and
  layers of each template are built once, and only the occupations change. A campaign's
  reference results, relaxed or not, are described by their lattice ordering (template and
  element per site, :meth:`Featurizer.describe_results`): the surrogate is trained in the
  space its pool is scored in, the on-lattice view of cluster expansions and the TOP method.
  What the relaxation did is kept apart (:meth:`Featurizer.relaxation`), for the report.
"""

import numpy as np
import pandas as pd
from ase import Atoms
from ase.neighborlist import natural_cutoffs

from strata import prototypes as prototypes_module
from strata.descriptors import describe_orderings, expansions_of, feature_names
from strata.environments import PairExpansion
from strata.layers import Topology
from strata.orderings import codes_from_symbols
from strata.settings import DescriptorSettings


class Featurizer:
    """Descriptors of orderings of the campaign's templates.

    Parameters
    ----------
    templates : list[ase.Atoms]
    settings : strata.settings.DescriptorSettings
    pairs : dict of str to ndarray, optional
        :meth:`pair_coefficients` computed before (once per campaign, rule
        ``pair_coefficients``); without them each template's are computed on first use.
    """

    def __init__(self, templates, settings, pairs=None):
        self.settings = settings
        self.names = feature_names(settings)
        self.topologies = [Topology.from_atoms(t, settings) for t in templates]
        self._expansions = {}  # per template, built on first use (LODE's cost seconds)
        self._local = {}  # per template, the local expansion of the prototypes
        self._pairs = {}  # per template, block name → pair coefficients given
        for key, array in (pairs or {}).items():
            template, block = _pair_key(key)
            self._pairs.setdefault(template, {})[block] = array
        for template, given in self._pairs.items():
            positions = given.pop("positions", None)
            if not (template < len(self.topologies) and positions is not None
                    and _same_positions(positions, self.topologies[template].positions)):
                raise ValueError(f"the pair coefficients given for template {template} were "
                                 "computed on another geometry: delete the campaign's "
                                 "pair_coefficients.npz and run again")

    def __call__(self, template, codes, prototypes=None):
        """Feature matrix of orderings ``codes`` (2-D) of template index ``template``, columns
        :meth:`names_with` ``prototypes`` (a :class:`strata.prototypes.Prototypes` or None).
        With prototypes, chunk by chunk: the local block's per-atom invariants of a chunk serve
        its descriptor and its prototype features
        (:meth:`strata.environments.PairExpansion.invariants` keeps the last chunk's)."""
        if prototypes is None or not len(codes):
            X = describe_orderings(self.topologies[template], codes, self.settings,
                                   self._expansions_of(template))
            return X if prototypes is None else np.empty((0, len(self.names_with(prototypes))))
        return np.concatenate([
            np.hstack([self(template, codes[s:s + _CHUNK]),
                       self.prototype_features(template, codes[s:s + _CHUNK], prototypes)])
            for s in range(0, len(codes), _CHUNK)])

    def _expansions_of(self, template):
        """The environment blocks of a template (:func:`expansions_of`), built on first use."""
        if template not in self._expansions:
            self._expansions[template] = expansions_of(self.topologies[template], self.settings,
                                                       pairs=self._pairs.get(template))
        return self._expansions[template]

    def pair_coefficients(self):
        """The ordering-independent pair coefficients of every template and environment
        block (:attr:`strata.environments.PairExpansion.pairs`), keyed ``"<template>.<block>"``:
        what the ``pairs`` of another Featurizer of the same campaign take, with each
        template's ``"<template>.positions"`` (checked there). Empty for the layers alone."""
        out = {}
        for template, topology in enumerate(self.topologies):
            expansions = self._expansions_of(template)
            out.update({f"{template}.{e.block.name}": e.pairs for e in expansions})
            if expansions:
                out[f"{template}.positions"] = topology.positions
        return out

    def names_with(self, prototypes=None):
        """Column names of :meth:`__call__` with ``prototypes``."""
        return list(self.names) + (prototypes.names if prototypes is not None else [])

    def environments(self, template, codes):
        """Per-atom environment vectors (n, n_atoms, f) of orderings ``codes`` of a template:
        the local block's invariants and the central element
        (:func:`strata.prototypes.environments`); the local block of the descriptor when it
        is in use."""
        if template not in self._local:
            known = [e for e in self._expansions_of(template) if e.block.name == "local"]
            self._local[template] = known[0] if known else PairExpansion(
                self.topologies[template], self.settings.local, self.settings.elements)
        expansion = self._local[template]
        chunks = [expansion.invariants(codes[s:s + _CHUNK]) for s in range(0, len(codes), _CHUNK)]
        return prototypes_module.environments(np.concatenate(chunks), codes,
                                              len(self.settings.elements))

    def prototype_features(self, template, codes, prototypes):
        """Per-region shares of atoms nearest each prototype (:attr:`Prototypes.names`)."""
        region = self.topologies[template].region
        return np.concatenate([
            prototypes.features(self.environments(template, codes[s:s + _CHUNK]), region)
            for s in range(0, len(codes), _CHUNK)]) if len(codes) else np.empty(
                (0, len(prototypes.names)))

    def learn_prototypes(self, templates, codes, ids, count, seed):
        """Prototypes (:func:`strata.prototypes.learn`) of the environments of structures.

        Parameters
        ----------
        templates : array_like of int
            Template index of every structure.
        codes : list of ndarray
            Lattice ordering of every structure.
        ids : array_like of str
            Structure ids (the exemplars name them).
        count : int
            ``model.prototypes``.
        seed : int
        """
        templates = np.asarray(templates, dtype=int)
        vectors, owners = [], []
        for template in np.unique(templates):
            members = np.flatnonzero(templates == template)
            block = self.environments(template, np.stack([codes[i] for i in members]))
            vectors.append(block.reshape(-1, block.shape[-1]))
            owners += [(ids[i], atom) for i in members for atom in range(block.shape[1])]
        return prototypes_module.learn(np.concatenate(vectors), owners, count,
                                       len(self.settings.elements), self.settings.region_names,
                                       seed)

    def describe_results(self, results):
        """Feature matrix of structures by their lattice ordering, whatever their geometry.

        Parameters
        ----------
        results : list[ase.Atoms]
            Structures of the campaign's templates, ``info["template"]`` naming each one's
            template (relaxed or not: only the element on each site counts).

        Returns
        -------
        ndarray, shape (len(results), len(names))
            Row ``i`` equals ``self(template, codes)`` of structure ``i``: the row the same
            ordering gets as a candidate of the pool.
        """
        out = np.empty((len(results), len(self.names)))
        templates = np.array([int(atoms.info["template"]) for atoms in results], dtype=int)
        for template in np.unique(templates):
            members = np.flatnonzero(templates == template)
            codes = np.stack([_codes(results[i], self.settings) for i in members])
            out[members] = self(template, codes)
        return out

    def relaxation(self, results):
        """What relaxation did to each structure, per region of its template.

        Parameters
        ----------
        results : list[ase.Atoms]
            As for :meth:`describe_results`.

        Returns
        -------
        pandas.DataFrame
            One row per structure: ``relaxation displacement <region> (Å)``, the mean
            distance of the region's atoms from their ideal site (net translation removed),
            and ``relaxation bond change <region> (%)``, the mean relative change of the
            length of the template's bonds whose outer atom lies in the region (positive:
            expanded). Zero for an unrelaxed structure.
        """
        rows = []
        for atoms in results:
            topology = self.topologies[int(atoms.info["template"])]
            rows.append(_relaxation_row(topology, atoms.get_positions()))
        return pd.DataFrame(rows)

    def shells(self, template):
        """Site shell per atom: surface site class (0–2), then 3 + sub-surface layer."""
        topology = self.topologies[template]
        return np.where(topology.site_class >= 0, topology.site_class, 2 + topology.layer)

    def coordination(self, template):
        """Coordination number per site."""
        return self.topologies[template].coordination


def describe(atoms: Atoms, settings: DescriptorSettings) -> pd.Series:
    """Descriptor of one structure (any geometry, ideal or relaxed)."""
    topology = Topology.from_atoms(atoms, settings)
    row = describe_orderings(topology, _codes(atoms, settings), settings)[0]
    return pd.Series(row, index=feature_names(settings))


def geometry_key(atoms: Atoms, tolerance: float = 1e-4) -> bytes:
    """Key equal for structures with the same positions (to ``tolerance``, Angstrom)
    and the same bond radii on every site, hence the same neighbour graph."""
    positions = np.round(atoms.get_positions() / tolerance).astype(np.int64)
    radii = np.round(np.array(natural_cutoffs(atoms)) / tolerance).astype(np.int64)
    return positions.tobytes() + radii.tobytes()


def describe_many(
    structures: list[Atoms], settings: DescriptorSettings, tolerance: float = 1e-4
) -> pd.DataFrame:
    """Descriptors of many structures, one :class:`Topology` per distinct geometry.

    Structures with the same positions (to ``tolerance``, Angstrom) and the
    same bond radii per site (:func:`geometry_key`; e.g. orderings of Pt and Au,
    whose radii are equal) share the neighbour graph and layers; their
    orderings are described together. Rows equal :func:`describe` of each structure.

    Returns
    -------
    pandas.DataFrame
        One row per structure, in input order, columns :func:`feature_names`.
    """
    groups: dict[bytes, list[int]] = {}
    for index, atoms in enumerate(structures):
        groups.setdefault(geometry_key(atoms, tolerance), []).append(index)
    out = np.empty((len(structures), len(feature_names(settings))))
    for members in groups.values():
        topology = Topology.from_atoms(structures[members[0]], settings)
        codes = np.stack([_codes(structures[i], settings) for i in members])
        out[members] = describe_orderings(topology, codes, settings)
    return pd.DataFrame(out, columns=feature_names(settings))


def _same_positions(first, second, tolerance=1e-6):
    """Whether two position arrays describe the same sites in the same order."""
    first, second = np.asarray(first), np.asarray(second)
    return first.shape == second.shape and np.allclose(first, second, atol=tolerance)


def _pair_key(key):
    """``(template, block)`` of a :meth:`Featurizer.pair_coefficients` key."""
    template, _, block = str(key).partition(".")
    if not template.isdigit() or not block:
        raise ValueError(f"not a pair-coefficient key (<template>.<block>): {key!r}")
    return int(template), block


def _codes(atoms, settings):
    """Ordering codes of a structure (indices into ``settings.elements``)."""
    return codes_from_symbols(atoms.get_chemical_symbols(), settings.elements)


#: orderings whose per-atom environments are held at once
_CHUNK = 256

#: prefix of the relaxation columns of a labelled table (reported, never a feature)
RELAXATION_PREFIX = "relaxation "


def _relaxation_row(topology, positions):
    """Per-region displacement and bond-length change of ``positions`` from ``topology``."""
    ideal = topology.positions
    shift = positions - ideal
    shift -= shift.mean(axis=0)  # a GPAW box centres the particle: drop the translation
    displacement = np.linalg.norm(shift, axis=1)
    i, j = topology.bonds.T
    length = np.linalg.norm(positions[i] - positions[j], axis=1)
    change = 100.0 * (length / topology.bond_lengths - 1.0)
    bond_region = topology.region[i]  # bonds run outer atom first
    row = {}
    for index, name in enumerate(topology.region_names):
        atoms_in, bonds_in = topology.region == index, bond_region == index
        row[f"{RELAXATION_PREFIX}displacement {name} (Å)"] = (
            float(displacement[atoms_in].mean()) if atoms_in.any() else 0.0)
        row[f"{RELAXATION_PREFIX}bond change {name} (%)"] = (
            float(change[bonds_in].mean()) if bonds_in.any() else 0.0)
    return row
