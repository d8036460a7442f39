"""The candidates of each round: the initial pool and the model-guided pool."""

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from strata import moves, orderings, ranking, search
from strata.archive import Archive, hill_climb, polish
from strata.campaign import Campaign
from strata.generation import structure_atoms
from strata.settings import ModelSettings

ELEMENTS = ["Pt", "Au"]
LABELLED = [np.array([28, 27]), np.array([40, 15])]  # 40/15 is not a campaign composition


def make_campaign(descriptors=None, **search_settings):
    """A small campaign (55-atom icosahedron, compositions 28/27 and 30/25)."""
    return Campaign.from_config({
        "descriptors": descriptors or {},
        "elements": ELEMENTS,
        "composition": [{"Pt": 28, "Au": 27}, {"Pt": 30, "Au": 25}],
        "cluster": {"shape": "icosahedron", "size": 3, "lattice_constant": 4.0},
        "pool_size": 200,
        "batch_size": 5,
        "initial_size": 12,
        "search": {"passes": 3, "children": 128, **search_settings},
    })


def labelled_set(template, n, rng):
    rows = []
    for counts in LABELLED:
        for _ in range(n):
            codes = orderings.random_ordering(counts, rng)
            atoms = structure_atoms(template, codes, ELEMENTS)
            atoms.calc = EMT()
            rows.append({"template": 0, "codes": codes,
                         "composition": orderings.composition_key(counts, ELEMENTS),
                         "energy": atoms.get_potential_energy(),
                         "structure_id": f"r00-{len(rows):03d}"})
    return pd.DataFrame(rows)


def features(campaign, codes):
    return pd.DataFrame(campaign.featurizer(0, np.stack(codes)), columns=campaign.featurizer.names)


@pytest.fixture(scope="module")
def fitted():
    campaign = make_campaign()
    labelled = labelled_set(campaign.templates[0], 15, np.random.default_rng(0))
    labelled.loc[2, "energy"] = np.nan  # a failed calculation
    surrogate = ranking.fit_surrogate(
        features(campaign, labelled["codes"]), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]), ModelSettings.from_config({
            "n_estimators": 50}), seed=0)
    return campaign, labelled, surrogate


def model_score(campaign, surrogate):
    def score(codes):
        return surrogate.score(features(campaign, codes))

    return score


def test_initial_pool_is_distinct_and_exact(fitted):
    campaign, _, _ = fitted
    pool = search.initial_pool(campaign, np.random.default_rng(0))
    assert list(pool.columns) == ["template", "codes", "composition", "origin"]
    assert pool["composition"].value_counts().to_dict() == {"Au27Pt28": 12, "Au25Pt30": 12}
    for counts, rows in zip(campaign.compositions, (pool[:12], pool[12:]), strict=True):
        assert (orderings.element_counts(np.stack(rows["codes"]), 2) == counts).all()
    assert len(set(campaign.keys(0, np.stack(pool["codes"])))) == len(pool)


def test_candidate_pool_exact_stoichiometry_no_repeats(fitted):
    campaign, labelled, surrogate = fitted
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(1))
    assert list(pool.columns) == search.POOL_COLUMNS  # no descriptor column
    assert 150 <= len(pool) <= 200
    # the labelled compositions, and the campaign's composition nothing is labelled of yet
    assert set(pool["composition"]) == {"Au27Pt28", "Au15Pt40", "Au25Pt30"}
    for counts in [*LABELLED, np.array([30, 25])]:
        rows = pool[pool["composition"] == orderings.composition_key(counts, ELEMENTS)]
        assert len(rows) > 50
        assert (orderings.element_counts(np.stack(rows["codes"].to_numpy()), 2) == counts).all()
    assert pool["key"].is_unique
    assert (pool["key"] == campaign.keys(0, np.stack(pool["codes"]))).all()
    assert not set(pool["key"]) & set(campaign.keys(0, np.stack(labelled["codes"])))
    assert (np.diff(pool["score"].to_numpy()) <= 1e-12).all()
    assert set(pool["origin"]) <= {"random", "core_shell", "segregated", "janus", "layered",
                                   "mutation", "crossover", "prior"}


def test_pool_scores_are_the_models(fitted):
    campaign, labelled, surrogate = fitted
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(3))
    X = features(campaign, pool["codes"])
    # scored once, in the search's batches: exactly what scoring the pool at once gives
    np.testing.assert_array_equal(pool["score"], surrogate.score(X))
    assert np.allclose(pool["uncertainty"], surrogate.uncertainty(X), rtol=0, atol=1e-9)
    assert (pool["uncertainty"] > 0).any()


def test_search_beats_the_labelled_structures_on_the_model(fitted):
    campaign, labelled, surrogate = fitted
    best_labelled = surrogate.score(features(campaign, labelled["codes"])).max()
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(2))
    assert pool["score"].max() > best_labelled


def test_pool_is_deterministic(fitted):
    campaign, labelled, surrogate = fitted
    a = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(5))
    b = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(5))
    assert list(a["key"]) == list(b["key"])
    assert (a["score"].to_numpy() == b["score"].to_numpy()).all()


def test_deep_search_finds_the_optimum_of_an_additive_model(fitted):
    """Au on the least-coordinated sites (a linear model): the polish must reach it."""
    campaign = fitted[0]
    coordination = campaign.featurizer.coordination(0)
    counts = np.array([28, 27])
    target = search.Target(
        template=0, counts=counts, seeds=np.empty((0, 55), dtype=orderings.CODE_DTYPE),
        positions=campaign.templates[0].positions, shells=campaign.featurizer.shells(0),
        coordination=coordination, score=lambda codes: -(codes * coordination).sum(axis=1),
        keys=lambda codes: campaign.keys(0, codes), labelled_keys=set())
    settings = campaign.settings.search.replace(passes=1, structured=False)
    frame = search.DeepSearch(settings, 20).run(target, np.random.default_rng(0))
    assert list(frame.columns) == ["template", "codes", "origin", "key", "score"]
    assert len(frame) == 20 and frame["key"].is_unique
    np.testing.assert_array_equal(frame["score"], target.score(np.stack(frame["codes"])))
    best = frame["codes"].iloc[0]
    assert np.sort(coordination[best == 1]).tolist() == np.sort(coordination)[:27].tolist()
    assert frame["origin"].iloc[-2:].tolist() == ["random", "random"]  # the fresh share


def test_archive_drops_repeats_and_reads_back_distinct_keys():
    codes = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=orderings.CODE_DTYPE)

    def keys(rows):  # rows 0 and 2 are "symmetry-equivalent"
        return ["end" if r[1] == 1 else "middle" for r in rows]

    archive = Archive(lambda rows: rows[:, 0] + 0.5 * rows[:, 2], keys, labelled_keys={"end"})
    scores = archive.evaluate(np.concatenate([codes, codes[:1]]), "mutation")
    archive.evaluate(codes, "crossover")
    assert scores.tolist() == [0.5, 1.5, 1.0, 0.5]
    assert len(archive) == 3 and archive.origins == ["mutation"] * 3
    assert archive.best(3) == ([1, 2], ["middle", "end"])
    assert archive.best(3, include_labelled=False) == ([1], ["middle"])
    assert len(archive.evaluate(codes[:0], "mutation")) == 0


def test_polish_ends_on_a_single_swap_optimum_of_the_model(fitted):
    campaign, labelled, surrogate = fitted
    score = model_score(campaign, surrogate)
    archive = Archive(score, lambda codes: np.arange(len(codes)).astype(str))
    start = labelled["codes"][0]
    best, best_score = hill_climb(start, archive)
    assert best_score >= score(start[None, :])[0]
    assert score(moves.all_single_swaps(best)).max() <= best_score + 1e-9
    assert len(archive) >= len(moves.all_single_swaps(start))
    assert polish(archive, 0) == []
    campaign = make_campaign(polish=1)
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(1))
    top = pool[pool["composition"] == labelled["composition"][0]].iloc[0]
    assert score(moves.all_single_swaps(top["codes"])).max() <= top["score"] + 1e-9


def test_the_pool_holds_the_exact_optimum_of_a_prior_only_model(fitted):
    """Without trees the score is the linear prior: its MILP optimum tops the pool, even
    with the search passes off."""
    from strata.expansion import ClusterExpansion, maximise

    campaign, labelled, _ = fitted
    surrogate = ranking.fit_surrogate(
        features(campaign, labelled["codes"]), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]), ModelSettings.from_config({
            "n_estimators": 0, "prior_features": "linear"}), seed=0)
    score = model_score(campaign, surrogate)
    expansion = ClusterExpansion.of(score, campaign.featurizer.topologies[0].bonds, 55, 2,
                                 np.random.default_rng(0))
    optimum, optimal = maximise(expansion, LABELLED[0])
    assert optimal
    pool = search.candidate_pool(make_campaign(passes=0, polish=0, exact_seconds=5), labelled,
                                 surrogate,
                                 np.random.default_rng(4))
    top = pool[pool["composition"] == labelled["composition"][0]].iloc[0]
    assert top["score"] == pytest.approx(score(optimum[None, :])[0], abs=1e-9)
    assert top["origin"] in {"prior", "mutation"}
    off = search.candidate_pool(make_campaign(passes=0, polish=0, exact_seconds=0), labelled,
                                surrogate, np.random.default_rng(4))
    assert "prior" not in set(off["origin"])


def test_the_pool_holds_a_climbed_optimum_of_a_many_body_prior(fitted):
    """With the many-body columns the prior is a triplet expansion (no MILP): it is climbed
    by swap ascent from the labelled seeds and ``prior_starts`` random orderings. A
    prior-only model (no trees, no members) and no search passes: the pool's best is a
    single-swap optimum of the model, from the climb."""
    _, labelled, _ = fitted
    campaign = make_campaign({"neighbour_counts": True}, passes=0, polish=0, prior_starts=4)
    surrogate = ranking.fit_surrogate(
        features(campaign, labelled["codes"]), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]), ModelSettings.from_config({
            "n_estimators": 0, "prior_features": "linear", "ensemble_size": 0}), seed=0)
    score = model_score(campaign, surrogate)
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(4))
    top = pool[pool["composition"] == labelled["composition"][0]].iloc[0]
    assert top["origin"] == "prior"
    assert score(moves.all_single_swaps(top["codes"])).max() <= top["score"] + 1e-9
    off = search.candidate_pool(make_campaign({"neighbour_counts": True}, passes=0, polish=0),
                                labelled, surrogate, np.random.default_rng(4))
    assert "prior" not in set(off["origin"])
    assert off["score"].max() < top["score"]


def test_a_screened_neighbourhood_holds_the_best_swap_of_a_prior_only_model(fitted):
    """``screen``: the neighbourhood scans and climbs score only the swaps with the largest
    exact gain on the main prior. With a prior-only model those gains are the model's own,
    so the screened swaps hold the best of every swap; without ``screen`` all are kept."""
    _, labelled, _ = fitted
    campaign = make_campaign({"neighbour_counts": True}, screen=50)
    surrogate = ranking.fit_surrogate(
        features(campaign, labelled["codes"]), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]), ModelSettings.from_config({
            "n_estimators": 0, "prior_features": "linear", "ensemble_size": 0}), seed=0)
    score = model_score(campaign, surrogate)
    (_, target), *_ = search._targets(campaign, labelled, surrogate)
    deep = search.DeepSearch(campaign.settings.search, 10)
    expansions = deep._expansions(target, np.random.default_rng(0))
    codes = target.seeds[0]
    every = moves.all_single_swaps(codes)
    screened = deep._neighbourhood(expansions)(codes)
    assert len(screened) == 50 < len(every)
    assert score(screened).max() == pytest.approx(score(every).max(), abs=1e-9)
    top = np.sort(score(every))[-50:]
    assert np.sort(score(screened)) == pytest.approx(top, abs=1e-9)
    unscreened = search.DeepSearch(campaign.settings.search.replace(screen=0), 10)
    assert unscreened._neighbourhood(expansions) is moves.all_single_swaps


@pytest.mark.parametrize("model", [{"prior": "none"}, {"prior_features": "all"}])
def test_without_a_linear_prior_nothing_is_climbed(fitted, model):
    """No prior, or one on ratio columns (no cluster expansion): the pool is built without
    climbs, whatever ``prior_starts`` says."""
    _, labelled, _ = fitted
    campaign = make_campaign({"neighbour_counts": True}, passes=1, prior_starts=4)
    surrogate = ranking.fit_surrogate(
        features(campaign, labelled["codes"]), labelled["energy"].to_numpy(),
        ranking.query_groups(labelled["composition"]),
        ModelSettings.from_config({"n_estimators": 20, **model}), seed=0)
    pool = search.candidate_pool(campaign, labelled, surrogate, np.random.default_rng(4))
    assert len(pool) and "prior" not in set(pool["origin"])
