"""The model-guided candidate pool."""

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from strata import orderings, ranking, search
from strata.clusters import build_template
from strata.config import validate
from strata.generation import structure_atoms

ELEMENTS = ["Pt", "Au"]
# a complete campaign config, as the rule scripts pass it (defaults filled by the schema)
CONFIG = validate({
    "elements": ELEMENTS,
    "composition": [{"Pt": 28, "Au": 27}, {"Pt": 30, "Au": 25}],
    "cluster": {"shape": "icosahedron", "size": 3, "lattice_constant": 4.0},
    "pool_size": 200,
    "batch_size": 5,
    "selection": {"search_passes": 3, "search_children": 128},
})


def labelled_set(template, compositions, n, rng):
    rows = []
    for counts in compositions:
        for _ in range(n):
            codes = orderings.random_ordering(counts, rng)
            atoms = structure_atoms(template, codes, ELEMENTS)
            atoms.calc = EMT()
            rows.append({"template": 0, "codes": codes,
                         "composition": orderings.composition_key(counts, ELEMENTS),
                         "energy": atoms.get_potential_energy(),
                         "structure_id": f"r00-{len(rows):03d}"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def campaign():
    template = build_template("icosahedron", 3, 4.0, symbol="Pt")
    compositions = [np.array([28, 27]), np.array([40, 15])]
    labelled = labelled_set(template, compositions, 15, np.random.default_rng(0))
    labelled.loc[2, "energy"] = np.nan  # a failed calculation
    featurizer = search.featurizer_for([template], CONFIG)
    X = np.vstack([featurizer(0, c[None, :]) for c in labelled["codes"]])
    surrogate = ranking.fit_surrogate(
        pd.DataFrame(X, columns=featurizer.names), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]), {"n_estimators": 50}, seed=0)
    return [template], compositions, labelled, surrogate


def test_swap_mutations_keep_composition_and_shell_moves_cross_shells():
    rng = np.random.default_rng(0)
    codes = np.array([orderings.random_ordering([30, 25], rng) for _ in range(50)])
    shells = np.repeat(np.arange(5), 11)
    children = search.swap_mutations(codes, np.full(50, 1), rng, shells)
    assert (orderings.element_counts(children, 2) == [30, 25]).all()
    for parent, child in zip(codes, children, strict=True):
        changed = np.flatnonzero(parent != child)
        assert len(changed) == 2
        assert shells[changed[0]] != shells[changed[1]]
    many = search.swap_mutations(codes, np.full(50, 3), rng)
    assert (orderings.element_counts(many, 2) == [30, 25]).all()


def test_all_single_swaps():
    codes = np.array([0, 0, 1, 1, 1], dtype=np.int8)
    swaps = search.all_single_swaps(codes)
    assert len(swaps) == 2 * 3
    assert (orderings.element_counts(swaps, 2) == [2, 3]).all()
    assert len({s.tobytes() for s in swaps}) == 6


def test_candidate_pool_exact_stoichiometry_no_repeats(campaign):
    templates, compositions, labelled, surrogate = campaign
    pool = search.candidate_pool(templates, labelled, surrogate, CONFIG,
                                 np.random.default_rng(1))
    assert {"template", "codes", "composition", "origin", "score", "uncertainty",
            "key"} <= set(pool.columns)
    assert 150 <= len(pool) <= 200
    assert set(pool["composition"]) == set(labelled["composition"])
    for counts in compositions:
        key = orderings.composition_key(counts, ELEMENTS)
        rows = pool[pool["composition"] == key]
        assert len(rows) > 50
        assert (orderings.element_counts(np.stack(rows["codes"].to_numpy()), 2) == counts).all()
    assert pool["key"].is_unique
    from strata.selection import computed_keys

    assert not set(pool["key"]) & computed_keys(templates, labelled, CONFIG)
    assert (np.diff(pool["score"].to_numpy()) <= 1e-12).all()
    assert set(pool["origin"]) <= {"random", "core_shell", "segregated", "janus", "layered",
                                   "mutation", "crossover"}


def test_deep_search_beats_the_labelled_structures_on_the_model(campaign):
    templates, _, labelled, surrogate = campaign
    featurizer = search.featurizer_for(templates, CONFIG)
    X = np.vstack([featurizer(0, c[None, :]) for c in labelled["codes"]])
    best_labelled = surrogate.score(pd.DataFrame(X, columns=featurizer.names)).max()
    pool = search.candidate_pool(templates, labelled, surrogate, CONFIG,
                                 np.random.default_rng(2))
    assert pool["score"].max() > best_labelled


def test_pool_is_deterministic(campaign):
    templates, _, labelled, surrogate = campaign
    a = search.candidate_pool(templates, labelled, surrogate, CONFIG, np.random.default_rng(5))
    b = search.candidate_pool(templates, labelled, surrogate, CONFIG, np.random.default_rng(5))
    assert list(a["key"]) == list(b["key"])


def test_unknown_selection_key_raises():
    with pytest.raises(KeyError):
        search.selection_settings({"selection": {"explorashun": 0.1}})


def test_polish_ends_on_a_single_swap_optimum_of_the_model(campaign):
    templates, _, labelled, surrogate = campaign
    featurizer = search.featurizer_for(templates, CONFIG)

    def score(codes):
        return search.score_frame(surrogate, featurizer(0, codes), featurizer.names)

    archive = search._Archive(lambda codes: np.arange(len(codes)).astype(str), set())
    start = labelled["codes"][0]
    best, best_score = search.hill_climb(start, score, archive)
    assert best_score >= score(start[None, :])[0]
    assert score(search.all_single_swaps(best)).max() <= best_score + 1e-9
    assert len(archive.codes) >= len(search.all_single_swaps(start))
    config = {**CONFIG, "selection": {**CONFIG["selection"], "search_polish": 1}}
    pool = search.candidate_pool(templates, labelled, surrogate, config,
                                 np.random.default_rng(1))
    top = pool[pool["composition"] == labelled["composition"][0]].iloc[0]
    assert score(search.all_single_swaps(top["codes"])).max() <= top["score"] + 1e-9
