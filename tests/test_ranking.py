"""Query groups, relevance labels and the LightGBM surrogates (EMT energies)."""

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from strata import orderings, ranking
from strata.clusters import build_template
from strata.config import ConfigError
from strata.descriptors import describe_orderings, feature_names
from strata.generation import structure_atoms
from strata.layers import Topology
from strata.metrics import spearman
from strata.moves import swap_mutations
from strata.prior import prior_columns
from strata.settings import DescriptorSettings, ModelSettings

ELEMENTS = ["Pt", "Au"]
DEFAULT = ModelSettings.from_config({})


def emt_energy(template, codes):
    atoms = structure_atoms(template, codes, ELEMENTS)
    atoms.calc = EMT()
    return atoms.get_potential_energy()


@pytest.fixture(scope="module")
def emt_data():
    """Orderings of the 38-atom truncated octahedron, Pt19Au19, with EMT energies."""
    template = build_template("truncated_octahedron", 4, 4.0, symbol="Pt")
    settings = DescriptorSettings(elements=tuple(ELEMENTS))
    topology = Topology.from_atoms(template, settings)
    rng = np.random.default_rng(0)
    counts = np.array([19, 19])
    codes = [orderings.random_ordering(counts, rng) for _ in range(60)]
    codes += [orderings.surface_segregated(topology.coordination, counts, 1, rng)
              for _ in range(5)]
    codes += [swap_mutations(codes[-1][None, :], n, rng)[0] for n in range(1, 16)]
    codes = np.array(codes)
    energy = np.array([emt_energy(template, c) for c in codes])
    features = pd.DataFrame(describe_orderings(topology, codes, settings),
                            columns=feature_names(settings))
    return features, energy


def test_query_groups_by_composition_and_template():
    compositions = ["Au73Pt74", "Au73Pt74", "Au50Pt97", "Au73Pt74"]
    assert list(ranking.query_groups(compositions)) == [0, 0, 1, 0]
    assert list(ranking.query_groups(compositions, [0, 0, 0, 0])) == [0, 0, 1, 0]
    mixed = ranking.query_groups(compositions, [0, 1, 0, 0], by_template="auto")
    assert list(mixed) == [0, 1, 2, 0]
    assert list(ranking.query_groups(compositions, [0, 1, 0, 0], by_template=False)) == [0, 0, 1, 0]


def test_relevance_labels_lowest_energy_highest():
    energy = np.array([3.0, 1.0, 2.0, 10.0, 30.0, 20.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    labels = ranking.relevance_labels(energy, groups)
    assert list(labels) == [0, 2, 1, 2, 0, 1]  # within group, offsets do not matter


def test_relevance_labels_at_most_31_levels_and_ties_share():
    rng = np.random.default_rng(0)
    energy = rng.normal(size=300)
    labels = ranking.relevance_labels(energy, np.zeros(300, int))
    assert labels.max() == 30 and labels.min() == 0
    assert len(np.unique(labels)) == 31
    assert labels[np.argmin(energy)] == 30
    # monotone: lower energy never gets a lower label
    order = np.argsort(energy)
    assert (np.diff(labels[order]) <= 0).all()
    tied = ranking.relevance_labels(np.array([1.0, 1.0, 2.0]), np.zeros(3, int))
    assert tied[0] == tied[1] > tied[2]
    with pytest.raises(ValueError):
        ranking.relevance_labels(np.array([1.0, np.nan]), np.zeros(2, int))
    with pytest.raises(ValueError):
        ranking.relevance_labels(energy, np.zeros(300, int), levels=32)


@pytest.mark.parametrize("kind", ["ranker", "regressor"])
@pytest.mark.parametrize("prior", ["ridge", "none"])
def test_surrogate_ranks_held_out_structures(emt_data, kind, prior):
    features, energy = emt_data
    rng = np.random.default_rng(1)
    test = rng.permutation(len(energy))[:25]
    train = np.setdiff1d(np.arange(len(energy)), test)
    surrogate = ranking.fit_surrogate(features.iloc[train], energy[train],
                                      np.zeros(len(train), int),
                                      DEFAULT.replace(kind=kind, prior=prior), seed=0)
    score = surrogate.score(features.iloc[test])
    assert spearman(energy[test], score) > 0.6
    assert surrogate.uncertainty(features.iloc[test]).shape == (25,)


def test_prior_extrapolates_beyond_the_labelled_range(emt_data):
    """Trained on the worse half only, the model still puts the better half on top."""
    features, energy = emt_data
    worse = np.argsort(energy)[len(energy) // 2:]
    better = np.argsort(energy)[: len(energy) // 4]
    surrogate = ranking.fit_surrogate(features.iloc[worse], energy[worse],
                                      np.zeros(len(worse), int), DEFAULT, seed=0)
    score = surrogate.score(features)
    # the whole best quarter above every structure it was trained on, and ranked within
    # itself: trees alone place 95 % above and rank them at Spearman 0.64 (measured)
    assert np.min(score[better]) > np.max(score[worse])
    assert spearman(energy[better], score[better]) > 0.8
    assert len(np.unique(np.round(score[better], 9))) > len(better) // 2  # no wall of ties


def test_failed_energies_are_dropped_and_model_saved(emt_data, tmp_path):
    features, energy = emt_data
    energy = energy.copy()
    energy[:3] = np.nan
    surrogate = ranking.fit_surrogate(features, energy, np.zeros(len(energy), int),
                                      DEFAULT.replace(n_estimators=30, ensemble_size=3), seed=4)
    assert surrogate.info["n_rows"] == len(energy) - 3
    surrogate.save(tmp_path / "round_2" / "model")
    assert (tmp_path / "round_2" / "model.txt").exists()
    loaded = ranking.load_surrogate(tmp_path / "round_2" / "model.txt")
    np.testing.assert_allclose(loaded.score(features), surrogate.score(features))
    np.testing.assert_allclose(loaded.uncertainty(features), surrogate.uncertainty(features))
    shuffled = features[features.columns[::-1]]
    np.testing.assert_allclose(loaded.score(shuffled), surrogate.score(features))


def test_same_seed_same_model(emt_data):
    features, energy = emt_data
    groups = np.zeros(len(energy), int)
    a = ranking.fit_surrogate(features, energy, groups, DEFAULT, seed=3).score(features)
    b = ranking.fit_surrogate(features, energy, groups, DEFAULT, seed=3).score(features)
    np.testing.assert_array_equal(a, b)


def test_linear_prior_features_are_the_occupation_linear_columns(emt_data, tmp_path):
    features, energy = emt_data
    names = list(features.columns)
    linear = [names[k] for k in prior_columns(names, "linear")]
    assert "surface.site.vertex.frac.Au" in linear and "core.bonds.Pt-Au" in linear
    assert not any(".wc." in n or ".cn." in n or "bondlen" in n or "entropy" in n
                   for n in linear)
    assert list(prior_columns(["a", "b"], "linear")) == [0, 1]  # nothing matches: all
    surrogate = ranking.fit_surrogate(features, energy, np.zeros(len(energy), int),
                                      DEFAULT.replace(prior_features="linear", n_estimators=20,
                                                      ensemble_size=2), seed=1)
    assert len(surrogate.main.prior.coef) == len(linear)
    assert spearman(energy, surrogate.score(features)) > 0.6
    surrogate.save(tmp_path / "model")
    loaded = ranking.load_surrogate(tmp_path / "model")
    np.testing.assert_allclose(loaded.score(features), surrogate.score(features))
    with pytest.raises(ConfigError, match="model.prior_features"):
        ModelSettings.from_config({"prior_features": "some"})


def test_region_weights_act_on_the_prior(emt_data):
    """A block of weight 0 leaves the prior; a larger weight lets the prior lean on it."""
    features, energy = emt_data
    groups = np.zeros(len(energy), int)
    plain = DEFAULT.replace(n_estimators=0, ensemble_size=0)
    base = ranking.fit_surrogate(features, energy, groups, plain, seed=0)
    no_surface = ranking.fit_surrogate(
        features, energy, groups, plain.replace(region_weights={"surface": 0.0}), seed=0)
    used = [features.columns[k] for k in no_surface.main.prior.columns]
    assert used and not any(name.startswith("surface.") for name in used)
    assert any(name.startswith("surface.") for name in features.columns)
    assert not np.allclose(base.score(features), no_surface.score(features))
    heavy = ranking.fit_surrogate(
        features, energy, groups, plain.replace(region_weights={"intermediate": 4.0}), seed=0)
    assert not np.allclose(base.score(features), heavy.score(features))
    contributions = heavy.main.prior.contributions(features.to_numpy())
    np.testing.assert_allclose(contributions.sum(axis=1),
                               heavy.score(features) - heavy.score(features).mean(), atol=1e-9)


def test_score_of_a_row_does_not_depend_on_its_batch(emt_data):
    """The search scores each ordering once, in batches of every size."""
    features, energy = emt_data
    surrogate = ranking.fit_surrogate(features, energy, np.zeros(len(energy), int),
                                      DEFAULT.replace(n_estimators=20, ensemble_size=0), seed=0)
    whole = surrogate.score(features)
    pieces = np.concatenate([surrogate.score(features.iloc[a:b])
                             for a, b in ((0, 1), (1, 7), (7, 40), (40, len(features)))])
    np.testing.assert_array_equal(whole, pieces)


def test_groups_split_by_template_as_configured():
    table = pd.DataFrame({"composition": ["A", "A", "B", "A"], "template": [0, 1, 0, 0]})
    by = ranking.groups_of(table, DEFAULT.replace(group_by_template=True))
    plain = ranking.groups_of(table, DEFAULT.replace(group_by_template=False))
    auto = ranking.groups_of(table, DEFAULT)
    assert by.tolist() == [0, 1, 2, 0] and plain.tolist() == [0, 0, 1, 0]
    assert auto.tolist() == by.tolist()  # auto: templates are mixed here
    assert ranking.groups_of(table[table.template == 0], DEFAULT).tolist() == [0, 1, 0]
    assert ranking.group_names_of(table, DEFAULT) == ["A|0", "A|1", "B|0", "A|0"]


def test_prior_blocks_keep_environment_columns_for_the_trees(emt_data):
    """With a local block in the descriptor, the prior uses only the blocks of
    model.prior_blocks (the layers by default); the trees still see every column."""
    features, energy = emt_data
    rng = np.random.default_rng(0)
    local = pd.DataFrame(rng.normal(size=(len(features), 3)),
                         columns=[f"surface.local.Pt.k0.rho.Au.n{n}" for n in range(3)])
    table = pd.concat([features, local], axis=1)
    groups = np.zeros(len(energy), int)
    plain = DEFAULT.replace(n_estimators=0, ensemble_size=0)
    layers_only = ranking.fit_surrogate(table, energy, groups, plain, seed=0)
    used = [table.columns[k] for k in layers_only.main.prior.columns]
    assert used and not any(".local." in name for name in used)
    both = ranking.fit_surrogate(
        table, energy, groups, plain.replace(prior_blocks=["layers", "local"]), seed=0)
    assert both.main.prior.columns is None  # every column
    with pytest.raises(ValueError, match="model.prior_blocks"):
        ranking.fit_surrogate(features, energy, groups,
                              plain.replace(prior_blocks=["local"]), seed=0)


def test_linear_prior_with_neighbour_counts_learns_many_body_site_energies():
    """An energy summed over sites of a nonlinear function of each site's unlike neighbours
    (an embedding energy's many-body term) is a linear function of the neighbour-count
    columns, which ``prior_features: linear`` then uses; pair terms alone cannot fit it."""
    template = build_template("truncated_octahedron", 4, 4.0, symbol="Pt")
    rng = np.random.default_rng(0)
    codes = np.array([orderings.random_ordering(np.array([19, 19]), rng) for _ in range(120)])
    settings = DescriptorSettings(elements=tuple(ELEMENTS), neighbour_counts=True)
    topology = Topology.from_atoms(template, settings)
    unlike = np.zeros(codes.shape, dtype=float)
    for i, j in topology.bonds:
        unlike[:, i] += codes[:, i] != codes[:, j]
        unlike[:, j] += codes[:, i] != codes[:, j]
    energy = (np.sqrt(unlike) * (1.0 + topology.coordination / 12.0)).sum(axis=1)
    model = DEFAULT.replace(prior_features="linear", n_estimators=0, ensemble_size=0)
    agreement = {}
    for counts in (False, True):
        settings = DescriptorSettings(elements=tuple(ELEMENTS), neighbour_counts=counts)
        features = pd.DataFrame(describe_orderings(topology, codes, settings),
                                columns=feature_names(settings))
        surrogate = ranking.fit_surrogate(features[:80], energy[:80], np.zeros(80, int), model)
        used = [features.columns[k] for k in surrogate.main.prior.columns]
        assert any(".nb2." in name for name in used) == counts
        agreement[counts] = spearman(energy[80:], surrogate.score(features[80:]))
    assert agreement[True] > 0.99 > agreement[False]
