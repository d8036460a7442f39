"""Tests of strata.prototypes: prototype environments learned by the train stage."""

import copy

import numpy as np
import pandas as pd
import pytest
from ase.cluster import Icosahedron
from conftest import as_snakemake_reads_it
from scipy.spatial.transform import Rotation

from strata import explain, ranking, rounds
from strata.campaign import Campaign
from strata.featurizer import Featurizer
from strata.prototypes import Prototypes, environments, learn, prototype_names
from strata.settings import DescriptorSettings

SETTINGS = DescriptorSettings.from_config(["Pt", "Au"], {})
# Pt28Au27 on the 55-atom icosahedron, EMT, 4 prototypes: three rounds in seconds
CAMPAIGN = {
    "elements": ["Pt", "Au"],
    "composition": [{"Pt": 28, "Au": 27}],
    "cluster": {"shape": "icosahedron", "size": 3, "lattice_constant": 4.0},
    "rounds": 3,
    "initial_size": 8,
    "batch_size": 4,
    "pool_size": 120,
    "search": {"passes": 2, "children": 64, "population": 8},
    "model": {"n_estimators": 40, "ensemble_size": 2, "prototypes": 4},
    "seed": 3,
}


def orderings(n_atoms, n, seed=0):
    rng = np.random.default_rng(seed)
    base = np.arange(n_atoms) % 2
    return np.stack([rng.permutation(base) for _ in range(n)])


def learned(featurizer, codes, count=4, seed=0):
    return featurizer.learn_prototypes(np.zeros(len(codes), int), list(codes),
                                       [f"s{i}" for i in range(len(codes))], count, seed)


@pytest.fixture(scope="module")
def ico55():
    return Icosahedron("Pt", 3, latticeconstant=4.0)


@pytest.fixture(scope="module")
def campaign_rounds():
    campaign = Campaign.from_config(as_snakemake_reads_it(CAMPAIGN))
    return campaign, list(rounds.run(campaign))


def test_features_are_each_regions_shares_of_atoms(ico55):
    featurizer = Featurizer([ico55], SETTINGS)
    codes = orderings(len(ico55), 12)
    prototypes = learned(featurizer, codes)
    X = featurizer.prototype_features(0, codes, prototypes)
    assert X.shape == (12, 3 * prototypes.count)
    region = featurizer.topologies[0].region
    for r, name in enumerate(SETTINGS.region_names):
        block = X[:, r * prototypes.count:(r + 1) * prototypes.count]
        expected = 1.0 if (region == r).any() else 0.0
        assert np.allclose(block.sum(axis=1), expected), name
        nearest = prototypes.assign(featurizer.environments(0, codes))[:, region == r]
        for p in range(prototypes.count):
            share = (nearest == p).mean(axis=1) if (region == r).any() else 0.0
            assert np.allclose(block[:, p], share), (name, p)
    assert prototypes.names == prototype_names(SETTINGS.region_names, prototypes.count)


def test_prototypes_and_features_do_not_depend_on_rotation_or_translation(ico55):
    codes = orderings(len(ico55), 10, seed=1)
    moved = ico55.copy()
    moved.positions = Rotation.from_euler("xyz", [0.3, 1.1, -0.7]).apply(moved.positions) + 2.5
    plain, turned = Featurizer([ico55], SETTINGS), Featurizer([moved], SETTINGS)
    a, b = learned(plain, codes), learned(turned, codes)
    assert np.allclose(a.centres, b.centres, atol=1e-6)
    assert np.allclose(plain.prototype_features(0, codes, a),
                       turned.prototype_features(0, codes, b))


def test_centre_element_separates_prototypes(ico55):
    """Atoms of different elements never share a prototype once K >= 2 · distinct shells."""
    featurizer = Featurizer([ico55], SETTINGS)
    codes = orderings(len(ico55), 8, seed=2)
    prototypes = learned(featurizer, codes, count=8)
    vectors = featurizer.environments(0, codes)
    nearest = prototypes.assign(vectors)
    scaled = (vectors - prototypes.mean) / prototypes.scale  # nearest, the plain way
    distances = ((scaled[:, :, None, :] - prototypes.centres) ** 2).sum(axis=-1)
    assert np.array_equal(nearest, distances.argmin(axis=-1))
    for p in range(prototypes.count):
        centres = np.unique(codes[nearest == p])
        assert len(centres) == 1, (p, centres)
        assert prototypes.exemplars[p]["centre"] == centres[0]


def test_environment_vectors_are_invariants_and_centre():
    invariants = np.arange(12.0).reshape(1, 3, 4)
    codes = np.array([[1, 0, 1]])
    vectors = environments(invariants, codes, 2)
    assert np.array_equal(vectors[0, :, :4], invariants[0])
    assert np.array_equal(vectors[0, :, 4:], [[0, 1], [1, 0], [0, 1]])


def test_fewer_distinct_environments_than_k_gives_fewer_prototypes():
    vectors = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    prototypes = learn(vectors, [("a", 0), ("a", 1), ("b", 0)], 5, 2, ("surface",), seed=0)
    assert prototypes.count == 2
    assert sorted(e["atoms"] for e in prototypes.exemplars) == [1, 2]


def test_prototypes_survive_the_model_file(campaign_rounds, tmp_path):
    campaign, records = campaign_rounds
    surrogate = records[-1].surrogate
    assert surrogate.prototypes is not None
    assert surrogate.feature_names[-len(surrogate.prototypes.names):] == \
        surrogate.prototypes.names
    surrogate.save(tmp_path / "model")
    loaded = ranking.load_surrogate(tmp_path / "model")
    assert isinstance(loaded.prototypes, Prototypes)
    table = rounds.with_prototypes(campaign, records[-1].labelled, loaded.prototypes)
    X = table[surrogate.feature_names]
    assert np.allclose(loaded.score(X), surrogate.score(X))


def test_pool_row_equals_training_row_with_prototypes(campaign_rounds):
    campaign, records = campaign_rounds
    labelled, prototypes = records[-1].labelled, records[-1].surrogate.prototypes
    table = rounds.with_prototypes(campaign, labelled, prototypes)
    codes = np.stack(labelled["codes"].to_numpy())
    pool = campaign.featurizer(0, codes, prototypes)
    names = campaign.featurizer.names_with(prototypes)
    assert np.allclose(table[names].to_numpy(float), pool)


def test_explain_tables_and_exemplar_environments(campaign_rounds):
    campaign, records = campaign_rounds
    labelled, surrogate = records[-1].labelled, records[-1].surrogate
    tables = rounds.explain(campaign, labelled, surrogate)
    table = tables["prototypes"]
    assert len(table) == len(surrogate.prototypes.names)
    assert set(table["direction"]) <= {-1, 0, 1}
    assert list(tables["prototype_features"].columns) == ["structure_id",
                                                          *surrogate.prototypes.names]
    environments_ = rounds.prototype_environments(campaign, labelled, surrogate.prototypes)
    assert len(environments_) == surrogate.prototypes.count
    by_id = labelled.set_index("structure_id")
    for environment, exemplar in zip(environments_, surrogate.prototypes.exemplars,
                                     strict=True):
        codes = by_id.loc[exemplar["structure_id"], "codes"]
        assert environment.get_chemical_symbols()[0] == \
            campaign.elements[codes[exemplar["atom"]]]
        assert np.allclose(environment.positions[0], 0.0)
        assert 6 <= len(environment) - 1 <= 12  # bonded neighbours on the icosahedron


def test_direction_follows_the_sign_of_shap_against_the_feature():
    prototypes = Prototypes(np.zeros((2, 3)), np.zeros(3), np.ones(3), ("surface",),
                            [{"structure_id": "a", "atom": 0, "centre": 0, "atoms": 3},
                             {"structure_id": "b", "atom": 1, "centre": 1, "atoms": 2}])
    share = np.array([0.1, 0.4, 0.7, 0.9])
    labelled = pd.DataFrame({"structure_id": list("abcd"), "surface.prototypes.p0": share,
                             "surface.prototypes.p1": 1 - share})
    shap = pd.DataFrame({"structure_id": list("abcd"), "surface.prototypes.p0": share - 0.5,
                         "surface.prototypes.p1": np.zeros(4)})
    table = explain.prototype_table(prototypes, shap, labelled, ["Pt", "Au"])
    rows = table.set_index("feature")
    assert rows.loc["surface.prototypes.p0", "direction"] == 1
    assert rows.loc["surface.prototypes.p1", "direction"] == 0  # unused by the model
    assert rows.loc["surface.prototypes.p1", "centre"] == "Au"
    flipped = shap.assign(**{"surface.prototypes.p0": 0.5 - share})
    assert explain.prototype_table(prototypes, flipped, labelled, ["Pt", "Au"]).set_index(
        "feature").loc["surface.prototypes.p0", "direction"] == -1


def test_no_prototypes_by_default(campaign_rounds):
    config = copy.deepcopy(CAMPAIGN)
    config["model"].pop("prototypes")
    campaign = Campaign.from_config(as_snakemake_reads_it(config))
    assert campaign.settings.model.prototypes == 0
    labelled = campaign_rounds[1][0].labelled
    assert rounds.learn_prototypes(campaign, labelled) is None
    assert rounds.with_prototypes(campaign, labelled, None) is labelled
