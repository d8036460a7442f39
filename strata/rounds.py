"""One round of a campaign as job functions: the one code path of every round.

Each stage of the workflow is one function here. A rule script reads its inputs, calls the
job and writes its outputs (``scripts/*.py``); :func:`run` calls the same jobs in-process, in
the same order, for benchmarks and tests. Nothing else runs a round.

=========  ==============================  ==========================================
stage      job                             rule (files)
=========  ==============================  ==========================================
generate   :func:`generate`                generate_candidates → candidates.csv
select     :func:`select`                  select_batch → batch.extxyz
reference  :func:`reference`               compute_reference → references/NNN.extxyz
describe   :func:`describe`                describe_structures → descriptors.csv
train      :func:`train`                   train_model → model.txt/json, metrics.csv
explain    :func:`explain`                 explain_model → explain/*.csv
formula    :func:`formula`                 formula → explain/formula.csv, .txt
chart      :func:`chart`                   chart → chart/*.csv, families.extxyz
report     :mod:`strata.report`            report_round → report.html (rendering only)
=========  ==============================  ==========================================

Every job takes the :class:`strata.campaign.Campaign` context first, then the round and its
inputs as data, and returns data; each stage draws its random numbers from its own stream
(:func:`strata.files.round_rng`), so the same config and seed give the same campaign whoever
runs it.
"""

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from strata import chart as chart_module
from strata import evaluation, files, generation, mpi, orderings, ranking, search, selection
from strata import explain as explain_module
from strata import formula as formula_module
from strata import hull as hull_module
from strata import reference as reference_module
from strata.store import compute_cached


class NothingToTrainOn(RuntimeError):
    """Every reference calculation so far failed."""


def generate(campaign, round_, labelled=None, surrogate=None):
    """Candidates of a round: the initial set (round 0) or the model-guided pool.

    Parameters
    ----------
    campaign : strata.campaign.Campaign
    round_ : int
    labelled : pandas.DataFrame, optional
        Every structure labelled in earlier rounds (rounds >= 1).
    surrogate : strata.ranking.Surrogate, optional
        The model of the round before (rounds >= 1).

    Returns
    -------
    pandas.DataFrame
        The candidate table (:mod:`strata.files`); no rows once the stop rule is met.
    """
    rng = files.round_rng(campaign.settings.seed, round_, "generate")
    if round_ == 0:
        return search.initial_pool(campaign, rng)
    if selection.should_stop(labelled, campaign.settings.selection.stop_after):
        return files.empty_candidates()
    return search.candidate_pool(campaign, labelled, surrogate, rng)


def choose(campaign, round_, candidates, labelled=None, weights=None):
    """The batch of a round as a candidate table: round 0 takes the whole initial set;
    later rounds choose ``batch_size`` candidates, never one already computed (nor a
    symmetry-equivalent one), shared among the compositions by ``weights``
    (:func:`hull_weights`; default alike)."""
    if round_ == 0 or candidates.empty:
        return candidates
    return choose_from(campaign, round_, candidates,
                       selection.computed_keys(campaign.symmetry, labelled), weights)


def choose_from(campaign, round_, candidates, computed, weights=None):
    """``batch_size`` candidates of a scored pool whose ``key`` is not in ``computed``
    (:func:`strata.selection.select_batch` with the campaign's settings and the round's
    random stream)."""
    rng = files.round_rng(campaign.settings.seed, round_, "select")
    return selection.select_batch(candidates, computed, campaign.settings.batch_size,
                                  campaign.settings.selection, rng, weights,
                                  campaign.settings.hull.settled)


def better_chance(campaign, round_, candidates, labelled=None, surrogate=None):
    """The ensemble's chance, per query group, that the round's pool holds an ordering better
    than the best computed so far (:func:`strata.selection.better_chance`: the share of the
    previous round's bootstrap members that score some candidate above that structure).

    Returns
    -------
    pandas.DataFrame
        ``group``, ``best`` (structure id), ``energy`` (eV), ``candidates`` (pool size) and
        ``chance``, one row per group of the pool or with a computed structure (chance 1 for
        a group with nothing computed yet); no rows in round 0 or for an empty pool.
    """
    columns = ["group", "best", "energy", "candidates", "chance"]
    if not round_ or surrogate is None or candidates.empty:
        return pd.DataFrame(columns=columns)
    ok = labelled[np.isfinite(labelled["energy"].to_numpy(float))].reset_index(drop=True)
    groups = pd.Series(ranking.group_names_of(ok, surrogate.settings), dtype=str)
    lowest = ok["energy"].groupby(groups).idxmin()  # group → row of its best structure
    best = ok.loc[lowest.to_numpy()].reset_index(drop=True)
    pool_groups = candidates["group"].astype(str).to_numpy()

    def scores(table):
        return surrogate.member_scores(search.pool_features(campaign.featurizer, table,
                                                            surrogate.prototypes))
    table = pd.DataFrame({
        "group": lowest.index.astype(str), "best": best["structure_id"].astype(str),
        "energy": best["energy"].to_numpy(float),
        "chance": (selection.better_chance(scores(candidates), pool_groups, scores(best),
                                           lowest.index) if len(best) else [])})
    new = sorted(set(pool_groups) - set(table["group"]))  # nothing computed: any is better
    table = pd.concat([table, pd.DataFrame({"group": new, "best": "", "energy": np.nan,
                                            "chance": 1.0})], ignore_index=True)
    table["candidates"] = [int((pool_groups == g).sum()) for g in table["group"]]
    return table[columns]


def select(campaign, round_, candidates, labelled=None, surrogate=None, pure_results=None,
           chance=None, earlier_chances=()):
    """The structures of a round to compute (:func:`choose`), as :class:`ase.Atoms`
    numbered ``rNN-NNN``; with the pure particles' results (``hull.enabled``) the batch goes
    to the compositions that can still lower the hull (:func:`hull_weights`). No structure
    when the round's :func:`better_chance` table ``chance`` and those of the rounds before
    (``earlier_chances``, oldest first) meet the stop rule ``selection.stop_chance`` (below it
    ``selection.stop_chance_rounds`` rounds in a row)."""
    settings = campaign.settings.selection
    if chance is not None and selection.stops_by_chance(
            [table["chance"] for table in [*earlier_chances, chance]], settings.stop_chance,
            settings.stop_chance_rounds):
        return []
    weights = None
    if round_ and pure_results is not None and not candidates.empty:
        weights = hull_weights(campaign, candidates, labelled, surrogate, pure_results)
    batch = choose(campaign, round_, candidates, labelled, weights)
    return files.batch_structures(batch, campaign.templates, campaign.elements, round_)


def hull_weights(campaign, candidates, labelled, surrogate, pure_results):
    """Composition → the highest chance, among its candidates, of falling below the current
    mixing-energy hull (:func:`strata.hull.below_hull_probability`); 1 for a composition
    with nothing computed yet (``initial_every``): none can be settled before one of its
    orderings is computed (one on a straight stretch of the hull would otherwise never pass
    one half).

    A candidate's mixing energy is its composition's mean over the labelled structures plus
    the surrogate's score above their mean score, in eV by one line pooled over every
    composition (:func:`strata.hull.energy_scale`); its spread is that line's residual and the
    bootstrap ensemble's disagreement (``uncertainty``) in eV.
    """
    tables = hull(campaign, labelled, pure_results)  # points: ok's rows, in their order
    ok = labelled[np.isfinite(labelled["energy"])]
    table = with_prototypes(campaign, ok, surrogate.prototypes)
    groups = ok["composition"].astype(str).to_numpy()
    score = surrogate.score(table)
    slope, spread = hull_module.energy_scale(ok["energy"], score, groups)
    counts_of = campaign.composition_counts()
    at = pd.DataFrame({"e_mix": tables["points"]["e_mix"].to_numpy(), "score": score},
                      index=groups).groupby(level=0).mean()
    best = tables["hull"]
    at["hull"] = hull_module.hull_energy(
        np.stack([counts_of[c] / counts_of[c].sum() for c in at.index]),
        best[[f"x_{e}" for e in campaign.elements]], best["e_mix"])
    composition = candidates["composition"].astype(str)
    weights = pd.Series(1.0, index=pd.unique(composition))
    mine = composition.isin(at.index).to_numpy()
    candidates, composition = candidates[mine], composition[mine].to_numpy()
    size = np.array([counts_of[c].sum() for c in composition], float)
    e_mix = at.loc[composition, "e_mix"].to_numpy() + slope * (
        candidates["score"].to_numpy(float) - at.loc[composition, "score"].to_numpy()) / size
    uncertainty = candidates.get("uncertainty", pd.Series(0.0, index=candidates.index))
    sigma = np.hypot(spread, slope * uncertainty.to_numpy(float)) / size
    chance = hull_module.below_hull_probability(e_mix, sigma, at.loc[composition, "hull"])
    weights.update(pd.Series(chance, index=composition).groupby(level=0).max())
    return weights


def reference(campaign, atoms, store=None, txt=None, workdir=None, tasks=None):
    """The reference result of one structure, and whether it was computed now.

    Through the calculation store ``store`` when given (``computed`` False: taken from it);
    on ``tasks`` MPI ranks (default ``reference.resources.tasks``) when more than one, with
    ``workdir`` for the hand-over files (``computed`` is then None: the ranks' log says).
    """
    settings = campaign.settings.reference_dict()
    resources = campaign.settings.resources
    tasks = resources["tasks"] if tasks is None else tasks
    if tasks > 1:
        result = mpi.compute_in_ranks(atoms, settings, resources["launcher"], tasks, workdir,
                                      store=store, txt=txt)
        return result, None
    if store is None:
        return reference_module.compute(atoms, settings, txt=txt), True
    return compute_cached(atoms, settings, store, txt=txt)


def describe(campaign, results):
    """Labels and descriptors of a round's reference results (one row each), described by
    their lattice ordering like the pool's candidates, relaxed or not
    (:func:`strata.files.labelled_table`)."""
    return files.labelled_table(results, campaign.featurizer)


def pair_coefficients(campaign):
    """The ordering-independent part of the environment blocks on every template
    (:meth:`strata.featurizer.Featurizer.pair_coefficients`): computed once per campaign
    (rule ``pair_coefficients``), read by every job that describes orderings
    (:meth:`strata.campaign.Campaign.from_params`). LODE's take ~30 s on a 147-atom
    template, which each of those jobs paid before."""
    return campaign.featurizer.pair_coefficients()


def fit_model(campaign, labelled):
    """The surrogate trained on every structure of ``labelled`` (failed ones left out), with
    its prototype environments (``model.prototypes``; :func:`learn_prototypes`).

    Raises
    ------
    NothingToTrainOn
        When every reference calculation so far failed.
    """
    return _fitted(campaign, labelled)[0]


def _fitted(campaign, labelled):
    """:func:`fit_model`'s surrogate and the table it was trained on (prototype features
    appended, :func:`with_prototypes`)."""
    if not labelled["energy"].notna().any():
        raise NothingToTrainOn(
            "every reference calculation so far failed (see 'reason' in "
            "results/round_*/references/*.extxyz, or `ase db results/references.db "
            "status=failed`); failed calculations are not stored, so fix the reference "
            "settings and rerun")
    settings = campaign.settings
    prototypes = learn_prototypes(campaign, labelled)
    table = with_prototypes(campaign, labelled, prototypes)
    surrogate = ranking.fit_surrogate(
        table[files.feature_columns(table)], table["energy"].to_numpy(),
        ranking.groups_of(table, settings.model), settings.model, settings.seed)
    surrogate.prototypes = prototypes
    return surrogate, table


def learn_prototypes(campaign, labelled):
    """``model.prototypes`` prototype environments of the labelled structures' atoms
    (:meth:`strata.featurizer.Featurizer.learn_prototypes`), None when 0."""
    count = campaign.settings.model.prototypes
    if not count:
        return None
    return campaign.featurizer.learn_prototypes(
        labelled["template"].to_numpy(int), list(labelled["codes"]),
        labelled["structure_id"].astype(str).to_numpy(), count, campaign.settings.seed)


def with_prototypes(campaign, labelled, prototypes):
    """``labelled`` with the prototype features of each structure appended (the columns
    :attr:`strata.prototypes.Prototypes.names`); ``labelled`` itself when None."""
    if prototypes is None:
        return labelled
    featurizer = campaign.featurizer
    X = np.empty((len(labelled), len(prototypes.names)))
    templates = labelled["template"].to_numpy(int)
    for template in np.unique(templates):
        rows = np.flatnonzero(templates == template)
        codes = np.stack(labelled["codes"].to_numpy()[rows])
        X[rows] = featurizer.prototype_features(template, codes, prototypes)
    features = pd.DataFrame(X, columns=prototypes.names, index=labelled.index)
    return pd.concat([labelled, features], axis=1)


def train(campaign, round_, labelled):
    """The surrogate of a round (:func:`fit_model`), the out-of-fold scores of every label
    (:func:`strata.evaluation.cross_validated_scores`, prototype features included) and the
    round's metrics (the new batch scores the model that chose it; the cross-validation; the
    regret is the reports', :func:`strata.evaluation.with_regret`).

    Returns
    -------
    surrogate : strata.ranking.Surrogate
    metrics : pandas.DataFrame
        One row.
    cv_scores : pandas.DataFrame
        ``structure_id``, ``composition``, ``template``, ``energy``, ``score``.
    """
    settings = campaign.settings
    surrogate, table = _fitted(campaign, labelled)
    cv_scores = evaluation.cross_validated_scores(table, settings.model, settings.seed)
    metrics = evaluation.round_metrics(table, round_, settings.model, settings.batch_size,
                                       cv_scores)
    return surrogate, metrics, cv_scores


def explain(campaign, labelled, surrogate):
    """What the surrogate of a round has learnt, as tables: SHAP values, SHAP mass per
    region, the region ablation and the layer-weight table
    (:func:`strata.explain.explain_round`), its prototype environments
    (:func:`strata.explain.prototype_table`; no rows without) and the prototype features of
    every labelled structure (``prototype_features``: not in the describe stage's tables)."""
    settings = campaign.settings
    table = with_prototypes(campaign, labelled, surrogate.prototypes)
    tables = explain_module.explain_round(table, surrogate, surrogate.settings,
                                          settings.report, settings.seed, settings.batch_size)
    tables["prototypes"] = explain_module.prototype_table(surrogate.prototypes, tables["shap"],
                                                          table, campaign.elements)
    names = surrogate.prototypes.names if surrogate.prototypes is not None else []
    tables["prototype_features"] = table[["structure_id", *names]]
    return tables


def formula(campaign, labelled, surrogate, shap, cv_scores):
    """The round's formula of stability (:func:`strata.formula.formula_tables`): screened by
    the mean |SHAP| of the explain stage's table ``shap``, cross-validated on the model's folds
    and compared with the model's out-of-fold ``cv_scores`` (:func:`train`).

    Returns
    -------
    tables : dict of str to pandas.DataFrame
        ``formula`` (one row per method) and ``parity`` (out-of-fold ΔE per structure).
    text : str
        Expression, legend, accuracy and verdict (:func:`strata.formula.formula_text`).
    """
    settings = campaign.settings
    table = with_prototypes(campaign, labelled, surrogate.prototypes)
    importance = explain_module.mean_abs_shap(shap[explain_module.shap_columns(shap)])
    found, methods, parity = formula_module.formula_tables(
        table, importance, cv_scores, surrogate.settings, settings.report.formula,
        settings.seed, settings.batch_size)
    return {"formula": methods, "parity": parity}, formula_module.formula_text(found, methods)


def pure_particles(campaign):
    """The pure particle of each element on the campaign's template: the references of the
    mixing energy (:mod:`strata.hull`), computed once like a batch (``structure_id``
    ``pure-<El>``, round -1)."""
    template = campaign.templates[0]
    return [generation.structure_atoms(
                template, np.full(len(template), code), campaign.elements,
                structure_id=f"pure-{element}", round=-1, template=0,
                composition=f"{element}{len(template)}", origin="pure", pick="reference")
            for code, element in enumerate(campaign.elements)]


def pure_energies(results):
    """Element → energy (eV) of the pure particles' reference results (:func:`pure_particles`).

    Raises
    ------
    ValueError
        When one of them failed: the hull is not defined without it.
    """
    energies = {}
    for result in results:
        element = result.get_chemical_symbols()[0]
        if result.info["status"] != "ok":
            raise ValueError(
                f"the reference calculation of the pure {element} particle failed "
                f"({result.info.get('reason', 'no reason recorded')}): the mixing energies "
                f"need it; fix the reference settings, or switch hull.enabled off")
        energies[element] = result.get_potential_energy()
    return energies


def hull(campaign, labelled, pure_results):
    """The mixing energies of the structures labelled so far and their hull
    (:mod:`strata.hull`), from the pure particles' ``pure_results``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``points`` (:func:`strata.hull.mixing_table`: every computed structure) and ``hull``
        (:func:`strata.hull.hull_table`: one row per composition).
    """
    counts = campaign.composition_counts()
    table = labelled[["composition", "structure_id", "energy"]].copy()
    per_element = np.stack([counts[c] for c in table["composition"].astype(str)])
    for column, element in enumerate(campaign.elements):
        table[element] = per_element[:, column]
    pure = pure_energies(pure_results)
    points = hull_module.mixing_table(table, pure, campaign.elements)
    return {"points": points, "hull": hull_module.hull_table(
        points, pure, campaign.elements, len(campaign.templates[0]))}


def chart(campaign, round_, labelled, candidates, previous=None):
    """The chart of the structures explored so far (:mod:`strata.chart`).

    Every computed structure (``labelled``, failures left out; this round's are the batch)
    and a fixed background of random orderings (``report.chart.background``, the same in
    every round) are encoded by their radial distribution functions on their template's
    sites (or by the layer descriptor) and mapped to 2-D, continuing the previous round's
    map; the computed ones are clustered into motif families. A sample of the round's pool
    (``candidates``; none in round 0, whose candidates are the initial set) is then placed
    into the finished map (:func:`strata.chart.place`): the pool changes completely from
    round to round and would otherwise reshape the map (the computed points of the default
    campaign moved by 0.75 of its spread from round 0 to 1 when the pool was embedded with
    them, 0.02 now).

    Parameters
    ----------
    previous : pandas.DataFrame, optional
        The previous round's ``points``: its computed and background rows keep their place.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``points`` (``structure_id``, ``kind`` computed / batch / random / pool, ``round``,
        ``composition``, ``origin``, ``energy``, ``e_rel`` above the best of its composition,
        ``x``, ``y``, ``family``, ``family_name``), ``families`` (one row per family: name,
        members, best and mean ``e_rel``, the lowest member) and ``quality`` (trustworthiness
        over every point, purity against the round-0 motifs, stability of the previous
        computed points).
    """
    settings = campaign.settings.report.chart
    seed = campaign.settings.seed
    ok = labelled[labelled["status"] == "ok"]
    computed = ok.assign(kind=np.where(ok["round"].to_numpy(int) == round_, "batch",
                                       "computed"))
    background = _random_orderings(campaign, settings.background,
                                   files.round_rng(seed, 0, "chart"))
    background = background.assign(
        kind="random", round=0, energy=np.nan,
        structure_id=[f"random-{i:03d}" for i in range(len(background))])
    fitted = _chart_order(pd.concat([computed, background], ignore_index=True), previous)
    pool = _pool_sample(campaign, round_, candidates, ok, settings.pool_sample)
    scale = settings.input == "layers"  # RDFs share one unit: centred only
    vectors = _chart_vectors(campaign, fitted, settings)
    shared = _previous_places(previous, fitted)
    coords = chart_module.embed(vectors, shared, seed, settings.perplexity, scale)
    pool_vectors = _chart_vectors(campaign, pool, settings)
    pool_coords = chart_module.place(pool_vectors, vectors, coords, scale)
    is_computed = (fitted["kind"] != "random").to_numpy()
    labels = np.full(len(fitted), -1)
    labels[is_computed] = chart_module.families(coords[is_computed], settings.min_family)
    names = chart_module.family_names(labels[is_computed], fitted[is_computed])
    energy = fitted["energy"].to_numpy(float)
    e_rel = energy - fitted.groupby("composition")["energy"].transform("min").to_numpy(float)
    points = pd.concat([
        pd.DataFrame({
            "structure_id": fitted["structure_id"].astype(str).to_numpy(),
            "kind": fitted["kind"].to_numpy(), "round": fitted["round"].to_numpy(int),
            "composition": fitted["composition"].to_numpy(),
            "origin": fitted["origin"].to_numpy(), "energy": energy, "e_rel": e_rel,
            "family": labels, "family_name": [names.get(f, "") for f in labels]}),
        pd.DataFrame({"structure_id": "", "kind": "pool",
                      "round": round_, "composition": pool["composition"].to_numpy(),
                      "origin": pool["origin"].to_numpy(), "energy": np.nan, "e_rel": np.nan,
                      "family": -1, "family_name": ""}, index=range(len(pool)))],
        ignore_index=True)
    all_coords = np.vstack([coords, pool_coords])
    points["x"], points["y"] = all_coords[:, 0], all_coords[:, 1]
    motifs = np.where(fitted["round"].to_numpy(int)[is_computed] == 0,
                      fitted["origin"].to_numpy()[is_computed], None)
    kept = is_computed[:0 if shared is None else len(shared)]  # computed rows placed before
    quality = {"points": len(points), "computed": int(is_computed.sum()),
               "families": int(len(names)), "input": settings.input,
               "trustworthiness": chart_module.quality(
                   np.vstack([vectors, pool_vectors]) if len(pool) else vectors, all_coords,
                   scale=scale),
               "purity": chart_module.purity(labels[is_computed], motifs),
               "stability": (np.nan if not kept.any() else chart_module.stability(
                   shared[kept], coords[:len(kept)][kept]))}
    return {"points": points, "families": chart_module.family_table(points[:len(fitted)]),
            "quality": pd.DataFrame([quality])}


def _pool_sample(campaign, round_, candidates, computed, count):
    """At most ``count`` of the round's candidates that were not computed, a seeded sample in
    their order; none in round 0 (its candidates are the initial set)."""
    if round_ == 0:
        return candidates.iloc[:0]
    pool = _uncomputed(candidates, computed)
    rng = files.round_rng(campaign.settings.seed, round_, "chart")
    return pool.iloc[np.sort(rng.choice(len(pool), min(count, len(pool)), replace=False))]


def _random_orderings(campaign, count, rng):
    """``count`` random orderings, spread over the compositions, on the first template."""
    rows = []
    for key, counts in campaign.composition_counts().items():
        for _ in range(count // len(campaign.compositions)):
            rows.append({"template": 0, "codes": orderings.random_ordering(counts, rng),
                         "composition": key, "origin": "random"})
    return pd.DataFrame(rows, columns=["template", "codes", "composition", "origin"])


def _uncomputed(candidates, computed):
    """The candidates that are not among the computed structures (same template and sites)."""
    def keys(table):
        return [(int(t), np.asarray(c, dtype=np.int8).tobytes())
                for t, c in zip(table["template"], table["codes"], strict=True)]
    done = set(keys(computed))
    return candidates[[key not in done for key in keys(candidates)]]


def _chart_order(computed, previous):
    """The charted rows (computed structures and background), those of the previous chart
    first, in its order."""
    if previous is None or not len(previous):
        return computed.reset_index(drop=True)
    place = {key: i for i, key in enumerate(previous.loc[previous["kind"] != "pool",
                                                         "structure_id"].astype(str))}
    order = computed["structure_id"].astype(str).map(lambda k: place.get(k, len(place)))
    return computed.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def _previous_places(previous, computed):
    """Coordinates in the previous chart of the first charted rows (those it holds,
    :func:`_chart_order`), or None."""
    if previous is None:
        return None
    kept = previous[previous["kind"] != "pool"]
    kept = kept.set_index(kept["structure_id"].astype(str))
    ids = computed["structure_id"].astype(str)
    count = int(ids.isin(kept.index).sum())
    return kept.loc[ids[:count], ["x", "y"]].to_numpy(float) if count else None


def _chart_vectors(campaign, rows, settings):
    """What the chart embeds of ``rows`` (labelled or candidates, with template and codes)."""
    templates = rows["template"].to_numpy(int)
    codes = [np.asarray(c) for c in rows["codes"]]
    out = np.empty((len(rows), 0))
    for template in np.unique(templates):
        members = np.flatnonzero(templates == template)
        block = np.stack([codes[i] for i in members])
        if settings.input == "rdf":
            part = chart_module.rdf_of_orderings(campaign.templates[template], block,
                                                 campaign.elements, settings.r_max,
                                                 settings.bins, settings.width)
        else:
            part = campaign.featurizer(template, block)
        if out.shape[1] != part.shape[1]:
            out = np.zeros((len(rows), part.shape[1]))
        out[members] = part
    return out


def chart_representatives(campaign, labelled, families):
    """The lowest-energy member of each motif family as :class:`ase.Atoms` (``info``:
    ``family``, ``name``, ``structure_id``)."""
    by_id = labelled.set_index(labelled["structure_id"].astype(str))
    out = []
    for row in families.itertuples():
        member = by_id.loc[str(row.representative)]
        out.append(generation.structure_atoms(
            campaign.templates[int(member["template"])], member["codes"], campaign.elements,
            family=int(row.family), name=row.name, structure_id=str(row.representative)))
    return out


def prototype_environments(campaign, labelled, prototypes):
    """The exemplar of each prototype as :class:`ase.Atoms`: its central atom first, then its
    bonded neighbours (the template's neighbour graph) on its structure's lattice ordering,
    centred at the origin; ``info`` holds ``prototype``, ``structure_id`` and ``centre``."""
    if prototypes is None:
        return []
    by_id = labelled.set_index(labelled["structure_id"].astype(str))
    out = []
    for p, exemplar in enumerate(prototypes.exemplars):
        row = by_id.loc[exemplar["structure_id"]]
        template = int(row["template"])
        atoms = generation.structure_atoms(campaign.templates[template], row["codes"],
                                           campaign.elements)
        centre = exemplar["atom"]
        bonds = campaign.featurizer.topologies[template].bonds
        near = np.unique(np.concatenate([bonds[bonds[:, 0] == centre, 1],
                                         bonds[bonds[:, 1] == centre, 0]]))
        environment = atoms[[centre, *near]]
        environment.positions -= environment.positions[0]
        environment.info = {"prototype": p, "structure_id": exemplar["structure_id"],
                            "centre": int(centre)}
        out.append(environment)
    return out


@dataclass
class Round:
    """What one round of :func:`run` produced."""

    round: int
    candidates: pd.DataFrame
    batch: list
    results: list
    labelled: pd.DataFrame
    surrogate: ranking.Surrogate
    metrics: pd.DataFrame
    cv_scores: pd.DataFrame
    seconds: dict
    pure: list = None  # the pure particles' results (hull.enabled)
    chance: pd.DataFrame = None  # :func:`better_chance` of the round's pool


def run(campaign, compute=None, rounds=None):
    """Run a campaign in-process, round after round, through the job functions.

    Parameters
    ----------
    campaign : strata.campaign.Campaign
    compute : callable, optional
        ``compute(atoms) -> result`` for each structure of a batch (default:
        :func:`reference` without a store). A benchmark passes its counting oracle.
    rounds : int, optional
        Number of rounds (default: ``campaign.settings.rounds``).

    Yields
    ------
    Round
        After each round's training; stop iterating to stop the campaign. A round with an
        empty batch (stop rule) ends it.
    """
    compute = compute or (lambda atoms: reference(campaign, atoms)[0])
    tables, chances, labelled, surrogate, pure = [], [], None, None, None
    if campaign.settings.hull.enabled:  # once, before round 0 (rules pure_particles, compute_pure)
        pure = [files.round_trip(compute(atoms), files.write_result, files.read_result,
                                 ".extxyz") for atoms in pure_particles(campaign)]
    for round_ in range(campaign.settings.rounds if rounds is None else rounds):
        clock = _Clock()
        # every hand-over goes through its file format, as between two rules
        with clock("generate"):
            candidates = files.round_trip(generate(campaign, round_, labelled, surrogate),
                                          files.write_candidates, files.read_candidates, ".csv")
        with clock("select"):
            chance = files.round_trip(better_chance(campaign, round_, candidates, labelled,
                                                    surrogate),
                                      files.write_csv, files.read_table, ".csv")
            batch = files.round_trip(select(campaign, round_, candidates, labelled, surrogate,
                                            pure, chance, chances),
                                     files.write_structures, files.read_structures, ".extxyz")
            chances.append(chance)
        if not batch:
            return
        with clock("reference"):
            results = [files.round_trip(compute(atoms), files.write_result, files.read_result,
                                        ".extxyz") for atoms in batch]
        with clock("describe"):
            tables.append(files.round_trip(describe(campaign, results), files.write_csv,
                                           files.read_table, ".csv"))
            labelled = files.concat_labelled(tables)
        with clock("train"):
            surrogate, metrics, cv_scores = train(campaign, round_, labelled)
            surrogate = files.round_trip(surrogate, ranking.Surrogate.save,
                                         ranking.load_surrogate, "")
        yield Round(round_, candidates, batch, results, labelled, surrogate, metrics,
                    cv_scores, clock.seconds, pure, chance)


class _Clock:
    """Wall time per stage of one round (a context manager per stage)."""

    def __init__(self):
        self.seconds = {}

    @contextlib.contextmanager
    def __call__(self, stage):
        start = time.perf_counter()
        yield
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def best_energy(labelled):
    """Lowest finite energy of a labelled table (NaN for none)."""
    energy = labelled["energy"].to_numpy(float)
    return float(np.nanmin(energy)) if np.isfinite(energy).any() else np.nan
