"""Chemical orderings keep the stoichiometry and place elements where their motif says.

The moves (mutations, crossovers) are tested in ``test_moves.py``.
"""

import numpy as np
import pytest

from strata import orderings
from strata.layers import Topology

COUNTS = np.array([74, 73])


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def radius(template):
    return np.linalg.norm(template.positions, axis=1)


def test_composition_key_sorts_and_skips_absent_elements():
    assert orderings.composition_key([74, 73, 0], ["Pt", "Au", "Cu"]) == "Au73Pt74"


def test_codes_round_trip_and_unknown_symbol():
    codes = orderings.codes_from_symbols(["Pt", "Au", "Au"], ["Pt", "Au"])
    assert codes.tolist() == [0, 1, 1]
    assert orderings.symbols_from_codes(codes, ["Pt", "Au"]) == ["Pt", "Au", "Au"]
    with pytest.raises(ValueError, match="Cu"):
        orderings.codes_from_symbols(["Cu"], ["Pt", "Au"])


def test_every_motif_keeps_the_composition(icosahedron147, rng):
    positions = icosahedron147.positions
    coordination = Topology.from_atoms(icosahedron147).coordination
    made = [
        orderings.random_ordering(COUNTS, rng),
        orderings.core_shell(positions, COUNTS, [0], rng),
        orderings.janus(positions, COUNTS, rng),
        orderings.layered(positions, COUNTS, rng),
        orderings.surface_segregated(coordination, COUNTS, 1, rng),
    ]
    for codes in made:
        assert codes.dtype == orderings.CODE_DTYPE
        assert orderings.element_counts(codes, 2).tolist() == COUNTS.tolist()


def test_core_shell_puts_the_core_element_inside(icosahedron147, rng):
    codes = orderings.core_shell(icosahedron147.positions, COUNTS, [1], rng)
    r = radius(icosahedron147)
    assert r[codes == 1].max() <= r[codes == 0].min() + 1e-9


def test_segregated_element_takes_the_least_coordinated_sites(icosahedron147, rng):
    coordination = Topology.from_atoms(icosahedron147).coordination
    codes = orderings.surface_segregated(coordination, COUNTS, 1, rng)
    # 73 Au: all 12 vertices (CN 6) and 60 edges (CN 8), one facet centre (CN 9)
    assert (codes[coordination < 9] == 1).all()
    assert (codes[coordination == 9] == 1).sum() == 1


def test_janus_halves_are_separated_by_a_plane(icosahedron147, rng):
    codes = orderings.janus(icosahedron147.positions, COUNTS, rng)
    # a linear classifier separates the two elements exactly: least squares on the sign
    X = np.c_[icosahedron147.positions, np.ones(len(codes))]
    y = np.where(codes == codes[0], 1.0, -1.0)
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    separating = np.sign(X @ w) == y
    assert separating.mean() > 0.95


def test_layered_alternates_shells(icosahedron147, rng):
    """Every radial shell holds one element, except the one shell where an element runs out;
    the outer shells alternate. (A random ordering has no pure shell but the centre.)"""
    codes = orderings.layered(icosahedron147.positions, COUNTS, rng)
    r = np.round(radius(icosahedron147), 1)
    shells = np.unique(r)[::-1]  # from the outside in
    elements = [set(codes[r == s]) for s in shells]
    assert sum(len(e) > 1 for e in elements) <= 1
    assert elements[0] != elements[1] and elements[1] != elements[2]
    assert len(elements[0]) == len(elements[1]) == 1


def test_same_seed_same_ordering(icosahedron147):
    a = orderings.janus(icosahedron147.positions, COUNTS, np.random.default_rng(3))
    b = orderings.janus(icosahedron147.positions, COUNTS, np.random.default_rng(3))
    assert (a == b).all()
