"""Batch selection: top predicted, exploration, no repeats, determinism, stop rule."""

import numpy as np
import pandas as pd

from strata import orderings, selection
from strata.clusters import build_template
from strata.settings import SelectionSettings
from strata.symmetry import SymmetryCache

CONFIG = SelectionSettings.from_config({"exploration": 0.2})


def make_pool(n=60, seed=0, compositions=((28, 27),)):
    template = build_template("icosahedron", 3, 4.0)
    cache = SymmetryCache([template])
    rng = np.random.default_rng(seed)
    rows = []
    for counts in compositions:
        for _ in range(n):
            codes = orderings.random_ordering(np.array(counts), rng)
            rows.append({"template": 0, "codes": codes,
                         "composition": orderings.composition_key(counts, ["Pt", "Au"]),
                         "origin": "mutation", "score": float(rng.normal()),
                         "uncertainty": float(rng.random())})
    pool = pd.DataFrame(rows)
    pool["key"] = cache.keys(pool["template"].to_numpy(), np.stack(pool["codes"].to_numpy()))
    return template, cache, pool.sort_values("score", ascending=False).reset_index(drop=True)


def test_top_predicted_with_exploration_share():
    _, _, pool = make_pool()
    batch = selection.select_batch(pool, set(), 5, CONFIG, np.random.default_rng(0))
    assert len(batch) == 5
    assert list(batch["pick"]) == ["exploit"] * 4 + ["explore"]
    assert list(batch["key"][:4]) == list(pool["key"][:4])
    assert list(batch["predicted_rank"][:4]) == [1, 2, 3, 4]
    explore = batch.iloc[4]
    region = pool.iloc[: int(np.ceil(0.25 * 60))]  # exploration_top share of the pool
    others = region[~region["key"].isin(batch["key"][:4])]
    assert explore["uncertainty"] == others["uncertainty"].max()
    for column in ("predicted_rank", "score", "uncertainty", "origin"):
        assert column in batch


def test_never_a_computed_structure_nor_a_symmetry_equivalent_one():
    template, cache, pool = make_pool()
    permutations = cache.permutations(0)
    assert len(permutations) == 120
    best = pool.loc[0, "codes"]
    image = best[permutations[37]]  # the same structure, rotated
    assert not np.array_equal(image, best)
    labelled = pd.DataFrame({"template": [0, 0], "codes": [image, pool.loc[3, "codes"]]})
    done = selection.computed_keys(cache, labelled)
    batch = selection.select_batch(pool, done, 5, CONFIG, np.random.default_rng(0))
    assert pool.loc[0, "key"] not in set(batch["key"])
    assert pool.loc[3, "key"] not in set(batch["key"])
    assert list(batch["key"][:4]) == list(pool["key"][[1, 2, 4, 5]])


def test_duplicates_in_the_pool_are_picked_once():
    template, cache, pool = make_pool()
    copy = pool.iloc[[0]].copy()
    copy["codes"] = [pool.loc[0, "codes"][cache.permutations(0)[5]]]
    copy["key"] = cache.keys(0, np.stack(copy["codes"].to_numpy()))
    pool = pd.concat([copy, pool], ignore_index=True)
    batch = selection.select_batch(pool, set(), 10, CONFIG, np.random.default_rng(0))
    assert batch["key"].is_unique


def test_same_seed_same_batch_and_ties_broken_by_seed():
    _, _, pool = make_pool()
    pool["score"] = 1.0  # a wall of ties
    pool["uncertainty"] = 0.0
    batches = [selection.select_batch(pool, set(), 5, CONFIG, np.random.default_rng(s))
               for s in (7, 7, 8)]
    assert list(batches[0]["key"]) == list(batches[1]["key"])
    assert list(batches[0]["key"]) != list(batches[2]["key"])


def test_compositions_take_turns():
    _, _, pool = make_pool(n=20, compositions=((28, 27), (40, 15)))
    pool.loc[pool["composition"] == "Au15Pt40", "score"] += 100  # incomparable scales
    config = SelectionSettings.from_config({"exploration_method": "none"})
    batch = selection.select_batch(pool, set(), 6, config, np.random.default_rng(0))
    assert sorted(batch["composition"].value_counts()) == [3, 3]


def test_stop_rule():
    labelled = pd.DataFrame({
        "structure_id": ["r00-000", "r00-001", "r01-000", "r02-000", "r03-000"],
        "composition": "Au73Pt74",
        "energy": [5.0, 4.0, 3.0, 3.5, np.nan],
    })
    assert not selection.should_stop(labelled, None)
    assert selection.should_stop(labelled, 2)
    assert not selection.should_stop(labelled, 3)


def test_exploit_picks_the_model_cannot_tell_apart_wait():
    _, _, pool = make_pool()
    pool.loc[:2, "score"] = pool.loc[0, "score"]  # the top three tie exactly
    config = SelectionSettings.from_config({"exploration_method": "none"})
    batch = selection.select_batch(pool, set(), 3, config, np.random.default_rng(0))
    assert batch["score"].nunique() == 3
    assert set(batch["key"][1:]) == set(pool["key"][3:5])
    plain = SelectionSettings.from_config({"exploration_method": "none",
                                           "batch_distinct_scores": False})
    batch = selection.select_batch(pool, set(), 3, plain, np.random.default_rng(0))
    assert set(batch["key"]) == set(pool["key"][:3])
    pool.loc[:29, "score"] = pool.loc[0, "score"]  # exploit picks beyond the exploration region
    flat = pool.assign(uncertainty=0.0)  # exploration falls back to Hamming diversity
    batch = selection.select_batch(flat, set(), 5, CONFIG, np.random.default_rng(0))
    assert len(batch) == 5 and batch["key"].is_unique
    tiny = pool.iloc[:3]  # nothing else left: the tied ones fill the batch
    assert len(selection.select_batch(tiny, set(), 3, config, np.random.default_rng(0))) == 3


def test_exploit_picks_keep_a_minimum_distance():
    _, _, pool = make_pool()
    sibling = pool.loc[0, "codes"].copy()
    i, j = np.flatnonzero(sibling == 0)[0], np.flatnonzero(sibling == 1)[0]
    sibling[i], sibling[j] = 1, 0  # one swap away from the best
    pool.loc[1, "codes"] = sibling
    config = SelectionSettings.from_config({"exploration_method": "none",
                                            "batch_min_distance": 4})
    batch = selection.select_batch(pool, set(), 2, config, np.random.default_rng(0))
    assert list(batch["key"]) == list(pool["key"][[0, 2]])


def test_diversity_exploration_from_codes():
    """Diversity: the Hamming distance of the orderings (what the candidate file holds)."""
    _, _, pool = make_pool()
    config = SelectionSettings.from_config({"exploration": 0.2, "exploration_method": "diversity",
                            "exploration_top": 1.0})
    batch = selection.select_batch(pool, set(), 5, config, np.random.default_rng(0))
    codes = np.stack(pool["codes"].to_numpy())
    exploit = np.stack(batch["codes"][:4].to_numpy())
    distance = np.min((codes[:, None, :] != exploit[None, :, :]).sum(axis=2), axis=1)
    distance[np.isin(pool["key"], batch["key"][:4])] = -1
    explore = np.stack(batch["codes"][4:].to_numpy())
    assert (explore != exploit[:, None, :]).sum(axis=2).min() == distance.max()


def test_weights_share_the_batch_and_settled_compositions_get_none():
    compositions = ((28, 27), (20, 35), (40, 15))
    _, _, pool = make_pool(n=30, compositions=compositions)
    keys = [orderings.composition_key(c, ["Pt", "Au"]) for c in compositions]
    settings = SelectionSettings.from_config({"exploration": 0.0})
    weights = pd.Series({keys[0]: 0.9, keys[1]: 0.3, keys[2]: 0.001})
    batch = selection.select_batch(pool, set(), 8, settings, np.random.default_rng(0),
                                   weights=weights, settled=0.01)
    taken = batch["composition"].value_counts()
    # 0.9 : 0.3 -> the k-th pick comes at k / weight: 6 and 2 of 8; the settled one none
    assert taken[keys[0]] == 6 and taken[keys[1]] == 2 and keys[2] not in taken
    # within a composition, still its best first
    first = batch[batch["composition"] == keys[0]]
    assert list(first["predicted_rank"]) == [1, 2, 3, 4, 5, 6]
    # equal weights: the compositions take turns, as without weights
    alike = pd.Series(dict.fromkeys(keys, 0.5))
    plain = selection.select_batch(pool, set(), 6, settings, np.random.default_rng(0))
    same = selection.select_batch(pool, set(), 6, settings, np.random.default_rng(0),
                                  weights=alike)
    assert list(same["key"]) == list(plain["key"])
    # everything settled: an empty batch (the campaign stops)
    none = selection.select_batch(pool, set(), 6, settings, np.random.default_rng(0),
                                  weights=pd.Series(dict.fromkeys(keys, 0.0)), settled=0.01)
    assert none.empty


def test_better_chance_is_the_share_of_members_that_see_a_better_candidate():
    # 4 members; group A's pool: member 0 and 2 score a candidate above A's best
    pool = np.array([[0.5, 0.1, 9.0],
                     [0.2, 0.3, 9.0],
                     [0.1, 0.9, 9.0],
                     [0.0, 0.0, 9.0]])
    best = np.array([[0.4, 0.0], [0.4, 0.0], [0.4, 0.0], [0.4, 0.0]])
    chance = selection.better_chance(pool, ["A", "A", "B"], best, ["A", "B"])
    np.testing.assert_allclose(chance, [0.5, 1.0])
    # a group without candidates cannot improve; one member is no ensemble
    assert selection.better_chance(pool, ["A", "A", "A"], best, ["A", "B"])[1] == 0.0
    assert np.isnan(selection.better_chance(pool[:1], ["A", "A", "B"], best[:1], ["A", "B"])).all()
    # the pool's order does not matter
    order = [2, 0, 1]
    np.testing.assert_allclose(
        selection.better_chance(pool[:, order], np.array(["A", "A", "B"])[order], best,
                                ["A", "B"]), chance)


def test_stop_by_chance_needs_every_group_below_the_threshold():
    assert selection.stops_by_chance([[0.0, 0.04]], 0.05)
    assert not selection.stops_by_chance([[0.0, 0.2]], 0.05)
    assert not selection.stops_by_chance([[0.0]], None)
    assert not selection.stops_by_chance([[]], 0.05)
    assert not selection.stops_by_chance([], 0.05)
    assert not selection.stops_by_chance([[np.nan]], 0.05)


def test_stop_by_chance_in_a_row_needs_that_many_low_rounds_ending_now():
    low, high = [0.0, 0.01], [0.0, 0.3]
    assert selection.stops_by_chance([high, low, low], 0.05, in_a_row=2)
    assert not selection.stops_by_chance([high, low, low], 0.05, in_a_row=3)
    assert not selection.stops_by_chance([low, high, low], 0.05, in_a_row=2)
    assert not selection.stops_by_chance([low, low, high], 0.05, in_a_row=2)
    assert not selection.stops_by_chance([low], 0.05, in_a_row=2)  # too few rounds yet
    assert not selection.stops_by_chance([[], low], 0.05, in_a_row=2)  # round 0: no chance
