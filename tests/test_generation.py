"""The initial set is diverse, exact in stoichiometry and free of duplicates."""

import numpy as np
import pytest

from strata import generation, orderings
from strata.layers import Topology
from strata.symmetry import SymmetryCache

ELEMENTS = ["Pt", "Au"]


def make_set(template, compositions, size, seed=0, key=None):
    coordination = [Topology.from_atoms(template).coordination]
    return generation.initial_set([template], coordination, compositions, size, ELEMENTS,
                                  np.random.default_rng(seed), key=key)


def test_initial_set_has_every_motif_and_exact_compositions(icosahedron147):
    compositions = [np.array([74, 73]), np.array([100, 47])]
    table = make_set(icosahedron147, compositions, 12)
    assert len(table) == 24
    assert set(table.composition) == {"Au73Pt74", "Au47Pt100"}
    assert {"core_shell", "segregated", "janus", "layered", "random"} <= set(table.origin)
    for row in table.itertuples():
        counts = orderings.element_counts(row.codes, 2)
        assert orderings.composition_key(counts, ELEMENTS) == row.composition
    # core-shell both ways for a binary particle
    assert (table.origin == "core_shell").sum() == 4


def test_no_symmetry_equivalent_duplicates(icosahedron147):
    keys = SymmetryCache([icosahedron147]).keys
    table = make_set(icosahedron147, [np.array([74, 73])], 30,
                     key=lambda t, codes: keys(t, codes)[0])
    canonical = keys(0, np.stack(table.codes))
    assert len(set(canonical)) == len(table)


def test_same_seed_same_set(icosahedron147):
    a = make_set(icosahedron147, [np.array([74, 73])], 10, seed=4)
    b = make_set(icosahedron147, [np.array([74, 73])], 10, seed=4)
    assert all((x == y).all() for x, y in zip(a.codes, b.codes, strict=True))


def test_too_few_distinct_orderings_is_an_error():
    from strata.clusters import build_template

    tiny = build_template("icosahedron", 2, 3.6)  # 13 atoms
    keys = SymmetryCache([tiny]).keys
    with pytest.raises(ValueError, match="distinct orderings"):
        # 12 Pt + 1 Au: only two orderings up to symmetry (Au in the centre or on the surface)
        make_set(tiny, [np.array([12, 1])], 5, key=lambda t, codes: keys(t, codes)[0])


def test_structure_atoms_carries_symbols_positions_and_info(icosahedron147):
    codes = orderings.random_ordering(np.array([74, 73]), np.random.default_rng(0))
    atoms = generation.structure_atoms(icosahedron147, codes, ELEMENTS, structure_id="r00-000")
    assert atoms.get_chemical_formula() == "Au73Pt74"
    assert np.allclose(atoms.positions, icosahedron147.positions)
    assert atoms.info["structure_id"] == "r00-000"
