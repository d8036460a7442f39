"""Point-group permutations and canonical keys."""

import itertools

import numpy as np
import pytest

from strata import orderings
from strata.clusters import build_template
from strata.symmetry import (
    SymmetryCache,
    canonical_keys,
    canonical_orderings,
    point_group_permutations,
)


@pytest.mark.parametrize(
    ("shape", "size", "n_atoms", "order"),
    [
        ("icosahedron", 4, 147, 120),  # I_h
        ("icosahedron", 3, 55, 120),
        ("octahedron", 4, 44, 48),  # O_h
        ("truncated_octahedron", 4, 38, 48),
        ("decahedron", 3, 55, 20),  # D_5h, ideal Ino decahedron
    ],
)
def test_group_sizes(shape, size, n_atoms, order):
    template = build_template(shape, size, 4.0)
    permutations = point_group_permutations(template)
    assert len(template) == n_atoms
    assert len(permutations) == order


def test_irregular_particle_has_identity_only():
    template = build_template("icosahedron", 3, 4.0)
    rng = np.random.default_rng(0)
    template.positions += rng.normal(scale=0.3, size=template.positions.shape)
    permutations = point_group_permutations(template)
    assert permutations.shape == (1, len(template))
    assert (permutations[0] == np.arange(len(template))).all()


def test_permutations_are_isometries_and_a_group():
    template = build_template("octahedron", 4, 4.0)
    permutations = point_group_permutations(template)
    distances = template.get_all_distances()
    assert (permutations[0] == np.arange(len(template))).all()
    as_set = {p.tobytes() for p in permutations}
    for p in permutations:
        assert sorted(p) == list(range(len(template)))
        np.testing.assert_allclose(distances[np.ix_(p, p)], distances, atol=1e-6)
    for p, q in itertools.product(permutations[:12], permutations[:12]):
        assert p[q].tobytes() in as_set


def test_canonical_ordering_is_lexicographic_minimum_of_orbit():
    template = build_template("icosahedron", 2, 4.0)
    permutations = point_group_permutations(template)
    rng = np.random.default_rng(1)
    codes = np.array([orderings.random_ordering([7, 6], rng) for _ in range(20)])
    canonical = canonical_orderings(codes, permutations)
    for row, best in zip(codes, canonical, strict=True):
        images = sorted(tuple(row[p]) for p in permutations)
        assert tuple(best) == images[0]


def test_equivalent_orderings_share_a_key_and_others_do_not():
    template = build_template("icosahedron", 4, 4.0)
    permutations = point_group_permutations(template)
    rng = np.random.default_rng(2)
    codes = np.array([orderings.random_ordering([74, 73], rng) for _ in range(200)])
    keys = canonical_keys(codes, permutations)
    assert len(set(keys)) == 200
    for g in (1, 17, 119):
        assert (canonical_keys(codes[:, permutations[g]], permutations) == keys).all()


def test_the_twenty_ground_state_copies_are_one_structure():
    from strata.layers import Topology

    template = build_template("icosahedron", 4, 4.0, symbol="Pt")
    coordination = Topology.from_atoms(template).coordination
    facets = np.flatnonzero(coordination == 9)
    assert len(facets) == 20
    copies = np.zeros((20, len(template)), dtype=np.int8)
    copies[:, coordination < 9] = 1
    copies[np.arange(20), facets] = 1
    keys = canonical_keys(copies, point_group_permutations(template))
    assert len(set(keys)) == 1
    # without symmetry they are 20 different orderings
    assert len(set(canonical_keys(copies, np.arange(len(template))[None, :]))) == 20


def test_keys_carry_the_template():
    templates = [build_template("icosahedron", 2, 4.0), build_template("decahedron", 2, 4.0)]
    cache = SymmetryCache(templates)
    codes = np.array([[1] * 6 + [0] * 7], dtype=np.int8)
    assert cache.keys(0, codes)[0] != cache.keys(1, codes)[0]
    assert cache.keys(0, codes)[0].startswith("t0:")
    assert len(SymmetryCache(templates, enabled=False).permutations(0)) == 1
