"""The linear prior as a cluster expansion; its exact optimum (MILP) and swap ascent."""

import itertools

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from strata import moves, orderings, ranking
from strata.campaign import Campaign
from strata.expansion import ClusterExpansion, NotAnExpansion, SwapAscent, clusters, maximise
from strata.generation import structure_atoms
from strata.settings import ModelSettings

ELEMENTS = ["Pt", "Au", "Cu"]


def thirteen_atoms(neighbour_counts=False):
    """A 13-atom Pt–Au–Cu icosahedron: small enough to enumerate every ordering."""
    return Campaign.from_config({
        "elements": ELEMENTS, "composition": [{"Pt": 5, "Au": 4, "Cu": 4}],
        "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": 3.9},
        "descriptors": {"neighbour_counts": neighbour_counts}})


@pytest.fixture(scope="module")
def campaign():
    return thirteen_atoms()


@pytest.fixture(scope="module")
def many_body():
    """The same particle with the many-body neighbour-count columns."""
    return thirteen_atoms(neighbour_counts=True)


def all_orderings(counts):
    """Every ordering of ``counts`` on ``sum(counts)`` sites (distinct permutations)."""
    n = int(np.sum(counts))
    rows = []
    for first in itertools.combinations(range(n), int(counts[0])):
        rest = [i for i in range(n) if i not in first]
        for second in itertools.combinations(rest, int(counts[1])):
            codes = np.full(n, 2, dtype=orderings.CODE_DTYPE)
            codes[list(first)] = 0
            codes[list(second)] = 1
            rows.append(codes)
    return np.stack(rows)


def random_expansion(bonds, n_sites, n_elements, rng, triplets=False):
    """Random terms on the clusters of ``bonds``, zero wherever an element is 0."""
    pairs, triplet_sites = clusters(bonds, n_sites, triplets)
    point = rng.normal(size=(n_sites, n_elements))
    pair = rng.normal(size=(len(pairs), n_elements, n_elements))
    triplet = rng.normal(size=(len(triplet_sites), n_elements, n_elements, n_elements))
    point[:, 0] = 0
    pair[:, 0, :] = pair[:, :, 0] = 0
    triplet[:, 0] = triplet[:, :, 0] = triplet[:, :, :, 0] = 0
    return ClusterExpansion(constant=1.5, point=point, pair=pair, pairs=pairs, triplet=triplet,
                            triplets=triplet_sites)


def fitted_prior(campaign, features, **model):
    """The main prior of a surrogate fitted to 40 EMT energies, as ``score(codes)``."""
    rng = np.random.default_rng(0)
    template, featurizer = campaign.templates[0], campaign.featurizer
    codes = np.stack([orderings.random_ordering(np.array([5, 4, 4]), rng) for _ in range(40)])
    energy = []
    for row in codes:
        atoms = structure_atoms(template, row, ELEMENTS)
        atoms.calc = EMT()
        energy.append(atoms.get_potential_energy())
    X = pd.DataFrame(featurizer(0, codes), columns=featurizer.names)
    surrogate = ranking.fit_surrogate(X, np.array(energy), np.zeros(len(codes), dtype=int),
                                      ModelSettings.from_config({"prior_features": features,
                                                                 "n_estimators": 0, **model}))

    def score(rows):
        return surrogate.score(pd.DataFrame(featurizer(0, rows), columns=featurizer.names))

    return score


def test_the_linear_prior_is_a_pair_expansion(campaign):
    score = fitted_prior(campaign, "linear")
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = ClusterExpansion.of(score, bonds, 13, 3, np.random.default_rng(1))
    codes = all_orderings([5, 4, 4])[::97]
    np.testing.assert_allclose(expansion(codes), score(codes), rtol=0, atol=1e-9)


def test_a_nonlinear_prior_is_refused(campaign):
    """``prior_features: all`` includes ratios (mean coordinations, Warren–Cowley)."""
    score = fitted_prior(campaign, "all")
    bonds = campaign.featurizer.topologies[0].bonds
    with pytest.raises(NotAnExpansion):
        ClusterExpansion.of(score, bonds, 13, 3, np.random.default_rng(1))


def test_reading_an_expansion_gives_back_its_terms(campaign):
    rng = np.random.default_rng(2)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng)
    read = ClusterExpansion.of(expansion, bonds, 13, 3, rng)
    np.testing.assert_allclose(read.point, expansion.point, atol=1e-9)
    np.testing.assert_allclose(read.pair, expansion.pair, atol=1e-9)
    assert read.constant == pytest.approx(expansion.constant)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maximise_is_the_brute_force_optimum(campaign, seed):
    rng = np.random.default_rng(seed)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng)
    every = all_orderings([5, 4, 4])
    codes, optimal = maximise(expansion, [5, 4, 4])
    assert optimal
    assert orderings.element_counts(codes, 3).tolist() == [5, 4, 4]
    assert expansion(codes[None, :])[0] == pytest.approx(expansion(every).max(), abs=1e-7)


def test_maximise_is_invariant_under_a_relabelling_of_the_sites(campaign):
    rng = np.random.default_rng(3)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng)
    perm = rng.permutation(13)  # site i of the relabelled particle is site perm[i]
    inverse = np.argsort(perm)
    relabelled = ClusterExpansion(constant=expansion.constant, point=expansion.point[perm],
                                  pair=expansion.pair, pairs=inverse[expansion.pairs])
    codes, _ = maximise(expansion, [5, 4, 4])
    other, _ = maximise(relabelled, [5, 4, 4])
    assert relabelled(codes[perm][None, :])[0] == pytest.approx(expansion(codes[None, :])[0])
    assert relabelled(other[None, :])[0] == pytest.approx(expansion(codes[None, :])[0], abs=1e-7)


def test_the_many_body_prior_is_a_triplet_expansion(many_body):
    """``[site holds A] x (B neighbours)^2`` couples a site and two of its neighbours: the
    prior is no pair expansion over the bonds, but is one over the triplets, exactly, on every
    ordering."""
    score = fitted_prior(many_body, "linear")
    bonds = many_body.featurizer.topologies[0].bonds
    with pytest.raises(NotAnExpansion):
        ClusterExpansion.of(score, bonds, 13, 3, np.random.default_rng(1))
    expansion = ClusterExpansion.of(score, bonds, 13, 3, np.random.default_rng(1), triplets=True)
    assert expansion.n_triplets and np.abs(expansion.triplet).max() > 1e-6
    every = all_orderings([5, 4, 4])
    np.testing.assert_allclose(expansion(every), score(every), rtol=0, atol=1e-9)
    with pytest.raises(NotAnExpansion):
        maximise(expansion, [5, 4, 4])


def test_reading_a_triplet_expansion_gives_back_its_terms(campaign):
    rng = np.random.default_rng(4)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng, triplets=True)
    read = ClusterExpansion.of(expansion, bonds, 13, 3, rng, triplets=True)
    for name in ("point", "pair", "triplet"):
        np.testing.assert_allclose(getattr(read, name), getattr(expansion, name), atol=1e-9)


def swapped(codes, u, v):
    out = codes.copy()
    out[u], out[v] = codes[v], codes[u]
    return out


@pytest.mark.parametrize("triplets", [False, True])
def test_swap_gains_are_the_score_changes_of_every_swap(campaign, triplets):
    rng = np.random.default_rng(5)
    bonds = campaign.featurizer.topologies[0].bonds
    expansions = [random_expansion(bonds, 13, 3, rng, triplets) for _ in range(2)]
    codes = np.stack([orderings.random_ordering(np.array([5, 4, 4]), rng) for _ in range(3)])
    which = np.array([1, 0, 1])
    gains = SwapAscent(expansions).gains(codes, which)
    for m, k in enumerate(which):
        for u, v in itertools.permutations(range(13), 2):
            if codes[m, u] == codes[m, v]:
                assert gains[m, u, v] == -np.inf
                continue
            change = expansions[k](swapped(codes[m], u, v)[None, :]) - expansions[k](codes[m:m + 1])
            assert gains[m, u, v] == pytest.approx(change[0], abs=1e-9)


def test_swap_gains_follow_a_relabelling_of_the_sites(campaign):
    """Relabelling the sites (a permutation of the template) permutes the gains alike."""
    rng = np.random.default_rng(6)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng, triplets=True)
    perm = rng.permutation(13)  # site i of the relabelled particle is site perm[i]
    inverse = np.argsort(perm)
    relabelled = ClusterExpansion(
        constant=expansion.constant, point=expansion.point[perm], pair=expansion.pair,
        pairs=inverse[expansion.pairs], triplet=expansion.triplet,
        triplets=inverse[expansion.triplets])
    codes = orderings.random_ordering(np.array([5, 4, 4]), rng)[None, :]
    ours = SwapAscent([expansion]).gains(codes, [0])[0]
    theirs = SwapAscent([relabelled]).gains(codes[:, perm], [0])[0]
    np.testing.assert_allclose(theirs, ours[np.ix_(perm, perm)], atol=1e-9)


def test_climb_ends_on_a_single_swap_optimum_of_each_expansion(campaign):
    rng = np.random.default_rng(7)
    bonds = campaign.featurizer.topologies[0].bonds
    expansions = [random_expansion(bonds, 13, 3, rng, triplets=True) for _ in range(2)]
    starts = np.stack([orderings.random_ordering(np.array([5, 4, 4]), rng) for _ in range(4)])
    which = np.array([0, 1, 0, 1])
    climbed = SwapAscent(expansions).climb(starts, which)
    assert (orderings.element_counts(climbed, 3) == [5, 4, 4]).all()
    for start, end, k in zip(starts, climbed, which, strict=True):
        assert expansions[k](end[None, :])[0] >= expansions[k](start[None, :])[0]
        best = expansions[k](end[None, :])[0]
        assert expansions[k](moves.all_single_swaps(end)).max() <= best + 1e-9


def test_a_climb_keeps_its_sums_exact_swap_after_swap(campaign):
    """The climb updates only the clusters holding the swapped sites: its gains after some
    swaps are those computed afresh on the swapped orderings."""
    from strata.expansion import _Climb

    rng = np.random.default_rng(8)
    bonds = campaign.featurizer.topologies[0].bonds
    ascent = SwapAscent([random_expansion(bonds, 13, 3, rng, triplets=True) for _ in range(2)])
    codes = np.stack([orderings.random_ordering(np.array([5, 4, 4]), rng) for _ in range(3)])
    state = _Climb(ascent, codes, [0, 1, 1])
    for _ in range(4):
        state._swap(rng.integers(13, size=3), rng.integers(13, size=3))
    np.testing.assert_allclose(state.gains(), ascent.gains(state.codes[:, :13], [0, 1, 1]),
                               atol=1e-9)
