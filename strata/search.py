"""The candidates of each round (the "generate" stage): the initial set, then model-guided pools.

Round 0 takes the diverse initial set (:func:`initial_pool`). In later rounds, for every
composition (and template) of the campaign, a deep search on the surrogate alone builds a
large pool of orderings at the exact stoichiometry (:func:`candidate_pool`):

1. seeds: the best labelled structures, fresh random orderings and fresh structured motifs
   (core–shell both ways, surface segregation of each element, Janus, layered), and the
   optima of every linear prior (the main model's and each bootstrap member's, so a
   Thompson-like spread of optima), the prior read as a cluster expansion
   (:mod:`strata.expansion`): exact by mixed-integer programming for a pair expansion
   (``search.exact_seconds``), else by steepest swap ascent from the labelled seeds and
   ``search.prior_starts`` random orderings (the exact optima hill-climbed on the full model);
2. ``search.passes`` generate-and-score passes: swap mutations (1 … ``max_swaps`` swaps),
   shell mutations (a swap between two different site shells: vertex/edge/facet/sub-layers),
   composition-preserving crossovers of the current best, and a steepest-ascent scan of every
   single swap of the best ones (:mod:`strata.moves`; with ``search.screen``, of the swaps with
   the largest exact gain on the main prior only); every child is scored by the model and
   the ``search.population`` best survive as the next parents (:class:`strata.archive.Archive`);
   then the ``search.polish`` best orderings are hill-climbed to a single-swap optimum of the
   model (:func:`strata.archive.polish`), so that the model's own optimum is in the pool;
3. the pool: the best-scored distinct orderings (canonical keys: symmetry-equivalent copies are
   one candidate), never a labelled one, plus a share of fresh random and structured ones kept
   whatever their score (exploration material).

No reference calculation is made here; everything is scored by the model, each ordering
once: the pool keeps the scores the search gave it (a row's score does not depend on the
batch it was scored in, :meth:`strata.prior.LinearPrior.score`), and only the ensemble's
spread (the uncertainty) is computed on the final pool.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from strata import moves, orderings, ranking
from strata.archive import Archive, hill_climb, polish
from strata.expansion import ClusterExpansion, NotAnExpansion, SwapAscent, maximise
from strata.generation import initial_set

POOL_COLUMNS = ["template", "codes", "composition", "group", "origin", "score", "uncertainty",
                "key"]


def initial_pool(campaign, rng):
    """The candidates of round 0: the diverse initial set of every composition.

    Parameters
    ----------
    campaign : strata.campaign.Campaign
        ``initial_size`` and ``initial_motifs`` of its settings, at every
        ``initial_every``-th composition (:func:`initial_compositions`); symmetry-equivalent
        orderings are one (its canonical keys).
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``composition``, ``origin``
        (:func:`strata.generation.initial_set`).
    """
    settings = campaign.settings
    coordinations = [campaign.featurizer.coordination(t) for t in range(len(campaign.templates))]
    return initial_set(
        list(campaign.templates), coordinations,
        initial_compositions(list(campaign.compositions), settings.initial_every),
        settings.initial_size, list(settings.elements), rng,
        key=lambda t, codes: campaign.keys(t, codes)[0], motifs=settings.initial_motifs,
        given=campaign.user_orderings,
    )


def initial_compositions(compositions, every):
    """Every ``every``-th of ``compositions``, the first and the last always."""
    chosen = list(range(0, len(compositions), every))
    if chosen[-1] != len(compositions) - 1:
        chosen.append(len(compositions) - 1)
    return [compositions[i] for i in chosen]


@dataclass(frozen=True)
class Target:
    """One composition on one template: what a deep search needs, the model bound in.

    Attributes
    ----------
    template : int
        Index of the template.
    counts : numpy.ndarray
        Count per element.
    seeds : numpy.ndarray, shape (k, n_atoms)
        Best labelled orderings of this composition and template (best first), may be empty.
    positions, shells, coordination : numpy.ndarray
        Of the template (shells: :meth:`strata.featurizer.Featurizer.shells`).
    score : callable
        ``score(codes) -> scores``: the surrogate's score of orderings (2-D) of the template.
    keys : callable
        ``keys(codes) -> keys``: their canonical keys.
    labelled_keys : set
        Keys of every computed structure: never returned.
    priors : callable or None
        ``priors(codes) -> scores`` of shape (n_priors, n_rows): the linear priors of the main
        model and of each ensemble member (:meth:`strata.ranking.Surrogate.prior_scores`),
        whose optima seed the search and whose first (the main model's) screens its swaps
        (``search.screen``); None unless the model's prior is linear
        (``model.prior_features: linear``).
    bonds : numpy.ndarray of int, shape (n_bonds, 2)
        Bonds of the template's neighbour graph.
    many_body : bool
        Whether the priors hold triplet terms (``descriptors.neighbour_counts``).
    """

    template: int
    counts: np.ndarray
    seeds: np.ndarray
    positions: np.ndarray
    shells: np.ndarray
    coordination: np.ndarray
    score: Callable
    keys: Callable
    labelled_keys: set
    priors: Callable | None = None
    bonds: np.ndarray | None = None
    many_body: bool = False


class DeepSearch:
    """The deep search of the model for one target at a time, settings bound once.

    Parameters
    ----------
    settings : strata.settings.SearchSettings
    n_pool : int
        Candidates returned per target.
    """

    def __init__(self, settings, n_pool):
        self.settings = settings
        self.n_pool = n_pool

    def run(self, target, rng):
        """Search the model for one target.

        Returns
        -------
        pandas.DataFrame
            Columns ``template``, ``codes``, ``origin``, ``key``, ``score``: the best-scored
            distinct orderings (best first), then the fresh ones kept whatever their score,
            each with the score the search gave it.
        """
        settings = self.settings
        archive = Archive(target.score, target.keys, target.labelled_keys)
        n_fresh = max(int(round(settings.fresh_share * self.n_pool)), int(len(target.seeds) == 0))
        fresh, fresh_origins = moves.fresh_orderings(
            target.positions, target.coordination, target.counts,
            max(n_fresh, 2 * settings.population), rng, settings.structured)
        archive.evaluate(target.seeds, "labelled")
        fresh_scores = archive.evaluate(fresh, fresh_origins)
        expansions = self._expansions(target, rng)
        optima, exact = self._prior_optima(target, expansions, rng)
        archive.evaluate(optima, "prior")
        neighbours = self._neighbourhood(expansions)
        for codes in optima if exact else []:  # one per prior: each climbed on the full model
            hill_climb(codes, archive, neighbours=neighbours)
        for _ in range(settings.passes):
            self._generation(archive, target, rng, neighbours)
        polish(archive, settings.polish, neighbours=neighbours)
        return self._pool(archive, target, (fresh, fresh_origins, fresh_scores),
                          min(n_fresh, self.n_pool))

    def _exact(self, target):
        """Whether the priors' exact optima are searched (MILP: pair expansions only)."""
        return self.settings.exact_seconds > 0 and not target.many_body

    def _expansions(self, target, rng):
        """The linear priors of ``target`` (the main model's first, then each bootstrap
        member's) read as cluster expansions (:meth:`ClusterExpansion.of_many`), when a
        setting uses them (``exact_seconds``, ``prior_starts``, ``screen``); else, or when
        the priors are not cluster expansions (``model.prior_features: all``) or not
        fitted, an empty list."""
        settings = self.settings
        used = self._exact(target) or settings.prior_starts > 0 or settings.screen > 0
        if target.priors is None or not used:
            return []
        try:
            return ClusterExpansion.of_many(target.priors, target.bonds, len(target.positions),
                                            len(target.counts), rng, target.many_body)
        except NotAnExpansion:
            return []

    def _prior_optima(self, target, expansions, rng):
        """The optima of the linear priors ``expansions`` of ``target`` (a Thompson-like
        spread: the main model's and each bootstrap member's).

        With ``exact_seconds`` and pair expansions: each prior's exact optimum
        (:func:`strata.expansion.maximise`). Else, with ``prior_starts``: each prior climbed
        by steepest swap ascent (:class:`strata.expansion.SwapAscent`) from the labelled
        seeds and ``prior_starts`` random orderings. None without expansions.

        Returns
        -------
        optima : numpy.ndarray, shape (k, n_atoms)
            The distinct optima (the climbs' local optima, or one exact optimum per prior).
        exact : bool
            Whether they are the exact ones.
        """
        settings = self.settings
        n_atoms = len(target.positions)
        exact = self._exact(target)
        if not expansions or not (exact or settings.prior_starts > 0):
            return np.empty((0, n_atoms), dtype=orderings.CODE_DTYPE), False
        if exact:
            optima = [maximise(e, target.counts, settings.exact_seconds)[0] for e in expansions]
            optima = np.reshape([c for c in optima if c is not None], (-1, n_atoms))
            return optima[orderings.first_occurrences(optima)], True
        randoms = [orderings.random_ordering(target.counts, rng)
                   for _ in range(settings.prior_starts)]
        starts = np.concatenate([target.seeds, np.reshape(randoms, (-1, n_atoms))])
        which = np.repeat(np.arange(len(expansions)), len(starts))
        climbed = SwapAscent(expansions).climb(np.tile(starts, (len(expansions), 1)), which)
        return climbed[orderings.first_occurrences(climbed)], False

    def _neighbourhood(self, expansions):
        """The single swaps of an ordering that the neighbourhood scans and climbs score on
        the full model: all of them, or with ``screen`` and a linear prior, the ``screen``
        best by the main prior's exact swap gains (:func:`strata.moves.screened_swaps`)."""
        k = self.settings.screen
        if k <= 0 or not expansions:
            return moves.all_single_swaps
        main = SwapAscent(expansions[:1])

        def gains(codes):
            return main.gains(codes[None, :], [0])[0]

        return lambda codes: moves.screened_swaps(codes, k, gains)

    def _generation(self, archive, target, rng, neighbours):
        """One generate-and-score pass from the ``population`` best distinct orderings, the
        best ``neighbourhood`` of them scanned over ``neighbours`` (:meth:`_neighbourhood`)."""
        settings = self.settings
        parents = archive.codes[archive.best(settings.population)[0]]
        n_cross = n_shell = settings.children // 4
        n_swap = settings.children - n_cross - n_shell
        pick = rng.integers(len(parents), size=n_swap + n_shell)
        swaps = rng.integers(1, settings.max_swaps + 1, size=n_swap + n_shell)
        mutated = moves.swap_mutations(parents[pick[:n_swap]], swaps[:n_swap], rng)
        shelled = moves.shell_mutations(parents[pick[n_swap:]], swaps[n_swap:], target.shells,
                                        rng)
        crossed = moves.crossovers(parents, target.positions, n_cross, rng)
        archive.evaluate(np.concatenate([mutated, shelled]), "mutation")
        archive.evaluate(crossed, "crossover")
        for parent in parents[:settings.neighbourhood]:
            swapped = neighbours(parent)
            scores = archive.evaluate(swapped, "mutation")
            compound = moves.compound_swaps(parent, swapped, scores, settings.compound_swaps)
            archive.evaluate(compound, "mutation")

    def _pool(self, archive, target, fresh, n_keep_fresh):
        """The best distinct unlabelled rows of the archive, then fresh ones (``fresh``:
        codes, origins, scores) to ``n_pool``."""
        fresh, fresh_origins, fresh_scores = fresh
        rows, keys = archive.best(self.n_pool - n_keep_fresh, include_labelled=False)
        codes = [archive.codes[k] for k in rows]
        origins = [archive.origins[k] for k in rows]
        scores = [archive.scores[k] for k in rows]
        taken = set(keys)
        for k, key in enumerate(target.keys(fresh)):
            if len(codes) >= self.n_pool:
                break
            if key in taken or key in target.labelled_keys:
                continue
            taken.add(key)
            keys.append(key)
            codes.append(fresh[k])
            origins.append(fresh_origins[k])
            scores.append(fresh_scores[k])
        return pd.DataFrame({
            "template": target.template,
            "codes": codes,
            "origin": ["mutation" if o == "labelled" else o for o in origins],
            "key": keys,
            "score": np.asarray(scores, dtype=float),
        })


def candidate_pool(campaign, labelled, surrogate, rng):
    """The scored candidate pool of one round (rounds >= 1).

    Parameters
    ----------
    campaign : strata.campaign.Campaign
        ``search`` settings, ``pool_size`` (shared evenly by the compositions and templates),
        featurizer and canonical keys.
    labelled : pandas.DataFrame
        One row per computed structure: ``template`` (int), ``codes`` (int8 array),
        ``composition`` (key), ``energy`` (NaN when failed), ``structure_id``.
    surrogate : strata.ranking.Surrogate
        The model of the previous round.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``composition``, ``origin``, ``score``,
        ``uncertainty`` and ``key`` (canonical key); best score first, no labelled structure.
    """
    targets = _targets(campaign, labelled, surrogate)
    n_pool = max(1, campaign.settings.pool_size // max(1, len(targets)))
    search = DeepSearch(campaign.settings.search, n_pool)
    frames = []
    for composition, target in targets:
        frame = search.run(target, rng)
        frame["composition"] = composition
        frames.append(frame)
    pool = pd.concat(frames, ignore_index=True)
    # scored once, by the search; the ensemble's spread needs the features once more
    pool["uncertainty"] = surrogate.uncertainty(pool_features(campaign.featurizer, pool,
                                                              surrogate.prototypes))
    pool["group"] = ranking.group_names_of(pool, surrogate.settings)  # scores compare within
    order = np.argsort(-pool["score"].to_numpy(), kind="stable")
    return pool.iloc[order].reset_index(drop=True)[POOL_COLUMNS]


def _targets(campaign, labelled, surrogate):
    """``(composition key, Target)`` of every composition and template, compositions of the
    labelled structures first (in order of appearance), then the campaign's others."""
    labelled_keys = set()
    if len(labelled):
        labelled_keys = set(campaign.keys(labelled["template"].to_numpy(int),
                                          np.stack(labelled["codes"].to_numpy())))
    featurizer = campaign.featurizer
    model = surrogate.settings  # only linear priors are cluster expansions
    expansions = model.prior != "none" and model.prior_features == "linear"
    targets = []
    for composition, counts in _compositions(campaign, labelled).items():
        for t, template in enumerate(campaign.templates):
            seeds = _seeds(labelled, composition, t, campaign.settings.search.parents,
                           len(template))
            targets.append((composition, Target(
                template=t, counts=counts, seeds=seeds, positions=template.positions,
                shells=featurizer.shells(t), coordination=featurizer.coordination(t),
                score=_on_template(featurizer, t, surrogate.score, surrogate.prototypes),
                keys=lambda codes, t=t: campaign.keys(t, codes), labelled_keys=labelled_keys,
                priors=_on_template(featurizer, t, surrogate.prior_scores,
                                    surrogate.prototypes) if expansions else None,
                bonds=featurizer.topologies[t].bonds,
                many_body=featurizer.settings.neighbour_counts)))
    return targets


def _compositions(campaign, labelled):
    """Composition key → counts: those of the labelled rows, then the campaign's."""
    found = {}
    n_elements = len(campaign.elements)
    for key, codes in zip(labelled["composition"], labelled["codes"], strict=True):
        found.setdefault(str(key), orderings.element_counts(np.asarray(codes), n_elements))
    for key, counts in campaign.composition_counts().items():
        found.setdefault(key, counts)
    return found


def _seeds(labelled, composition, template, n, n_atoms):
    """The ``n`` lowest-energy labelled orderings of one composition and template."""
    rows = labelled[(labelled["composition"].astype(str) == composition)
                    & (labelled["template"].astype(int) == template)]
    rows = rows[np.isfinite(rows["energy"].to_numpy(float))].sort_values("energy")
    if len(rows) == 0:
        return np.empty((0, n_atoms), dtype=orderings.CODE_DTYPE)
    return np.stack(rows["codes"].to_numpy()[:n])


def _on_template(featurizer, template, score, prototypes=None):
    """``score`` of a feature table (e.g. :meth:`strata.ranking.Surrogate.score`) as a
    function of orderings ``codes`` (2-D) of one template (with the model's ``prototypes``)."""
    names = featurizer.names_with(prototypes)

    def of_codes(codes):
        return score(pd.DataFrame(featurizer(template, codes, prototypes), columns=names))

    return of_codes


def pool_features(featurizer, pool, prototypes=None):
    """Feature table of the orderings of a table with ``template`` and ``codes`` columns (a
    pool, or labelled structures by their lattice ordering), in its row order, columns
    ``featurizer.names_with(prototypes)``."""
    names = featurizer.names_with(prototypes)
    X = np.empty((len(pool), len(names)))
    codes = pool["codes"].to_numpy()
    for t, rows in pool.groupby("template", sort=False).indices.items():
        X[rows] = featurizer(int(t), np.stack(codes[rows]), prototypes)
    return pd.DataFrame(X, columns=names)
