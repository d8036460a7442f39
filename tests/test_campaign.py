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


def test_user_structures_join_the_initial_set(tmp_path):
    from ase.io import write

    from strata import rounds
    from strata.clusters import build_template

    for i in range(2):
        atoms = build_template("icosahedron", 2, 4.0)
        atoms.symbols[:] = "Pt"
        atoms.symbols[[i, 3, 5, 7, 9, 11]] = "Au"  # Pt7Au6, two different orderings
        write(tmp_path / f"p{i}.xyz", atoms)
    config = dict(copy.deepcopy(BASE), composition=[{"Pt": 7, "Au": 6}],
                  cluster={"shape": "files", "folder": str(tmp_path)})
    campaign = Campaign.from_config(config)
    assert len(campaign.user_orderings) == 2
    candidates = rounds.generate(campaign, 0)
    user = candidates[candidates["origin"] == "user"]
    assert sorted(user["template"]) == [0, 1]
    for row in user.itertuples():
        symbols = campaign.templates[row.template].get_chemical_symbols()
        assert [campaign.elements[c] for c in row.codes] == symbols
    assert len(candidates) == 4
