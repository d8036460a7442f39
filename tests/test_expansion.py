"""The linear prior as a pair cluster expansion, and its exact optimum (MILP)."""

import itertools

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from strata import orderings, ranking
from strata.campaign import Campaign
from strata.expansion import NotAnExpansion, PairExpansion, maximise
from strata.generation import structure_atoms
from strata.settings import ModelSettings

ELEMENTS = ["Pt", "Au", "Cu"]


@pytest.fixture(scope="module")
def campaign():
    """A 13-atom Pt–Au–Cu icosahedron: small enough to enumerate every ordering."""
    return Campaign.from_config({
        "elements": ELEMENTS, "composition": [{"Pt": 5, "Au": 4, "Cu": 4}],
        "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": 3.9}})


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


def random_expansion(bonds, n_sites, n_elements, rng):
    point = rng.normal(size=(n_sites, n_elements))
    pair = rng.normal(size=(len(bonds), n_elements, n_elements))
    point[:, 0] = 0
    pair[:, 0, :] = 0
    pair[:, :, 0] = 0
    return PairExpansion(constant=1.5, point=point, pair=pair, bonds=bonds)


def fitted_prior(campaign, features):
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
                                                                 "n_estimators": 0}))

    def score(rows):
        return surrogate.score(pd.DataFrame(featurizer(0, rows), columns=featurizer.names))

    return score


def test_the_linear_prior_is_a_pair_expansion(campaign):
    score = fitted_prior(campaign, "linear")
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = PairExpansion.of(score, bonds, 13, 3, np.random.default_rng(1))
    codes = all_orderings([5, 4, 4])[::97]
    np.testing.assert_allclose(expansion(codes), score(codes), rtol=0, atol=1e-9)


def test_a_nonlinear_prior_is_refused(campaign):
    """``prior_features: all`` includes ratios (mean coordinations, Warren–Cowley)."""
    score = fitted_prior(campaign, "all")
    bonds = campaign.featurizer.topologies[0].bonds
    with pytest.raises(NotAnExpansion):
        PairExpansion.of(score, bonds, 13, 3, np.random.default_rng(1))


def test_reading_an_expansion_gives_back_its_terms(campaign):
    rng = np.random.default_rng(2)
    bonds = campaign.featurizer.topologies[0].bonds
    expansion = random_expansion(bonds, 13, 3, rng)
    read = PairExpansion.of(expansion, bonds, 13, 3, rng)
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
    relabelled = PairExpansion(constant=expansion.constant, point=expansion.point[perm],
                               pair=expansion.pair, bonds=inverse[bonds])
    codes, _ = maximise(expansion, [5, 4, 4])
    other, _ = maximise(relabelled, [5, 4, 4])
    assert relabelled(codes[perm][None, :])[0] == pytest.approx(expansion(codes[None, :])[0])
    assert relabelled(other[None, :])[0] == pytest.approx(expansion(codes[None, :])[0], abs=1e-7)
