"""The model-guided candidate pool of rounds >= 1 (the "generate" stage).

For every composition (and template) of the campaign, a deep search on the surrogate alone
builds a large pool of orderings at the exact stoichiometry:

1. seeds: the best labelled structures, fresh random orderings and fresh structured motifs
   (core–shell both ways, surface segregation of each element, Janus, layered);
2. ``search_passes`` generate-and-score passes: swap mutations (1 … ``max_swaps`` swaps),
   shell mutations (a swap between two different site shells: vertex/edge/facet/sub-layers),
   composition-preserving crossovers of the current best, and a steepest-ascent scan of every
   single swap of the best ones; every child is scored by the model and the
   ``search_population`` best survive as the next parents;
   then ``search_polish`` best orderings are hill-climbed (steepest ascent over every single
   swap) to a local optimum of the model, so that the model's own optimum is in the pool;
3. the pool: the best-scored distinct orderings (canonical keys: symmetry-equivalent copies are
   one candidate), never a labelled one, plus a share of fresh random and structured ones kept
   whatever their score (exploration material).

No reference calculation is made here; everything is scored by the model.
"""


import numpy as np
import pandas as pd

from strata import orderings
from strata.descriptors import DescriptorSettings
from strata.symmetry import SymmetryCache

MAX_POLISH_STEPS = 50  # single-swap steps of one hill climb of the polish

SELECTION_DEFAULTS = {
    "exploration": 0.2,  # share of each batch chosen for exploration
    "exploration_method": "uncertainty",  # "uncertainty", "diversity" or "none"
    "exploration_top": 0.25,  # exploration picks come from this top share of the pool
    "batch_distinct_scores": True,  # exploit picks with equal predicted scores wait their turn
    "batch_min_distance": 0,  # exploit picks differ from each other in >= this many sites
    "stop_after": None,  # stop when the best energy has not improved for N rounds
    "search_passes": 8,  # generate-and-score passes on the model before each batch
    "search_population": 24,  # parents kept between passes (per composition and template)
    "search_children": 512,  # random children per pass (per composition and template)
    "search_neighbourhood": 1,  # best parents whose every single swap is scored each pass
    "search_polish": 2,  # best orderings hill-climbed to a single-swap optimum of the model
    "compound_swaps": 0,  # also try the 2 … N best disjoint single swaps at once (0: off)
    "search_parents": 8,  # best labelled structures that seed the search
    "max_swaps": 3,  # swaps of a swap mutation: 1 .. max_swaps
    "fresh_share": 0.1,  # pool share of fresh random and structured candidates
    "structured": True,  # include structured motifs among the fresh candidates
    "symmetry": True,  # remove symmetry-equivalent duplicates (canonical keys)
    "symmetry_tolerance": 0.1,  # Å, tolerance of the point-group search
}


def selection_settings(config):
    """The ``selection`` section of ``config`` with defaults (unknown keys raise ``KeyError``)."""
    settings = dict(SELECTION_DEFAULTS)
    for key, value in (config.get("selection") or {}).items():
        if key not in SELECTION_DEFAULTS:
            raise KeyError(f"selection.{key}: unknown key; known: {', '.join(SELECTION_DEFAULTS)}")
        settings[key] = value
    if settings["exploration_method"] not in ("uncertainty", "diversity", "none"):
        raise ValueError("selection.exploration_method must be uncertainty, diversity or none")
    if not 0 <= settings["exploration"] <= 1 or not 0 <= settings["fresh_share"] <= 1:
        raise ValueError("selection.exploration and selection.fresh_share must be within 0..1")
    return settings


# ----------------------------------------------------------------------------- features

class Featurizer:
    """Descriptors of orderings of the campaign's templates (one topology per template).

    Parameters
    ----------
    templates : list[ase.Atoms]
    config : dict
        Campaign config (``elements`` and the ``descriptors`` section).
    """

    def __init__(self, templates, config):
        from strata.descriptors import feature_names
        from strata.layers import Topology

        self.settings = DescriptorSettings.from_config(config["elements"], config["descriptors"])
        self.names = feature_names(self.settings)
        self.topologies = [Topology.from_atoms(t, self.settings) for t in templates]

    def __call__(self, template, codes):
        """Feature matrix of orderings ``codes`` (2-D) of template index ``template``."""
        from strata.descriptors import describe_orderings

        return describe_orderings(self.topologies[template], codes, self.settings)

    def shells(self, template):
        """Site shell per atom: surface site class (0–2), then 3 + sub-surface layer."""
        topology = self.topologies[template]
        return np.where(topology.site_class >= 0, topology.site_class, 2 + topology.layer)

    def coordination(self, template):
        """Coordination number per site."""
        return self.topologies[template].coordination


_CACHE = {}


def _cached(kind, templates, config, make):
    """Featurizer / symmetry cache per (templates, relevant config), reused across rounds."""
    key = (kind, tuple(id(t) for t in templates), repr(config.get("elements")),
           repr(config.get("descriptors")), repr((config.get("selection") or {}).get("symmetry")),
           repr((config.get("selection") or {}).get("symmetry_tolerance")))
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = (templates, make())  # keep templates alive so ids stay valid
    return _CACHE[key][1]


def featurizer_for(templates, config):
    """A (cached) :class:`Featurizer`."""
    return _cached("features", templates, config, lambda: Featurizer(templates, config))


def symmetry_for(templates, config):
    """A (cached) :class:`strata.symmetry.SymmetryCache` with the selection settings."""
    settings = selection_settings(config)
    return _cached("symmetry", templates, config,
                   lambda: SymmetryCache(templates, settings["symmetry_tolerance"],
                                         settings["symmetry"]))


def score_frame(surrogate, X, names):
    """Surrogate score of a feature matrix."""
    return surrogate.score(pd.DataFrame(X, columns=names))


# ----------------------------------------------------------------------------- moves

def swap_mutations(codes, n_swaps, rng, shells=None):
    """Swap mutations of many orderings at once.

    Parameters
    ----------
    codes : numpy.ndarray, shape (m, n_atoms)
    n_swaps : numpy.ndarray of int, shape (m,)
        Swaps per row.
    rng : numpy.random.Generator
    shells : numpy.ndarray of int, shape (n_atoms,), optional
        Shell mutation: each swap exchanges two sites of *different* shells.

    Returns
    -------
    numpy.ndarray, shape (m, n_atoms)
        Same composition per row.
    """
    out = codes.copy()
    m, n_atoms = out.shape
    rows = np.arange(m)
    n_swaps = np.broadcast_to(np.asarray(n_swaps), (m,))
    for s in range(int(n_swaps.max(initial=0))):
        i = rng.integers(n_atoms, size=m)
        weight = rng.random((m, n_atoms))
        forbidden = out == out[rows, i][:, None]
        if shells is not None:
            forbidden |= shells[None, :] == shells[i][:, None]
        weight[forbidden] = -1.0
        j = weight.argmax(axis=1)
        ok = (n_swaps > s) & (weight[rows, j] >= 0)
        a, b = out[rows[ok], i[ok]], out[rows[ok], j[ok]]
        out[rows[ok], i[ok]], out[rows[ok], j[ok]] = b, a
    return out


def all_single_swaps(codes):
    """Every ordering one swap (of two different elements) away from ``codes`` (1-D)."""
    n_atoms = len(codes)
    i, j = np.triu_indices(n_atoms, 1)
    keep = codes[i] != codes[j]
    i, j = i[keep], j[keep]
    out = np.repeat(codes[None, :], len(i), axis=0)
    rows = np.arange(len(i))
    out[rows, i], out[rows, j] = codes[j], codes[i]
    return out


def compound_swaps(codes, neighbours, scores, n_max):
    """Orderings that combine the 1, 2, … ``n_max`` best single swaps on disjoint sites.

    On a nearly additive model, improving swaps on different sites add up, so one scan of
    the neighbourhood moves the search many swaps deep instead of one.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,)
        The parent.
    neighbours : numpy.ndarray, shape (m, n_atoms)
        Its single swaps (:func:`all_single_swaps`).
    scores : numpy.ndarray, shape (m,)
        Model scores of ``neighbours``.
    n_max : int
    """
    if n_max < 2 or len(neighbours) == 0:
        return np.empty((0, len(codes)), dtype=codes.dtype)
    used = np.zeros(len(codes), dtype=bool)
    current = codes.copy()
    out = []
    for row in np.argsort(-scores, kind="stable"):
        sites = np.flatnonzero(neighbours[row] != codes)
        if used[sites].any():
            continue
        used[sites] = True
        current[sites] = neighbours[row][sites]
        out.append(current.copy())
        if len(out) == n_max:
            break
    return np.array(out[1:], dtype=codes.dtype).reshape(-1, len(codes))


def crossovers(parents, positions, n_children, rng):
    """Composition-preserving cut-and-splice children of random pairs of ``parents``."""
    if len(parents) < 2 or n_children == 0:
        return np.empty((0, parents.shape[1]), dtype=parents.dtype)
    pairs = rng.integers(len(parents), size=(n_children, 2))
    return np.array([orderings.crossover(parents[a], parents[b], positions, rng)
                     for a, b in pairs if a != b] or np.empty((0, parents.shape[1])),
                    dtype=parents.dtype)


def fresh_orderings(template, positions, coordination, counts, n, rng, structured=True):
    """``n`` fresh orderings: structured motifs (one of each, if asked), then random ones.

    Returns
    -------
    codes : numpy.ndarray, shape (n, n_atoms)
    origins : list[str]
    """
    from strata.generation import motif_makers

    codes, origins = [], []
    if structured:
        for origin, make in motif_makers(positions, coordination, counts):
            if len(codes) < n:
                codes.append(make(rng))
                origins.append(origin)
    while len(codes) < n:
        codes.append(orderings.random_ordering(counts, rng))
        origins.append("random")
    return np.array(codes, dtype=orderings.CODE_DTYPE).reshape(n, len(positions)), origins


# ----------------------------------------------------------------------------- deep search

class _Archive:
    """Distinct orderings seen by the search (exact repeats dropped), with score and origin.

    Canonical keys (symmetry) are only computed for the few rows that are read back
    (parents and the final pool), not for every scored child.
    """

    def __init__(self, keys_of, labelled_keys):
        self.keys_of = keys_of
        self.labelled = labelled_keys
        self.blocks, self.score_blocks, self.origins = [], [], []
        self.seen = set()
        self._codes = None

    def add(self, codes, scores, origins):
        """Add the rows not seen before."""
        if len(codes) == 0:
            return
        raw = codes.view(f"V{codes.shape[1]}").ravel()
        _, first = np.unique(raw, return_index=True)
        first.sort()
        keep = [k for k in first if raw[k].tobytes() not in self.seen]
        self.seen.update(raw[k].tobytes() for k in keep)
        if not keep:
            return
        self.blocks.append(codes[keep])
        self.score_blocks.append(np.asarray(scores)[keep])
        origins = [origins] * len(codes) if isinstance(origins, str) else list(origins)
        self.origins.extend(origins[k] for k in keep)
        self._codes = None

    @property
    def codes(self):
        if self._codes is None:
            self._codes = np.concatenate(self.blocks)
            self._scores = np.concatenate(self.score_blocks)
        return self._codes

    @property
    def scores(self):
        self.codes  # noqa: B018 (concatenates)
        return self._scores

    def best(self, n, include_labelled=True):
        """Indices of the ``n`` best-scored rows with distinct canonical keys."""
        order = np.argsort(-self.scores, kind="stable")
        chosen, keys, seen = [], [], set()
        start, width = 0, max(4 * n, 64)
        while len(chosen) < n and start < len(order):
            rows = order[start:start + width]
            for row, key in zip(rows, self.keys_of(self.codes[rows]), strict=True):
                if key in seen or (not include_labelled and key in self.labelled):
                    continue
                seen.add(key)
                chosen.append(int(row))
                keys.append(key)
                if len(chosen) == n:
                    break
            start += width
        return chosen, keys


def polish_starts(archive, n):
    """The ``n`` best distinct orderings of the archive (copies): starts of the polish."""
    if n <= 0:
        return []
    rows, _ = archive.best(n)
    return [archive.codes[k].copy() for k in rows]


def hill_climb(codes, score_codes, archive, max_steps=MAX_POLISH_STEPS):
    """Steepest ascent over single swaps on the model, to a local optimum (or ``max_steps``).

    Every scored neighbour goes into ``archive``, so the pool also holds the neighbourhood of
    the model's optimum. Returns the final ordering and its score.
    """
    current = np.asarray(codes, dtype=orderings.CODE_DTYPE)
    current_score = score_codes(current[None, :])[0]
    for _ in range(max_steps):
        neighbours = all_single_swaps(current)
        scores = score_codes(neighbours)
        archive.add(neighbours, scores, "mutation")
        best = int(np.argmax(scores))
        if scores[best] <= current_score + 1e-12 * max(1.0, abs(current_score)):
            break
        current, current_score = neighbours[best], scores[best]
    return current, current_score


def deep_search(template, counts, seeds, score, featurize, keys_of, labelled_keys, settings,
                n_pool, positions, shells, coordination, rng):
    """Search the surrogate for one composition on one template.

    Parameters
    ----------
    template : int
    counts : numpy.ndarray
        Count per element.
    seeds : numpy.ndarray, shape (k, n_atoms)
        Best labelled orderings (best first), may be empty.
    score : callable
        ``score(X) -> scores`` of a feature matrix.
    featurize : callable
        ``featurize(template, codes) -> X``.
    keys_of : callable
        ``keys_of(codes) -> keys`` (canonical keys of this template).
    labelled_keys : set
        Keys never returned (already computed).
    settings : dict
        Selection settings.
    n_pool : int
        Candidates returned.
    positions, shells, coordination : numpy.ndarray
        Of the template.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``origin``, ``score``, ``key`` (best first).
    """
    archive = _Archive(keys_of, labelled_keys)

    def evaluate(codes, origins):
        codes = np.asarray(codes, dtype=orderings.CODE_DTYPE)
        if len(codes):
            archive.add(codes, score(featurize(template, codes)), origins)

    n_fresh = max(int(round(settings["fresh_share"] * n_pool)), int(len(seeds) == 0))
    fresh, fresh_origins = fresh_orderings(template, positions, coordination, counts,
                                           max(n_fresh, 2 * settings["search_population"]), rng,
                                           settings["structured"])
    if len(seeds):
        evaluate(seeds, "labelled")
    evaluate(fresh, fresh_origins)
    population = int(settings["search_population"])
    for _ in range(int(settings["search_passes"])):
        parents_at, _ = archive.best(population)
        parents = archive.codes[parents_at]
        n_children = int(settings["search_children"])
        n_cross = n_children // 4
        n_shell = n_children // 4
        n_swap = n_children - n_cross - n_shell
        pick = rng.integers(len(parents), size=n_swap + n_shell)
        swaps = rng.integers(1, int(settings["max_swaps"]) + 1, size=n_swap + n_shell)
        children = swap_mutations(parents[pick[:n_swap]], swaps[:n_swap], rng)
        shelled = swap_mutations(parents[pick[n_swap:]], swaps[n_swap:], rng, shells)
        crossed = crossovers(parents, positions, n_cross, rng)
        evaluate(np.concatenate([children, shelled]), "mutation")
        evaluate(crossed, "crossover")
        for k in range(min(int(settings["search_neighbourhood"]), len(parents))):
            neighbours = all_single_swaps(parents[k])
            gains = score(featurize(template, neighbours))
            archive.add(neighbours, gains, "mutation")
            compound = compound_swaps(parents[k], neighbours, gains,
                                      int(settings["compound_swaps"]))
            evaluate(compound, "mutation")
    for start in polish_starts(archive, int(settings["search_polish"])):
        hill_climb(start, lambda codes: score(featurize(template, codes)), archive)
    n_keep_fresh = min(n_fresh, n_pool)
    chosen, keys = archive.best(n_pool - n_keep_fresh, include_labelled=False)
    taken = set(keys)
    fresh_keys = keys_of(fresh)
    for k, key in enumerate(fresh_keys):
        if len(chosen) >= n_pool:
            break
        if key in taken or key in labelled_keys:
            continue
        taken.add(key)
        keys.append(key)
        chosen.append(-1 - k)  # marks a fresh row
    codes = [archive.codes[k] if k >= 0 else fresh[-1 - k] for k in chosen]
    origins = [archive.origins[k] if k >= 0 else fresh_origins[-1 - k] for k in chosen]
    return pd.DataFrame({
        "template": template,
        "codes": codes,
        "origin": ["mutation" if o == "labelled" else o for o in origins],
        "score": [archive.scores[k] if k >= 0 else np.nan for k in chosen],
        "key": keys,
    })


def _compositions(labelled, config, n_elements):
    """Composition key → counts, from the labelled rows and ``config['compositions']``."""
    found = {}
    for key, codes in zip(labelled["composition"], labelled["codes"], strict=True):
        found.setdefault(str(key), orderings.element_counts(np.asarray(codes), n_elements))
    resolved = config.get("compositions")
    if isinstance(resolved, list | tuple):
        for counts in resolved:
            counts = np.asarray(counts)
            if counts.ndim == 1 and np.issubdtype(counts.dtype, np.integer):
                found.setdefault(orderings.composition_key(counts, config["elements"]), counts)
    return found


def initial_pool(templates, config, rng):
    """The candidates of round 0: the diverse initial set of every composition.

    Parameters
    ----------
    templates : list[ase.Atoms]
    config : dict
        Validated campaign config with ``compositions`` (counts per element) added.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``composition``, ``origin``
        (:func:`strata.generation.initial_set`), without symmetry-equivalent duplicates.
    """
    from strata.generation import initial_set

    featurizer = featurizer_for(templates, config)
    symmetry = symmetry_for(templates, config)
    return initial_set(
        templates, [featurizer.coordination(t) for t in range(len(templates))],
        config["compositions"], config["initial_size"], config["elements"], rng,
        key=lambda t, codes: symmetry.keys(t, codes)[0], motifs=config["initial_motifs"],
    )


def candidate_pool(templates, labelled, surrogate, config, rng, featurizer=None):
    """The scored candidate pool of one round (rounds >= 1).

    Parameters
    ----------
    templates : list[ase.Atoms]
    labelled : pandas.DataFrame
        One row per computed structure: ``template`` (int), ``codes`` (int8 array),
        ``composition`` (key), ``energy`` (NaN when failed), ``structure_id``.
    surrogate : strata.ranking.Surrogate
        The model of the previous round.
    config : dict
        Campaign config: ``elements``, ``pool_size``, ``selection`` (see
        :data:`SELECTION_DEFAULTS`) and ``descriptors``; ``compositions`` (list of count
        arrays) adds compositions that have no labelled structure yet.
    rng : numpy.random.Generator
    featurizer : callable, optional
        ``featurizer(template, codes) -> X`` with ``featurizer.names``; default: the campaign's
        descriptors (:class:`Featurizer`).

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``composition``, ``origin``, ``score``,
        ``uncertainty``, ``key`` (canonical key) and ``descriptor`` (feature vector, for the
        diversity exploration of :func:`strata.selection.select_batch`); best score first, no
        labelled structure.
    """
    settings = selection_settings(config)
    featurizer = featurizer or featurizer_for(templates, config)
    symmetry = symmetry_for(templates, config)
    names = list(featurizer.names)
    n_elements = len(config["elements"])
    compositions = _compositions(labelled, config, n_elements)
    labelled_keys = set()
    if len(labelled):
        labelled_keys = set(symmetry.keys(labelled["template"].to_numpy(int),
                                          np.stack(labelled["codes"].to_numpy())))
    groups = [(c, t) for c in compositions for t in range(len(templates))]
    n_pool = max(1, int(config.get("pool_size", 2000)) // len(groups))

    def score(X):
        return score_frame(surrogate, X, names)

    frames = []
    for composition, t in groups:
        counts = compositions[composition]
        rows = labelled[(labelled["composition"].astype(str) == composition)
                        & (labelled["template"].astype(int) == t)]
        rows = rows[np.isfinite(rows["energy"].to_numpy(float))].sort_values("energy")
        seeds = (np.stack(rows["codes"].to_numpy()[: int(settings["search_parents"])])
                 if len(rows) else np.empty((0, len(templates[t])), dtype=orderings.CODE_DTYPE))
        frame = deep_search(
            t, counts, seeds, score, featurizer,
            lambda codes, t=t: symmetry.keys(t, codes), labelled_keys, settings, n_pool,
            templates[t].positions, featurizer.shells(t), featurizer.coordination(t), rng)
        frame["composition"] = composition
        frames.append(frame)
    pool = pd.concat(frames, ignore_index=True)
    X = np.empty((len(pool), len(names)))
    for t, rows in pool.groupby("template", sort=False).groups.items():
        X[rows] = featurizer(int(t), np.stack(pool.loc[rows, "codes"].to_numpy()))
    features = pd.DataFrame(X, columns=names)
    pool["score"] = surrogate.score(features)
    pool["uncertainty"] = surrogate.uncertainty(features)
    pool["descriptor"] = list(X)
    order = np.argsort(-pool["score"].to_numpy(), kind="stable")
    pool = pool.iloc[order].reset_index(drop=True)
    return pool[["template", "codes", "composition", "origin", "score", "uncertainty", "key",
                 "descriptor"]]
