"""Tests of strata.environments: the local (SOAP-like) and long-range (LODE) blocks."""

import numpy as np
import pytest
from ase.cluster import Icosahedron, Octahedron
from featomic import LodeSphericalExpansion, SphericalExpansion
from scipy.spatial.transform import Rotation

from strata.descriptors import (
    describe_orderings,
    expansions_of,
    feature_names,
    region_of_feature,
)
from strata.environments import PairExpansion, block_names, in_cube, invariant_names
from strata.featurizer import Featurizer, describe_many
from strata.layers import Topology
from strata.settings import DescriptorSettings, LocalSettings, LongRangeSettings

ALL = DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["layers", "local", "long_range"]})
SMALL_LONG_RANGE = LongRangeSettings(vacuum=6.0, max_radial=1, max_angular=1)


@pytest.fixture(scope="module")
def ico55():
    return Icosahedron("Pt", 3)


def orderings(n_atoms, n, seed=0, n_elements=2):
    return np.random.default_rng(seed).integers(0, n_elements, size=(n, n_atoms))


def featomic_coefficients(atoms, calculator, block, elements):
    """featomic's own expansion of ``atoms``: per l, (n_atoms, n_elements, 2l + 1, n_radial)."""
    numbers = [int(z) for z in np.unique(atoms.numbers)]
    out = [np.zeros((len(atoms), len(elements), 2 * degree + 1, block.max_radial + 1))
           for degree in range(block.max_angular + 1)]
    for key, values in calculator(**block.hypers()).compute(atoms).items():
        neighbour = numbers.index(int(key["neighbor_type"]))
        out[int(key["o3_lambda"])][values.samples.column("atom"), neighbour] = values.values
    return out


@pytest.mark.parametrize("block", [LocalSettings(), SMALL_LONG_RANGE], ids=["local", "long_range"])
def test_pair_coefficients_sum_to_featomics_expansion_of_each_ordering(ico55, block):
    topology = Topology.from_atoms(ico55, ALL)
    codes = orderings(len(ico55), 3)
    ours = PairExpansion(topology, block, ["Pt", "Au"]).expansion(codes)
    direct = PairExpansion(topology, block, ["Pt", "Au"], lattice=False).expansion(codes)
    calculator = SphericalExpansion if block.name == "local" else LodeSphericalExpansion
    for row, ordering in enumerate(codes):
        atoms = ico55.copy()
        atoms.symbols = np.array(["Pt", "Au"])[ordering]
        if block.name == "long_range":
            atoms = in_cube(atoms, block.vacuum)
        reference = featomic_coefficients(atoms, calculator, block, ["Pt", "Au"])
        for degree, coefficients in enumerate(reference):
            scale = np.abs(coefficients).max()
            assert np.allclose(ours[degree][row], coefficients, atol=1e-9 * scale)
            assert np.allclose(direct[degree][row], coefficients, atol=1e-12 * scale)


def test_names_are_fixed_length_region_prefixed_and_match_the_rows(ico55):
    names = feature_names(ALL)
    assert len(names) == len(set(names))
    local = [n for n in names if ".local." in n]
    assert len(local) == 3 * 2 * (ALL.local.shells + 1) * len(invariant_names(ALL.local, "ab"))
    assert local == block_names(ALL.local, ALL.elements, ALL.region_names)
    assert {region_of_feature(n) for n in local} == {"surface", "intermediate", "core"}
    rows = describe_orderings(Topology.from_atoms(ico55, ALL), orderings(55, 4), ALL)
    assert rows.shape == (4, len(names)) and np.isfinite(rows).all()
    ternary = DescriptorSettings.from_config(["Pt", "Au", "Cu"], {"blocks": ["layers", "local"]})
    assert len(feature_names(ternary)) > len(feature_names(
        DescriptorSettings(elements=["Pt", "Au", "Cu"])))


def test_local_block_invariant_to_rotation_translation_and_atom_order(ico55):
    settings = DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["layers", "local"]})
    codes = orderings(55, 3, seed=1)
    rows = describe_orderings(Topology.from_atoms(ico55, settings), codes, settings)
    moved = ico55.copy()
    moved.positions = Rotation.from_rotvec([0.3, -1.1, 0.7]).apply(moved.positions) + [3, -2, 9]
    order = np.random.default_rng(4).permutation(55)
    moved = moved[order]
    rows_moved = describe_orderings(Topology.from_atoms(moved, settings), codes[:, order],
                                    settings)
    assert np.allclose(rows, rows_moved, atol=1e-10)


def test_long_range_block_nearly_invariant_to_rotation(ico55):
    """LODE needs a periodic cell: its images leave a small orientation dependence."""
    settings = DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["layers", "long_range"]})
    codes = orderings(55, 2, seed=2)
    rows = describe_orderings(Topology.from_atoms(ico55, settings), codes, settings)
    moved = ico55.copy()
    moved.rotate(37, (1, 2, 3))
    rows_moved = describe_orderings(Topology.from_atoms(moved, settings), codes, settings)
    names = np.array(feature_names(settings))
    potential = np.array([".long_range." in n and ".l0." in n for n in names])
    scale = np.abs(rows[:, potential]).max(axis=0)
    assert (np.abs(rows - rows_moved)[:, potential].max(axis=0) <= 0.01 * scale).all()


def test_local_block_sees_chemical_order_the_layers_miss():
    """Two orderings with the same per-region composition and bond counts can differ in
    their second-shell neighbours: the local block tells them apart."""
    atoms = Octahedron("Pt", 4)
    settings = DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["layers", "local"]})
    topology = Topology.from_atoms(atoms, settings)
    names = feature_names(settings)
    layers = np.array([".local." not in n for n in names])
    rows = describe_orderings(topology, orderings(len(atoms), 200, seed=3), settings)
    assert np.linalg.matrix_rank(rows[:, ~layers]) > np.linalg.matrix_rank(rows[:, layers])


def test_pool_row_equals_training_row_with_every_block(ico55):
    """The featurizer's pair coefficients (the pool's path) give the row featomic's direct
    expansion gives the same structure (a relaxed structure's path), and training rows are
    pool rows."""
    featurizer = Featurizer([ico55], ALL)
    codes = orderings(55, 3, seed=5)
    structures = []
    for ordering in codes:
        atoms = ico55.copy()
        atoms.symbols = np.array(ALL.elements)[ordering]
        atoms.info["template"] = 0
        structures.append(atoms)
    pool = featurizer(0, codes)
    assert np.array_equal(featurizer.describe_results(structures), pool)
    assert np.allclose(describe_many(structures, ALL).to_numpy(), pool, atol=1e-12)


def test_blocks_config_is_checked():
    from strata.config import ConfigError

    with pytest.raises(ConfigError, match="descriptors.blocks"):
        DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["local"]})
    with pytest.raises(ConfigError, match="descriptors.blocks"):
        DescriptorSettings.from_config(["Pt", "Au"], {"blocks": ["layers", "soap"]})
    with pytest.raises(ConfigError, match="descriptors.local.shells"):
        DescriptorSettings.from_config(["Pt", "Au"], {"local": {"shells": -1}})


@pytest.mark.parametrize("elements", [["Pt", "Au", "Cu"], ["Pt", "Au", "Cu", "Ag"]])
def test_lattice_shortcut_equals_featomics_direct_expansion_for_many_elements(ico55, elements):
    """The pool's path writes the last element as the total minus the others; with three and
    four elements its rows still equal those of featomic's direct expansion."""
    settings = DescriptorSettings.from_config(elements, {"blocks": ["layers", "local"]})
    topology = Topology.from_atoms(ico55, settings)
    codes = orderings(55, 3, seed=7, n_elements=len(elements))
    lattice = describe_orderings(topology, codes, settings, expansions_of(topology, settings))
    direct = describe_orderings(topology, codes, settings)  # no pair coefficients
    assert np.allclose(lattice, direct, atol=1e-10)
