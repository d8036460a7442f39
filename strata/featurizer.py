"""Descriptor tables of structures and of orderings (:mod:`strata.descriptors` is the core).

* :func:`describe` / :func:`describe_many`: structures of any geometry, ideal or relaxed
  (reference results): one :class:`strata.layers.Topology` per distinct geometry.
* :class:`Featurizer`: orderings of the campaign's fixed templates. The search scores
  hundreds of thousands of orderings per round on a few templates: the neighbour graph and
  layers of each template are built once, and only the occupations change.
"""

import numpy as np
import pandas as pd
from ase import Atoms
from ase.neighborlist import natural_cutoffs

from strata.descriptors import describe_orderings, feature_names
from strata.layers import Topology
from strata.orderings import codes_from_symbols
from strata.settings import DescriptorSettings


class Featurizer:
    """Descriptors of orderings of the campaign's templates.

    Parameters
    ----------
    templates : list[ase.Atoms]
    settings : strata.settings.DescriptorSettings
    """

    def __init__(self, templates, settings):
        self.settings = settings
        self.names = feature_names(settings)
        self.topologies = [Topology.from_atoms(t, settings) for t in templates]

    def __call__(self, template, codes):
        """Feature matrix of orderings ``codes`` (2-D) of template index ``template``."""
        return describe_orderings(self.topologies[template], codes, self.settings)

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


def _codes(atoms, settings):
    """Ordering codes of a structure (indices into ``settings.elements``)."""
    return codes_from_symbols(atoms.get_chemical_symbols(), settings.elements)
