"""Tests of strata.descriptors: names, invariances, physics of the blocks."""


import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.optimize import FIRE
from conftest import SEED_DATA, seed_structures
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from strata.descriptors import (
    describe_orderings,
    feature_names,
    readable_name,
    region_of_feature,
)
from strata.featurizer import describe, describe_many
from strata.layers import SITE_CLASSES, Topology
from strata.orderings import codes_from_symbols
from strata.settings import DescriptorSettings

PTAU = DescriptorSettings(elements=["Pt", "Au"])


def random_alloy(atoms, n_au, seed):
    """Copy of ``atoms`` with ``n_au`` random sites turned to Au (rest Pt)."""
    atoms = atoms.copy()
    atoms.symbols[:] = "Pt"
    atoms.symbols[np.random.default_rng(seed).permutation(len(atoms))[:n_au]] = "Au"
    return atoms


def core_shell(atoms, core, shell, topology):
    """``core``@``shell``: the surface is ``shell``, everything below ``core``."""
    atoms = atoms.copy()
    atoms.symbols[:] = core
    atoms.symbols[topology.surface] = shell
    return atoms


@pytest.fixture(scope="module")
def ico147():
    return random_alloy(Icosahedron("Pt", 4, latticeconstant=4.0), 73, seed=0)


@pytest.fixture(scope="module")
def relaxed55():
    atoms = random_alloy(Icosahedron("Pt", 3), 27, seed=5)
    atoms.rattle(0.05, seed=2)
    atoms.calc = EMT()
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=300)
    atoms.calc = None
    return atoms


def test_feature_counts_and_names():
    names = feature_names(PTAU)
    assert len(names) == 77
    assert len(feature_names(DescriptorSettings(elements=["Al", "Co", "Fe", "Ni", "Cu"]))) == 323
    assert len(set(names)) == len(names)
    assert {region_of_feature(n) for n in names} == {
        "surface", "intermediate", "core", "cross-region", "global"
    }
    for example in ("surface.frac.Au", "core.wc.Pt-Au", "surface-intermediate.bonds.Au-Pt",
                    "global.count.Pt", "surface.site.vertex.frac.Au"):
        assert example in names
    with pytest.raises(ValueError):
        region_of_feature("frac.Au")


def test_vector_matches_names_and_is_finite(ico147):
    vector = describe(ico147, PTAU)
    assert list(vector.index) == feature_names(PTAU)
    assert np.isfinite(vector).all()
    assert vector["global.count.Au"] == 73 and vector["global.atoms"] == 147
    assert vector["surface.count"] == 92 and vector["core.count"] == 13
    assert vector["surface.site.facet.count"] == 20


def test_empty_core_is_zero_not_nan():
    vector = describe(random_alloy(Icosahedron("Pt", 2), 6, seed=1), PTAU)  # 13 atoms
    core = vector[[n for n in vector.index if region_of_feature(n) == "core"]]
    assert vector["core.count"] == 0
    assert (core == 0).all()
    assert len(vector) == 77


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shift=st.lists(st.floats(-50, 50), min_size=3, max_size=3),
)
def test_rotation_translation_permutation_invariance(relaxed55, seed, shift):
    rng = np.random.default_rng(seed)
    moved = relaxed55.copy()
    moved.positions = Rotation.random(random_state=seed).apply(moved.positions) + shift
    moved = moved[rng.permutation(len(moved))]
    reference = describe(relaxed55, PTAU).to_numpy()
    assert np.allclose(describe(moved, PTAU).to_numpy(), reference, rtol=0, atol=1e-9)


def test_swapping_same_element_changes_nothing(ico147):
    topology = Topology.from_atoms(ico147, PTAU)
    codes = codes_from_symbols(ico147.get_chemical_symbols(), PTAU.elements)
    au = np.flatnonzero(codes == 1)
    swapped = codes.copy()
    swapped[[au[0], au[-1]]] = swapped[[au[-1], au[0]]]
    pair = describe_orderings(topology, np.stack([codes, swapped]), PTAU)
    assert np.array_equal(pair[0], pair[1])


def test_core_shell_inversion_changes_the_expected_blocks():
    atoms = Icosahedron("Pt", 4, latticeconstant=4.0)
    topology = Topology.from_atoms(atoms, PTAU)
    pt_at_au = describe(core_shell(atoms, "Pt", "Au", topology), PTAU)
    au_at_pt = describe(core_shell(atoms, "Au", "Pt", topology), PTAU)
    assert pt_at_au["surface.frac.Au"] == 1 and au_at_pt["surface.frac.Pt"] == 1
    assert pt_at_au["core.frac.Pt"] == 1 and au_at_pt["core.frac.Au"] == 1
    assert pt_at_au["intermediate.frac.Pt"] == 1
    assert pt_at_au["surface-intermediate.bonds.Au-Pt"] == 1
    assert au_at_pt["surface-intermediate.bonds.Pt-Au"] == 1
    assert pt_at_au["intermediate-core.bonds.Pt-Pt"] == 1
    assert pt_at_au["global.count.Pt"] == au_at_pt["global.count.Au"] == 55
    # surface atoms of the shell prefer their own kind; across the border they meet the core
    assert pt_at_au["surface.wc.Au-Pt"] > 0 and pt_at_au["intermediate.wc.Pt-Au"] > 0
    differs = {region_of_feature(n) for n in pt_at_au.index if pt_at_au[n] != au_at_pt[n]}
    assert differs == {"surface", "intermediate", "core", "cross-region", "global"}
    # geometry-only columns agree
    for name in ("surface.count", "surface.site.edge.count", "surface-intermediate.count"):
        assert pt_at_au[name] == au_at_pt[name]


def test_no_column_constant_or_duplicated_over_varied_structures(relaxed55):
    templates = [
        Icosahedron("Pt", 2),
        Icosahedron("Pt", 3),
        Icosahedron("Pt", 4, latticeconstant=4.0),
        Octahedron("Pt", 5, 1),
        Decahedron("Pt", 3, 2, 0),
        relaxed55,
    ]
    structures = []
    for t, template in enumerate(templates):
        topology = Topology.from_atoms(template, PTAU)
        structures += [core_shell(template, "Pt", "Au", topology)]
        structures += [core_shell(template, "Au", "Pt", topology)]
        for seed in range(6):
            n_au = np.random.default_rng(seed + 10 * t).integers(1, len(template))
            structures.append(random_alloy(template, n_au, seed))
    table = describe_many(structures, PTAU)
    assert table.notna().all().all()
    constant = table.columns[table.std() == 0].tolist()
    assert constant == []
    duplicated = table.T.round(12).duplicated()
    assert table.columns[duplicated.to_numpy()].tolist() == []


def test_every_feature_belongs_to_one_block(ico147):
    """Blocks partition the vector (what the prior's region weights and the ablation use)."""
    names = feature_names(PTAU)
    blocks = [region_of_feature(n) for n in names]
    assert set(blocks) == {"surface", "intermediate", "core", "cross-region", "global"}
    assert blocks.count("core") == 17
    with pytest.raises(ValueError):
        region_of_feature("shell.frac.Pt")


def test_no_intermediate_region_with_k0(ico147):
    flat = DescriptorSettings(elements=["Pt", "Au"], intermediate_layers=0)
    vector = describe(ico147, flat)
    assert {region_of_feature(n) for n in vector.index} == {
        "surface", "core", "cross-region", "global"
    }
    assert vector["core.count"] == 55 and "surface-core.count" in vector


def test_unknown_element_is_an_error(ico147):
    with pytest.raises(ValueError, match="not in"):
        describe(ico147, DescriptorSettings(elements=["Pt", "Cu"]))


def test_large_particle():
    atoms = random_alloy(Icosahedron("Pt", 8), 700, seed=0)  # 1415 atoms
    vector = describe(atoms, PTAU)
    assert vector["global.atoms"] == 1415 and np.isfinite(vector).all()


@pytest.mark.skipif(not SEED_DATA.exists(), reason="seed data not present")
def test_seed_structures():
    structures = seed_structures(8)
    alloy = DescriptorSettings(
        elements=["Al", "Co", "Fe", "Ni", "Cu"], bond_factor=1.35, surface_method="geometric"
    )
    table = describe_many(structures, alloy)
    assert table.shape == (8, 323)
    assert np.isfinite(table.to_numpy()).all()
    assert table["global.atoms"].eq(55).all()
    assert table["surface.count"].between(38, 48).all()
    assert isinstance(table, pd.DataFrame)


def test_readable_names_cover_every_feature():
    names = feature_names(PTAU)
    readable = [readable_name(n) for n in names]
    assert len(set(readable)) == len(names)
    assert readable_name("surface.frac.Pt") == "surface: Pt fraction"
    assert readable_name("surface-intermediate.bonds.Pt-Au") == \
        "surface→intermediate: Pt–Au bonds"
    assert readable_name("surface.site.vertex.frac.Au") == \
        "surface vertex sites: Au fraction"
    assert readable_name("surface-intermediate.count") == "surface→intermediate: bonds"
    assert readable_name("core.count") == "core: atoms"
    assert readable_name("not a feature") == "not a feature"


# ---------------------------------------------------------------- neighbour counts

PTAU_NB = DescriptorSettings(elements=["Pt", "Au"], neighbour_counts=True)


def _nb_columns(settings):
    return [k for k, name in enumerate(feature_names(settings)) if ".nb2." in name]


def test_neighbour_counts_are_off_by_default_and_named():
    assert not _nb_columns(PTAU)
    names = [feature_names(PTAU_NB)[k] for k in _nb_columns(PTAU_NB)]
    # 3 surface site classes + intermediate + core, 2 ordered pairs
    assert len(names) == 5 * 2
    assert "surface.site.edge.nb2.Au.Pt" in names and "core.nb2.Pt.Au" in names
    assert {region_of_feature(n) for n in names} == {"surface", "intermediate", "core"}
    assert readable_name("surface.site.edge.nb2.Au.Pt") == \
        "surface edge sites: Au sites × (Pt neighbours)²"


def _group_sites(group, topology, settings):
    if group.startswith("surface.site."):
        return np.flatnonzero((topology.region == 0)
                              & (topology.site_class == SITE_CLASSES.index(group[13:])))
    return np.flatnonzero(topology.region == settings.region_names.index(group))


@pytest.mark.parametrize("elements", [("Pd", "Au"), ("Pd", "Au", "Pt")])
def test_neighbour_counts_match_a_direct_count(elements):
    settings = DescriptorSettings(elements=elements, neighbour_counts=True)
    atoms = Octahedron("Pd", 4)
    topology = Topology.from_atoms(atoms, settings)
    codes = np.random.default_rng(1).integers(len(elements), size=(4, len(atoms)))
    X = describe_orderings(topology, codes, settings)
    neighbours = [[] for _ in atoms]
    for i, j in topology.bonds:
        neighbours[i].append(j)
        neighbours[j].append(i)
    for k in _nb_columns(settings):
        group, rest = feature_names(settings)[k].split(".nb2.")
        a, b = (elements.index(e) for e in rest.split("."))
        sites = _group_sites(group, topology, settings)
        for m, ordering in enumerate(codes):
            total = sum(int((ordering[neighbours[i]] == b).sum()) ** 2
                        for i in sites if ordering[i] == a)
            expected = total / len(sites) if len(sites) else 0.0
            assert X[m, k] == pytest.approx(expected, abs=1e-12)


def test_neighbour_counts_follow_a_relabelling_of_the_elements(ico147):
    """Swapping the two elements of every site swaps the (A, B) and (B, A) columns."""
    topology = Topology.from_atoms(ico147, PTAU_NB)
    codes = codes_from_symbols(ico147.get_chemical_symbols(), PTAU_NB.elements)
    names = feature_names(PTAU_NB)
    rows = describe_orderings(topology, np.stack([codes, 1 - codes]), PTAU_NB)
    original, swapped = (pd.Series(row, index=names) for row in rows)
    for group in ("surface.site.vertex", "surface.site.edge", "surface.site.facet",
                  "intermediate", "core"):
        assert original[f"{group}.nb2.Pt.Au"] == pytest.approx(swapped[f"{group}.nb2.Au.Pt"])
        assert original[f"{group}.nb2.Au.Pt"] == pytest.approx(swapped[f"{group}.nb2.Pt.Au"])
    assert original["surface.site.edge.nb2.Pt.Au"] > 0


def test_neighbour_counts_invariant_under_the_point_group(ico147):
    from strata.symmetry import point_group_permutations

    topology = Topology.from_atoms(ico147, PTAU_NB)
    codes = codes_from_symbols(ico147.get_chemical_symbols(), PTAU_NB.elements)
    permutations_ = point_group_permutations(ico147)
    images = np.stack([codes[np.argsort(p)] for p in permutations_[:: len(permutations_) // 7]])
    X = describe_orderings(topology, images, PTAU_NB)
    assert np.allclose(X, X[0], rtol=0, atol=1e-12)
