"""Every move keeps the composition, changes what it says it changes, and obeys its rng."""

import numpy as np
import pytest

from strata import moves, orderings
from strata.layers import Topology

BINARY = np.array([74, 73])
TERNARY = np.array([60, 50, 37])


def population(counts, m, rng):
    return np.array([orderings.random_ordering(counts, rng) for _ in range(m)])


def counts_of(codes, counts):
    return orderings.element_counts(codes, len(counts))


@pytest.fixture(scope="module")
def shells(icosahedron147):
    topology = Topology.from_atoms(icosahedron147)
    return np.where(topology.site_class >= 0, topology.site_class, 2 + topology.layer)


@pytest.mark.parametrize("counts", [BINARY, TERNARY], ids=["binary", "ternary"])
@pytest.mark.parametrize("seed", range(3))
def test_every_move_keeps_the_composition(icosahedron147, shells, counts, seed):
    rng = np.random.default_rng(seed)
    positions = icosahedron147.positions
    coordination = Topology.from_atoms(icosahedron147).coordination
    parents = population(counts, 20, rng)
    neighbours = moves.all_single_swaps(parents[0])
    scores = rng.normal(size=len(neighbours))
    made = {
        "swap": moves.swap_mutations(parents, rng.integers(1, 6, size=20), rng),
        "shell": moves.shell_mutations(parents, 3, shells, rng),
        "single": neighbours,
        "compound": moves.compound_swaps(parents[0], neighbours, scores, 6),
        "crossovers": moves.crossovers(parents, positions, 30, rng),
        "fresh": moves.fresh_orderings(positions, coordination, counts, 12, rng)[0],
    }
    for name, codes in made.items():
        assert len(codes), name
        assert codes.dtype == orderings.CODE_DTYPE, name
        assert (counts_of(codes, counts) == counts).all(), name


def test_swap_mutations_change_at_most_two_sites_per_swap():
    rng = np.random.default_rng(1)
    parents = population(BINARY, 200, rng)
    n_swaps = rng.integers(0, 5, size=200)
    children = moves.swap_mutations(parents, n_swaps, rng)
    changed = (children != parents).sum(axis=1)
    assert (changed <= 2 * n_swaps).all()
    assert (changed[n_swaps == 0] == 0).all()
    assert (changed[n_swaps == 1] == 2).all()  # one swap always finds a partner of another element
    assert changed.max() > 2  # several swaps do go deeper


def test_one_ordering_in_one_ordering_out():
    rng = np.random.default_rng(2)
    codes = orderings.random_ordering(BINARY, rng)
    child = moves.swap_mutations(codes, 3, rng)
    assert child.shape == codes.shape
    assert (counts_of(child, BINARY) == BINARY).all()
    assert (child != codes).any()
    assert (codes == moves.swap_mutations(codes[None, :], 0, rng)[0]).all()


def test_a_single_element_ordering_cannot_be_swapped():
    codes = np.zeros((3, 10), dtype=orderings.CODE_DTYPE)
    assert (moves.swap_mutations(codes, 2, np.random.default_rng(0)) == 0).all()
    assert len(moves.all_single_swaps(codes[0])) == 0


def test_shell_mutations_cross_shells(shells):
    rng = np.random.default_rng(3)
    parents = population(BINARY, 100, rng)
    children = moves.shell_mutations(parents, 1, shells, rng)
    for parent, child in zip(parents, children, strict=True):
        changed = np.flatnonzero(parent != child)
        assert len(changed) == 2
        assert shells[changed[0]] != shells[changed[1]]
        assert parent[changed[0]] != parent[changed[1]]


def test_shell_mutations_without_another_shell_change_nothing():
    rng = np.random.default_rng(4)
    parents = population([5, 5], 10, rng)
    assert (moves.shell_mutations(parents, 2, np.zeros(10, dtype=int), rng) == parents).all()


def test_all_single_swaps_is_the_whole_neighbourhood():
    codes = np.array([0, 0, 1, 1, 1, 2], dtype=orderings.CODE_DTYPE)
    swaps = moves.all_single_swaps(codes)
    assert len(swaps) == 2 * 3 + 2 * 1 + 3 * 1  # pairs of sites holding different elements
    assert len({s.tobytes() for s in swaps}) == len(swaps)
    assert ((swaps != codes).sum(axis=1) == 2).all()
    assert (counts_of(swaps, [2, 3, 1]) == [2, 3, 1]).all()


def test_screened_swaps_keep_the_k_best_in_neighbourhood_order():
    codes = np.array([0, 0, 1, 1, 1, 2], dtype=orderings.CODE_DTYPE)
    every = moves.all_single_swaps(codes)
    gains = np.random.default_rng(0).normal(size=(6, 6))
    gains = gains + gains.T  # a swap's gain does not depend on the order of its sites
    sites = [tuple(np.flatnonzero(n != codes)) for n in every]
    best = sorted(range(len(every)), key=lambda r: -gains[sites[r]])[:4]
    screened = moves.screened_swaps(codes, 4, lambda c: gains)
    assert (screened == every[sorted(best)]).all()
    assert (counts_of(screened, [2, 3, 1]) == [2, 3, 1]).all()


def test_screened_swaps_are_all_of_them_when_there_are_few():
    codes = np.array([0, 0, 1, 1, 1, 2], dtype=orderings.CODE_DTYPE)

    def never(codes):
        raise AssertionError("no screen needed")

    assert (moves.screened_swaps(codes, 11, never) == moves.all_single_swaps(codes)).all()
    assert len(moves.screened_swaps(np.zeros(4, dtype=orderings.CODE_DTYPE), 1, never)) == 0


def test_compound_swaps_combine_the_best_disjoint_swaps():
    codes = np.array([0, 0, 0, 1, 1, 1], dtype=orderings.CODE_DTYPE)
    neighbours = moves.all_single_swaps(codes)
    scores = np.zeros(len(neighbours))
    sites = [tuple(np.flatnonzero(n != codes)) for n in neighbours]
    scores[sites.index((0, 3))] = 3.0
    scores[sites.index((0, 4))] = 2.5  # overlaps the best one: skipped
    scores[sites.index((1, 4))] = 2.0
    scores[sites.index((2, 5))] = 1.0
    compound = moves.compound_swaps(codes, neighbours, scores, 5)
    assert len(compound) == 2  # only three disjoint swaps exist on six sites
    assert (compound[0] == [1, 1, 0, 0, 0, 1]).all()
    assert (compound[1] == [1, 1, 1, 0, 0, 0]).all()
    assert len(moves.compound_swaps(codes, neighbours, scores, 1)) == 0


@pytest.mark.parametrize("seed", range(5))
def test_crossover_keeps_the_mothers_composition(icosahedron147, seed):
    rng = np.random.default_rng(seed)
    mother = orderings.random_ordering(BINARY, rng)
    father = orderings.core_shell(icosahedron147.positions, np.array([100, 47]), [0], rng)
    child = moves.crossover(mother, father, icosahedron147.positions, rng)
    assert child.dtype == orderings.CODE_DTYPE
    assert (counts_of(child, BINARY) == BINARY).all()
    assert (child != mother).any() and (child != father).any()


def test_crossovers_of_too_few_parents_are_none(icosahedron147):
    rng = np.random.default_rng(0)
    one = population(BINARY, 1, rng)
    assert moves.crossovers(one, icosahedron147.positions, 10, rng).shape == (0, 147)
    children = moves.crossovers(population(BINARY, 2, rng), icosahedron147.positions, 10, rng)
    assert children.shape[1] == 147 and len(children) <= 10


def test_fresh_orderings_start_with_the_motifs(icosahedron147):
    coordination = Topology.from_atoms(icosahedron147).coordination
    rng = np.random.default_rng(0)
    codes, origins = moves.fresh_orderings(icosahedron147.positions, coordination, BINARY, 9,
                                           rng)
    assert codes.shape == (9, 147) and len(origins) == 9
    assert origins[:6] == ["core_shell", "core_shell", "segregated", "segregated", "janus",
                           "layered"]
    assert origins[6:] == ["random"] * 3
    _, origins = moves.fresh_orderings(icosahedron147.positions, coordination, BINARY, 3, rng,
                                       structured=False)
    assert origins == ["random"] * 3


def test_moves_are_deterministic_under_a_seed(icosahedron147, shells):
    positions = icosahedron147.positions
    coordination = Topology.from_atoms(icosahedron147).coordination

    def run(seed):
        rng = np.random.default_rng(seed)
        parents = population(BINARY, 8, rng)
        return np.concatenate([
            moves.swap_mutations(parents, rng.integers(1, 4, size=8), rng),
            moves.shell_mutations(parents, 2, shells, rng),
            moves.crossovers(parents, positions, 8, rng),
            moves.fresh_orderings(positions, coordination, BINARY, 8, rng)[0],
        ])

    assert np.array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))
