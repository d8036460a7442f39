"""Tests of strata.layers: neighbour graph, surface, layers and regions."""


import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.optimize import FIRE
from conftest import SEED_DATA, seed_structures

from strata.layers import Topology, suggest_bond_factor
from strata.settings import LayerSettings

# (cluster, expected atoms in surface / intermediate / core with k = 1)
CLUSTERS = {
    "ico13": (lambda: Icosahedron("Pt", 2), (12, 1, 0)),
    "ico55": (lambda: Icosahedron("Pt", 3), (42, 12, 1)),
    "ico147": (lambda: Icosahedron("Pt", 4, latticeconstant=4.0), (92, 42, 13)),
    "octahedron79": (lambda: Octahedron("Pt", 5, 1), (60, 18, 1)),
    "decahedron39": (lambda: Decahedron("Pt", 3, 2, 0), (32, 7, 0)),
}


@pytest.fixture(scope="module")
def relaxed_cluster():
    """A random Pt-Au 55-atom icosahedron, rattled and relaxed with EMT."""
    atoms = Icosahedron("Pt", 3)
    rng = np.random.default_rng(3)
    atoms.symbols[rng.permutation(55)[:27]] = "Au"
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=300)
    return atoms


@pytest.mark.parametrize("name", CLUSTERS)
@pytest.mark.parametrize("method", ["coordination", "geometric", "consensus"])
def test_region_counts_of_ideal_clusters(name, method):
    build, expected = CLUSTERS[name]
    topology = Topology.from_atoms(build(), LayerSettings(surface_method=method))
    assert tuple(topology.region_counts.values()) == expected
    assert topology.surface_disagreement == 0


def test_icosahedron147_layers_and_sites():
    topology = Topology.from_atoms(CLUSTERS["ico147"][0]())
    assert np.bincount(topology.layer).tolist() == [92, 42, 12, 1]
    surface_sites = topology.site_class[topology.surface]
    assert np.bincount(surface_sites).tolist() == [12, 60, 20]  # vertex, edge, facet
    assert (topology.site_class[~topology.surface] == -1).all()
    assert set(topology.coordination[~topology.surface]) == {12}


def test_layers_are_bfs_distances():
    topology = Topology.from_atoms(Icosahedron("Pt", 5))
    i, j = topology.bonds.T
    # bonds are oriented outer atom first and never skip a layer
    assert set(topology.layer[j] - topology.layer[i]) == {0, 1}
    # every non-surface atom has a neighbour one layer further out
    outward = np.zeros(topology.n_atoms, bool)
    outward[j[topology.layer[j] == topology.layer[i] + 1]] = True
    assert (outward | topology.surface).all()


def test_intermediate_layers_setting():
    atoms = CLUSTERS["ico147"][0]()
    no_intermediate = Topology.from_atoms(atoms, LayerSettings(intermediate_layers=0))
    assert no_intermediate.region_names == ("surface", "core")
    assert no_intermediate.region_counts == {"surface": 92, "core": 55}
    thick = Topology.from_atoms(atoms, LayerSettings(intermediate_layers=2))
    assert thick.region_counts == {"surface": 92, "intermediate": 54, "core": 1}
    assert set(thick.region_labels) == {"surface", "intermediate", "core"}


def test_bulk_coordination_is_the_lattice_value_not_the_mode():
    # most atoms of a 55-atom icosahedron are on the surface: the mode of the
    # coordination (8) would call 30 edge atoms "bulk"
    topology = Topology.from_atoms(Icosahedron("Pt", 3))
    assert np.bincount(topology.coordination).argmax() == 8
    assert topology.surface.sum() == 42


def test_relaxed_emt_cluster_keeps_its_surface(relaxed_cluster):
    for method in ("coordination", "geometric"):
        topology = Topology.from_atoms(relaxed_cluster, LayerSettings(surface_method=method))
        assert topology.region_counts == {"surface": 42, "intermediate": 12, "core": 1}


def test_large_cluster_is_fast():
    atoms = Icosahedron("Pt", 9)  # 2057 atoms
    topology = Topology.from_atoms(atoms)
    assert topology.surface.sum() == 642
    assert topology.surface_disagreement == 0


def test_invalid_settings():
    with pytest.raises(ValueError, match="surface_method"):
        LayerSettings(surface_method="hull")
    with pytest.raises(ValueError, match="bond_factor"):
        LayerSettings(bond_factor=0)


@pytest.mark.skipif(not SEED_DATA.exists(), reason="seed data not present")
def test_seed_clusters_bond_factor_and_surface():
    structures = seed_structures(40)
    # the first/second shell minimum of relaxed Al-rich clusters is near 1.35, not 1.2
    assert 1.3 <= suggest_bond_factor(structures) <= 1.4
    for atoms in structures:
        geometric = Topology.from_atoms(atoms, LayerSettings(surface_method="geometric"))
        assert 38 <= geometric.surface.sum() <= 48
        assert geometric.region_counts["intermediate"] >= 7
