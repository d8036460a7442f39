"""The campaign context: settings, templates, compositions, featurizer, symmetry."""

import copy

import pytest

from strata.campaign import Campaign
from strata.config import ConfigError

BASE = {
    "elements": ["Pt", "Au"],
    "composition": [{"Pt": 7, "Au": 6}, {"Pt": 0.25, "Au": 0.75}],
    "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": 4.0},
    "initial_size": 4,
    "batch_size": 2,
    "pool_size": 50,
}


def test_context_of_a_config():
    campaign = Campaign.from_config(copy.deepcopy(BASE))
    assert len(campaign.templates) == 1 and len(campaign.templates[0]) == 13
    counts = {key: c.tolist() for key, c in campaign.composition_counts().items()}
    assert counts == {"Au6Pt7": [7, 6], "Au10Pt3": [3, 10]}
    assert campaign.featurizer.names[0].startswith("surface.")
    assert len(campaign.symmetry.permutations(0)) == 120  # icosahedral point group
    assert campaign.settings.search.symmetry


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match="config key 'composition.0'"):
        Campaign.from_config(dict(copy.deepcopy(BASE), composition=[{"Pt": 7, "Au": 7}]))


def test_params_of_a_rule_take_defaults_for_the_rest():
    params = {key: copy.deepcopy(BASE[key]) for key in ("elements", "composition", "cluster")}
    campaign = Campaign.from_params(dict(params, seed=3))
    assert campaign.settings.seed == 3
    assert campaign.settings.batch_size == 5  # the schema's default
