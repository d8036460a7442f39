"""Batch selection of rounds >= 1 (the "select" stage) and the stop rule.

The batch is the top of the scored candidate pool (within each composition group, taken in
turn when a campaign has several, because scores are only comparable within a group), plus an
exploration share: candidates among the top ``exploration_top`` of the pool with the largest
bootstrap-ensemble disagreement (``uncertainty``) or the farthest from the picks so far
(``diversity``, Hamming distance of the orderings). Exploitation picks are kept distinct: a
candidate the model scores exactly like an earlier pick, or within ``batch_min_distance`` sites
of one, waits until the others run out. A structure already computed — or symmetry-equivalent
to one — is never selected (canonical keys). Ties are broken by the seeded generator, so the
same pool and seed give the same batch.
"""

import re

import numpy as np
import pandas as pd


def computed_keys(symmetry, labelled):
    """Canonical keys of every computed structure (failed ones included: never rerun).

    Parameters
    ----------
    symmetry : strata.symmetry.SymmetryCache
        The campaign's (``Campaign.symmetry``).
    labelled : pandas.DataFrame
        Columns ``template`` and ``codes``.

    Returns
    -------
    set[str]
    """
    if len(labelled) == 0:
        return set()
    return set(symmetry.keys(labelled["template"].to_numpy(int),
                             np.stack(labelled["codes"].to_numpy())))


def _groups(pool):
    """Group of each candidate whose scores compare: the ``group`` column (composition, or
    composition and template: :func:`strata.ranking.group_names`), else the composition."""
    column = "group" if "group" in pool.columns else "composition"
    return pool[column].astype(str)


def _group_rank(candidates, rng):
    """Rank within group (0 = best), ties broken at random."""
    tie = rng.random(len(candidates))
    order = np.lexsort((tie, -candidates["score"].to_numpy(float)))
    groups = _groups(candidates).to_numpy()[order]
    rank = np.empty(len(candidates), dtype=int)
    seen = {}
    for position, g in zip(order, groups, strict=True):
        rank[position] = seen.get(g, 0)
        seen[g] = rank[position] + 1
    return rank, tie


def _hamming(codes, rows, others):
    """Sites that differ between each of ``rows`` and its nearest of ``others`` (codes rows)."""
    if len(others) == 0:
        return np.full(len(rows), np.iinfo(np.int64).max)
    return np.min((codes[rows][:, None, :] != codes[others][None, :, :]).sum(axis=2), axis=1)


def _explore(pool, chosen, n, method, rng, region=None):
    """Indices (into ``pool``) of ``n`` exploration picks not in ``chosen``, among the first
    ``region`` rows of ``pool`` (default all; ``chosen`` may lie anywhere in ``pool``).

    ``uncertainty``: the largest ensemble disagreement (diversity when it is flat);
    ``diversity``: greedy farthest-point picks by Hamming distance of the ``codes`` (sites
    occupied by different elements) from the picks so far — ``codes`` survive the candidate
    CSV file between the generate and select stages.
    """
    taken = set(chosen)
    region = len(pool) if region is None else min(int(region), len(pool))
    free = np.array([k for k in range(region) if k not in taken], dtype=int)
    if n <= 0 or len(free) == 0:
        return []
    uncertainty = pool["uncertainty"].to_numpy(float)
    if method == "uncertainty" and np.ptp(uncertainty[free]) > 0:
        tie = rng.random(len(free))
        return list(free[np.lexsort((tie, -uncertainty[free]))[:n]])
    if method in ("uncertainty", "diversity"):
        codes = np.stack(pool["codes"].to_numpy()).astype(np.int8)
        anchor = list(chosen) or [int(free[0])]
        distance = _hamming(codes, free, anchor).astype(float)
        picks = []
        for _ in range(min(n, len(free))):
            best = int(np.argmax(distance + 1e-3 * rng.random(len(free))))
            picks.append(int(free[best]))
            distance = np.minimum(distance, (codes[free] != codes[free[best]]).sum(axis=1))
            distance[best] = -np.inf
        return picks
    return list(rng.choice(free, size=min(n, len(free)), replace=False))


def same_score(a, b):
    """Whether predicted scores are equal up to rounding: the model cannot tell the orderings
    apart (``batch_distinct_scores``)."""
    return np.isclose(a, b, rtol=1e-9, atol=1e-9)


def _exploit(pool, turn, n, settings):
    """Exploitation picks: the best in turn order, each distinct from the picks so far.

    A candidate is deferred (taken only if the pool runs out of others) when it is within
    ``batch_min_distance`` sites of an earlier pick, or, with ``batch_distinct_scores``, when
    its predicted score equals an earlier pick's of the same composition: the model cannot
    tell the two apart, so computing both teaches it little (typically symmetry-inequivalent
    but descriptor-identical variants of one swap).
    """
    min_distance = int(settings.batch_min_distance)
    distinct = bool(settings.batch_distinct_scores)
    if n <= 0:
        return []
    if min_distance <= 0 and not distinct:
        return [int(k) for k in turn[:n]]
    codes = np.stack(pool["codes"].to_numpy()).astype(np.int8)
    score = pool["score"].to_numpy(float)
    group = _groups(pool).to_numpy()
    chosen, deferred = [], []
    for k in turn:
        k = int(k)
        if len(chosen) == n:
            break
        close = min_distance > 0 and chosen and _hamming(codes, [k], chosen)[0] < min_distance
        same = distinct and any(
            group[c] == group[k] and same_score(score[c], score[k])
            for c in chosen)
        (deferred if close or same else chosen).append(k)
    return chosen + deferred[: n - len(chosen)]


def select_batch(candidates, computed_keys, batch_size, settings, rng, weights=None,
                 settled=0.0):
    """Choose the batch of one round from the scored candidate pool.

    Parameters
    ----------
    candidates : pandas.DataFrame
        From :func:`strata.search.candidate_pool`: ``template``, ``codes``, ``composition``,
        ``origin``, ``score``, ``uncertainty``, ``key`` (canonical key; without it, the
        codes themselves are the key: exact repeats only), optionally ``group`` (the
        query group whose scores compare; default the composition).
    computed_keys : set
        Keys of every structure already computed (:func:`computed_keys`).
    batch_size : int
    settings : strata.settings.SelectionSettings
    rng : numpy.random.Generator
    weights : pandas.Series, optional
        Composition → weight (a composition scan: the chance that its candidates lower the
        mixing-energy hull, :func:`strata.rounds.hull_weights`). Compositions then take turns
        in proportion to their weight (the ``k``-th pick of one comes at ``k / weight``), and
        those below ``settled`` get none. Default: every composition alike.
    settled : float

    Returns
    -------
    pandas.DataFrame
        The batch (at most ``batch_size`` rows, fewer only when the pool runs out), with the
        candidate columns plus ``predicted_rank`` (1 = best in its composition group of the
        pool) and ``pick`` (``exploit`` or ``explore``); exploit picks first.
    """
    pool = candidates.copy()
    if "key" not in pool.columns:
        pool["key"] = [f"t{int(t)}:" + np.asarray(c, dtype=np.int8).tobytes().hex()
                       for t, c in zip(pool["template"], pool["codes"], strict=True)]
    if "uncertainty" not in pool.columns:
        pool["uncertainty"] = 0.0
    rank, _ = _group_rank(pool, rng)
    pool["predicted_rank"] = rank + 1
    pool = pool.iloc[np.lexsort((pool["predicted_rank"].to_numpy(),))].reset_index(drop=True)
    pool = pool[~pool["key"].isin(computed_keys)]
    pool = pool.drop_duplicates("key", keep="first").reset_index(drop=True)
    weight = np.ones(len(pool))
    if weights is not None:
        weight = pool["composition"].astype(str).map(weights).fillna(0.0).to_numpy(float)
        pool, weight = pool[weight >= max(settled, 1e-12)].reset_index(drop=True), \
            weight[weight >= max(settled, 1e-12)]
    if len(pool) == 0 or batch_size <= 0:
        return pool.assign(pick=pd.Series(dtype=str)).iloc[:0]
    n_explore = 0
    if settings.exploration_method != "none":
        n_explore = int(round(settings.exploration * batch_size))
        n_explore = min(n_explore, batch_size - 1) if batch_size > 1 else 0
    # exploit: by within-group rank over the group's weight, so that groups take turns (in
    # proportion to their weights; the pool is sorted by rank)
    within = _groups(pool).groupby(_groups(pool)).cumcount().to_numpy()
    turn = np.lexsort((pool["predicted_rank"].to_numpy(), (within + 1) / weight))
    chosen = _exploit(pool, turn, batch_size - n_explore, settings)
    top_share = max(len(chosen) + n_explore, int(np.ceil(settings.exploration_top * len(pool))))
    explore = _explore(pool, chosen, min(n_explore, batch_size - len(chosen)),
                       settings.exploration_method, rng, region=top_share)
    batch = pool.iloc[chosen + explore].copy()
    batch["pick"] = ["exploit"] * len(chosen) + ["explore"] * len(explore)
    return batch.reset_index(drop=True)


def better_chance(pool_scores, pool_groups, best_scores, best_groups):
    """Per query group, the ensemble's chance that the pool holds a better ordering than the
    best one computed: the share of bootstrap members that score some pool candidate of the
    group above the group's best computed structure.

    Parameters
    ----------
    pool_scores : ndarray, shape (n_members, n_pool)
        Each member's score of each pool candidate (higher = more stable).
    pool_groups : array_like of str, shape (n_pool,)
    best_scores : ndarray, shape (n_members, n_groups)
        Each member's score of each group's best computed structure.
    best_groups : array_like of str, shape (n_groups,)

    Returns
    -------
    ndarray of float, shape (n_groups,)
        NaN without at least two members (no ensemble); 0 for a group without candidates.
    """
    pool_scores, best_scores = np.atleast_2d(pool_scores), np.atleast_2d(best_scores)
    pool_groups = np.asarray(pool_groups).astype(str)
    chance = np.full(len(best_groups), np.nan)
    if len(best_scores) < 2:
        return chance
    for k, group in enumerate(np.asarray(best_groups).astype(str)):
        rows = pool_groups == group
        if rows.any():
            chance[k] = (pool_scores[:, rows].max(axis=1) > best_scores[:, k]).mean()
        else:
            chance[k] = 0.0
    return chance


def stops_by_chance(chances, stop_chance, in_a_row=1):
    """Stop rule ``selection.stop_chance`` (and ``stop_chance_rounds``): in each of the last
    ``in_a_row`` rounds every group's :func:`better_chance` was below ``stop_chance``.

    Parameters
    ----------
    chances : list of array_like
        Each round's chances (one per group), oldest first, this round last.
    stop_chance : float or None
        None: never stop.
    in_a_row : int
        Rounds in a row the chances must all be below ``stop_chance``; never with fewer
        rounds, a round without a chance or an undefined (NaN) one.
    """
    if stop_chance is None or len(chances) < in_a_row:
        return False
    recent = [np.asarray(c, dtype=float) for c in chances[len(chances) - in_a_row:]]
    return all(len(c) > 0 and bool((c < stop_chance).all()) for c in recent)


def _round_of(labelled):
    if "round" in labelled.columns:
        return labelled["round"].to_numpy(int)
    return np.array([int(re.match(r"r(\d+)-", str(s)).group(1)) for s in labelled["structure_id"]])


def should_stop(labelled, stop_after):
    """Stop rule: no composition's best energy improved in the last ``stop_after`` rounds.

    Parameters
    ----------
    labelled : pandas.DataFrame
        ``composition``, ``energy`` and ``round`` (or ``structure_id`` like ``"r03-007"``).
    stop_after : int or None
        ``selection.stop_after``: ``None`` (never stop) or a number of rounds.

    Returns
    -------
    bool
    """
    patience = stop_after
    if not patience or len(labelled) == 0:
        return False
    rounds = _round_of(labelled)
    current = rounds.max()
    energy = labelled["energy"].to_numpy(float)
    last_improvement = 0
    for composition in labelled["composition"].astype(str).unique():
        rows = (labelled["composition"].astype(str) == composition).to_numpy() & np.isfinite(energy)
        best = np.inf
        for r in range(current + 1):
            in_round = rows & (rounds == r)
            if in_round.any() and energy[in_round].min() < best - 1e-9:
                best = energy[in_round].min()
                last_improvement = max(last_improvement, r)
    return current - last_improvement >= int(patience)
