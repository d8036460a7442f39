"""A chart of the explored structures: a 2-D map, its motif families and their names.

After Tinti et al. 2023 ("charting nanocluster structures"): every structure a campaign has
seen is encoded by its per-element-pair radial distribution functions (:func:`rdf_vectors`;
:func:`rdf_of_orderings` for many orderings of one geometry), the encodings are embedded in
two dimensions by t-SNE (:func:`embed`), and the dense regions of the map are the *motif
families* (:func:`families`, HDBSCAN), each named by its members' composition per region of
the particle, e.g. "Au shell / Pt core" (:func:`family_names`).

The map grows round by round. To keep it readable across rounds, :func:`embed` starts t-SNE
from the previous round's coordinates and aligns the new map onto the old one by a similarity
transform (Procrustes), and rows that only give context (a campaign's pool sample) are placed
into the finished map by :func:`place` without moving it; :func:`stability` measures how far
the old points still moved, and :func:`quality` (trustworthiness) how faithfully the map keeps
the encodings' neighbourhoods. :func:`purity` scores the families against known motifs where
these are known.

The RDF of a pair type (A, B) at r is a sum, over the atom pairs at distance d < ``r_max``
with elements {A, B} (each pair once), of a normalised Gaussian of width ``width`` centred at
d, divided by the number of atoms: its area is the number of such pairs per atom.
"""

from __future__ import annotations

import re
from itertools import combinations_with_replacement

import numpy as np
import pandas as pd

#: columns (PCA components) t-SNE sees at most
MAX_COMPONENTS = 10
#: fewer points than this are charted by PCA alone (t-SNE needs neighbourhoods to keep)
MIN_TSNE_POINTS = 20
#: the smallest share of a map's points that a motif family holds
FAMILY_SHARE = 0.04
#: jitter of new points' starting coordinates, relative to the spread of the previous map
JITTER = 1e-3
#: neighbours whose map coordinates place a context row (:func:`place`)
PLACE_NEIGHBOURS = 5
#: t-SNE's early exaggeration when it starts from the previous map (its default, 12, is for
#: forming clusters from the PCA; from a finished map it shuffles them: adding 6 points to 60
#: in 6 synthetic blobs, the old points moved up to 0.84 of the map's spread with 12 and at
#: most 0.06 with 1, at the same trustworthiness, over 8 seeds)
EXAGGERATION_FROM_PREVIOUS = 1.0
#: t-SNE iterations of a map continued from the previous round's (sklearn's least; over three
#: campaigns the computed points moved 0.01-0.16 of the map's spread per round, 0.01-0.22
#: with 400, at the same trustworthiness)
ITERATIONS_FROM_PREVIOUS = 250
#: t-SNE iterations of a first map, from the PCA (250 with early exaggeration): on round 0 of
#: two campaigns, the trustworthiness and purity of sklearn's default 1000 in half the time
ITERATIONS = 500
#: how a region of the particle is called in a family's name
REGION_WORDS = {"surface": "shell", "intermediate": "subsurface", "core": "core"}
#: a layer-descriptor column with a region's element fraction: ``<region>.frac.<Element>``
_FRACTION = re.compile(r"^([^.]+)\.frac\.([^.]+)$")


# ---------------------------------------------------------------- encoding


def _pair_index(n_elements) -> np.ndarray:
    """Index (n_elements, n_elements) of each unordered element pair in
    ``combinations_with_replacement`` order (symmetric)."""
    index = np.zeros((n_elements, n_elements), dtype=int)
    for p, (a, b) in enumerate(combinations_with_replacement(range(n_elements), 2)):
        index[a, b] = index[b, a] = p
    return index


def _gaussians(distances, r_max, bins, width) -> np.ndarray:
    """Normalised Gaussians of ``width`` centred at ``distances`` (any shape), evaluated at the
    ``bins`` bin centres on (0, r_max): shape ``distances.shape + (bins,)``; 0 beyond r_max."""
    centres = (np.arange(bins) + 0.5) * (r_max / bins)
    d = np.asarray(distances, dtype=float)[..., None]
    values = np.exp(-0.5 * ((centres - d) / width) ** 2) / (np.sqrt(2.0 * np.pi) * width)
    return np.where(d < r_max, values, 0.0)


def _codes(atoms, elements) -> np.ndarray:
    """Element index (in ``elements``) of every atom."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(elements))
    if unknown:
        raise ValueError(f"elements {unknown} are not among {list(elements)}")
    lookup = {e: i for i, e in enumerate(elements)}
    return np.array([lookup[s] for s in symbols], dtype=int)


def _rdf(atoms, elements, r_max, bins, width) -> np.ndarray:
    """Per-pair RDF (n_pairs * bins,) of one structure."""
    from scipy.spatial.distance import pdist

    n_elements, n_atoms = len(elements), len(atoms)
    pair_index = _pair_index(n_elements)
    n_pairs = n_elements * (n_elements + 1) // 2
    out = np.zeros((n_pairs, bins))
    if n_atoms < 2:
        return out.ravel()
    codes = _codes(atoms, elements)
    first, second = np.triu_indices(n_atoms, k=1)  # pdist's order
    distances = pdist(atoms.positions)
    near = distances < r_max
    pair = pair_index[codes[first[near]], codes[second[near]]]
    np.add.at(out, pair, _gaussians(distances[near], r_max, bins, width))
    return out.ravel() / n_atoms


def rdf_vectors(structures, elements, r_max=8.0, bins=40, width=0.25) -> np.ndarray:
    """Per-element-pair radial distribution functions of each structure, concatenated.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        No cell needed; sizes may differ.
    elements : sequence of str
        The element order; pairs are the unordered pairs A <= B in this order.
    r_max : float
        Distances (Angstrom) from 0 to ``r_max`` are resolved.
    bins : int
        Bin centres per pair, evenly spaced on (0, r_max).
    width : float
        Standard deviation (Angstrom) of each distance's Gaussian.

    Returns
    -------
    ndarray, shape (n_structures, n_pairs * bins)
        Pair blocks in ``combinations_with_replacement`` order, per atom of each structure;
        invariant under rotation, translation and permutation of the atoms.
    """
    n_pairs = len(elements) * (len(elements) + 1) // 2
    rows = [_rdf(atoms, elements, r_max, bins, width) for atoms in structures]
    return np.array(rows).reshape(len(rows), n_pairs * bins)


def _kernel(template, r_max, bins, width) -> np.ndarray:
    """Gaussians (n_atoms, n_atoms · bins) of every site pair's distance; 0 on the diagonal."""
    from scipy.spatial.distance import pdist, squareform

    n_atoms = len(template)
    kernel = _gaussians(squareform(pdist(template.positions)), r_max, bins, width)
    kernel[np.arange(n_atoms), np.arange(n_atoms)] = 0.0
    return kernel.reshape(n_atoms, n_atoms * bins)


def rdf_of_orderings(template, codes, elements, r_max=8.0, bins=40, width=0.25,
                     chunk=256) -> np.ndarray:
    """:func:`rdf_vectors` of many chemical orderings of one geometry.

    The Gaussians of every site pair are computed once; the RDF of pair (A, B) of an
    ordering is then ``occ_A^T K occ_B`` with the one-hot occupations ``occ`` (halved for
    A = B, where every site pair is met twice).

    Parameters
    ----------
    template : ase.Atoms
        The geometry (its elements are ignored).
    codes : ndarray of int, shape (n, n_atoms)
        Element index (in ``elements``) of every site, per ordering.
    elements, r_max, bins, width
        As for :func:`rdf_vectors`.
    chunk : int
        Orderings computed at once (bounds the memory to chunk · n_atoms · bins floats).

    Returns
    -------
    ndarray, shape (n, n_pairs * bins)
        Equal to :func:`rdf_vectors` of the same structures.
    """
    codes = np.atleast_2d(np.asarray(codes, dtype=int))
    n_atoms, n_elements = len(template), len(elements)
    kernel = _kernel(template, r_max, bins, width)
    pairs = list(combinations_with_replacement(range(n_elements), 2))
    out = np.zeros((len(codes), len(pairs), bins))
    for start in range(0, len(codes), chunk):
        part = codes[start:start + chunk]
        occupation = (part[:, None, :] == np.arange(n_elements)[None, :, None]).astype(float)
        # Σ_i occ_A(i) K(i, j, r): (n, element, j, r)
        spread = (occupation.reshape(-1, n_atoms) @ kernel).reshape(len(part), n_elements,
                                                                    n_atoms, bins)
        for p, (a, b) in enumerate(pairs):
            block = np.einsum("njr,nj->nr", spread[:, a], occupation[:, b])
            out[start:start + chunk, p] = block / 2.0 if a == b else block
    return out.reshape(len(codes), -1) / max(n_atoms, 1)


# ---------------------------------------------------------------- embedding


def _standardise(vectors, scale=True, reference=None) -> np.ndarray:
    """Columns centred and, with ``scale``, scaled to standard deviation 1; constant columns
    dropped. RDFs share one unit (pairs per atom per Angstrom) and are only centred: scaling
    would blow up the noise of nearly empty bins; descriptor columns of mixed units are
    scaled. The means and deviations are those of the ``reference`` rows (default: these)."""
    vectors = np.asarray(vectors, dtype=float)
    reference = vectors if reference is None else np.asarray(reference, dtype=float)
    spread = reference.std(axis=0)
    keep = spread > 1e-12
    centred = vectors[:, keep] - reference[:, keep].mean(axis=0)
    return centred / spread[keep] if scale else centred


def _pca(scaled) -> np.ndarray:
    """PCA scores (n, at most MAX_COMPONENTS) of standardised rows; (n, 0) when constant."""
    from sklearn.decomposition import PCA

    n, f = scaled.shape
    components = min(MAX_COMPONENTS, n, f)
    if components == 0 or n < 2:
        return np.zeros((n, 0))
    return PCA(n_components=components).fit_transform(scaled)


def _two_columns(scores) -> np.ndarray:
    """The first two columns of ``scores``, padded with zeros."""
    out = np.zeros((len(scores), 2))
    width = min(2, scores.shape[1])
    out[:, :width] = scores[:, :width]
    return out


def _align(coords, previous) -> np.ndarray:
    """``coords`` moved by the similarity transform (rotation or reflection, uniform scale,
    translation) that best maps their first ``len(previous)`` rows onto ``previous``."""
    from scipy.linalg import orthogonal_procrustes

    k = len(previous)
    shared, target = coords[:k], np.asarray(previous, dtype=float)
    centre, target_centre = shared.mean(axis=0), target.mean(axis=0)
    moved, aimed = shared - centre, target - target_centre
    norm = (moved**2).sum()
    if k < 2 or norm < 1e-24:
        return coords - centre + target_centre
    rotation, singular_sum = orthogonal_procrustes(moved, aimed)
    return (coords - centre) @ rotation * (singular_sum / norm) + target_centre


def _spread(coords) -> float:
    """Root-mean-square distance of ``coords`` (k, 2) from their centroid."""
    return float(np.sqrt(((coords - coords.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _initial(scores, previous, rng) -> np.ndarray:
    """t-SNE's starting coordinates: ``previous`` for the old rows; for each new row, those of
    its nearest old row in PCA space plus a small jitter; centred, at the previous map's scale
    (restarted from a copy shrunk to sklearn's PCA-start spread, 1e-4, the points of an
    unchanged map moved by 0.47 of its spread; from the map itself by 0.05)."""
    from sklearn.neighbors import NearestNeighbors

    previous = np.asarray(previous, dtype=float)
    k = len(previous)
    spread = max(_spread(previous), 1e-12)
    start = np.empty((len(scores), 2))
    start[:k] = previous
    if len(scores) > k:
        nearest = NearestNeighbors(n_neighbors=1).fit(scores[:k]).kneighbors(
            scores[k:], return_distance=False)[:, 0]
        start[k:] = previous[nearest] + rng.normal(scale=JITTER * spread, size=(len(nearest), 2))
    return start - previous.mean(axis=0)


def embed(vectors, previous=None, seed=0, perplexity=30.0, scale=True) -> np.ndarray:
    """A 2-D map of ``vectors`` by t-SNE, stable across rounds.

    The columns are centred and, with ``scale``, standardised (constant ones dropped), and
    reduced by PCA to at most ``MAX_COMPONENTS`` components fitted on these rows; t-SNE maps
    the components.

    Parameters
    ----------
    vectors : ndarray, shape (n, f)
        E.g. :func:`rdf_vectors`.
    previous : ndarray, shape (k, 2), optional
        The coordinates the first ``k <= n`` rows had in the previous round's map. t-SNE then
        starts from them (a new row from its nearest old row in PCA space, plus a tiny seeded
        jitter) without early exaggeration
        (:data:`EXAGGERATION_FROM_PREVIOUS`), and the map is aligned onto them by a
        similarity transform (:func:`scipy.linalg.orthogonal_procrustes` on the shared
        rows). Without it t-SNE starts from the PCA.
    seed : int
        Seeds t-SNE and the jitter (same inputs, same seed: same map).
    perplexity : float
        t-SNE's perplexity, at most (n - 1) / 3.
    scale : bool
        Standardise the columns (descriptor columns of mixed units); False only centres
        them (RDFs, one unit).

    Returns
    -------
    ndarray, shape (n, 2)
        Fewer than ``MIN_TSNE_POINTS`` rows: their first two PCA scores (zero-padded; aligned
        onto ``previous`` when given).
    """
    from sklearn.manifold import TSNE

    scores = _pca(_standardise(vectors, scale))
    k = 0 if previous is None else len(previous)
    if k > len(scores):
        raise ValueError(f"previous has {k} rows, more than the {len(scores)} vectors")
    if len(scores) < MIN_TSNE_POINTS or scores.shape[1] == 0:
        coords = _two_columns(scores)
        return _align(coords, previous) if k else coords
    rng = np.random.default_rng(seed)
    init = _initial(scores, previous, rng) if k else "pca"
    tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(scores) - 1) / 3),
                init=init, random_state=seed,
                early_exaggeration=EXAGGERATION_FROM_PREVIOUS if k else 12.0,
                max_iter=ITERATIONS_FROM_PREVIOUS if k else ITERATIONS)
    coords = tsne.fit_transform(scores)
    return _align(coords, previous) if k else coords


def place(vectors, fitted, coords, scale=True) -> np.ndarray:
    """Coordinates of new rows in a finished map, which does not move.

    Each row gets the distance-weighted mean of the map coordinates of its
    :data:`PLACE_NEIGHBOURS` nearest ``fitted`` rows
    (:class:`sklearn.neighbors.KNeighborsRegressor`), with the columns centred (and with
    ``scale`` standardised) by the fitted rows' statistics, as :func:`embed` saw them.

    Parameters
    ----------
    vectors : ndarray, shape (m, f)
        The rows to place (e.g. a pool sample), encoded like ``fitted``.
    fitted : ndarray, shape (n, f)
        The rows the map was fitted on.
    coords : ndarray, shape (n, 2)
        Their map coordinates (:func:`embed`).
    scale : bool
        As for :func:`embed`.

    Returns
    -------
    ndarray, shape (m, 2)
    """
    from sklearn.neighbors import KNeighborsRegressor

    vectors = np.asarray(vectors, dtype=float)
    if len(vectors) == 0:
        return np.zeros((0, 2))
    model = KNeighborsRegressor(n_neighbors=min(PLACE_NEIGHBOURS, len(fitted)),
                                weights="distance")
    model.fit(_standardise(fitted, scale), np.asarray(coords, dtype=float))
    return model.predict(_standardise(vectors, scale, reference=fitted))


# ---------------------------------------------------------------- families


def families(coords, min_size=5) -> np.ndarray:
    """Motif family of each point of the map (HDBSCAN on its coordinates).

    HDBSCAN keeps the leaves of its cluster tree (``cluster_selection_method="leaf"``): on a
    campaign's map the "excess of mass" choice merges the low-energy structures with the
    random ones next to them into one family. So that a large map is not shredded into
    many small leaves, a family has at least ``FAMILY_SHARE`` of the points.

    Parameters
    ----------
    coords : ndarray, shape (n, 2)
    min_size : int
        Fewest points of a family (HDBSCAN's ``min_cluster_size``, at least 2).

    Returns
    -------
    ndarray of int, shape (n,)
        Family label, -1 for points in no family (all -1 with fewer than ``min_size`` points).
    """
    from sklearn.cluster import HDBSCAN

    coords = np.asarray(coords, dtype=float)
    size = max(2, min_size, int(FAMILY_SHARE * len(coords)))
    if len(coords) < max(size, 2):
        return np.full(len(coords), -1, dtype=int)
    return HDBSCAN(min_cluster_size=size, cluster_selection_method="leaf",
                   copy=True).fit_predict(coords).astype(int)


def profile_name(means, threshold=0.6) -> str:
    """Name of a composition profile, e.g. "Au shell / Pt core".

    Parameters
    ----------
    means : dict of str to dict of str to float
        Per region (in order), the mean fraction of each element.
    threshold : float
        A region whose largest element fraction reaches it is called "<El> <region word>"
        (:data:`REGION_WORDS`: surface → shell, intermediate → subsurface, core → core).

    Returns
    -------
    str
        The dominated regions' names joined by " / ", or "mixed" when none is dominated.
    """
    parts = []
    for region, fractions in means.items():
        if not fractions:
            continue
        element = max(fractions, key=fractions.get)
        if fractions[element] >= threshold:
            parts.append(f"{element} {REGION_WORDS.get(region, region)}")
    return " / ".join(parts) if parts else "mixed"


def _fraction_columns(profiles) -> dict:
    """``{region: {element: column}}`` of the ``<region>.frac.<Element>`` columns, in order."""
    columns = {}
    for column in profiles.columns:
        match = _FRACTION.match(str(column))
        if match:
            columns.setdefault(match[1], {})[match[2]] = column
    return columns


def family_names(labels, profiles, threshold=0.6) -> dict:
    """A readable name for each family from its members' per-region composition.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        :func:`families` (-1: no family, not named).
    profiles : pandas.DataFrame
        One row per point, with the layer descriptor's ``<region>.frac.<Element>`` columns
        (e.g. ``surface.frac.Au``); other columns are ignored.
    threshold : float
        See :func:`profile_name`.

    Returns
    -------
    dict of int to str
        Families with the same name are told apart by " (1)", " (2)", … in label order.
    """
    labels = np.asarray(labels)
    if len(labels) != len(profiles):
        raise ValueError(f"{len(labels)} labels but {len(profiles)} profile rows")
    columns = _fraction_columns(profiles)
    names = {}
    for label in sorted(set(labels.tolist()) - {-1}):
        members = profiles.loc[labels == label]
        means = {region: {element: float(members[column].mean())
                          for element, column in by_element.items()}
                 for region, by_element in columns.items()}
        names[int(label)] = profile_name(means, threshold)
    return _numbered(names)


def _numbered(names) -> dict:
    """``names`` with " (i)" appended to every name that occurs more than once."""
    values = list(names.values())
    seen = {}
    out = {}
    for label, name in names.items():
        if values.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name} ({seen[name]})"
        out[label] = name
    return out


# ---------------------------------------------------------------- scores


def purity(labels, motifs) -> float:
    """Purity of the families against known motifs.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Family labels (-1: no family, ignored).
    motifs : array-like, shape (n,)
        Known motif of each point; None or NaN where unknown (ignored).

    Returns
    -------
    float
        Among the points with a family and a known motif, the share whose motif is the most
        common motif of their family; NaN when there is no such point.
    """
    import pandas as pd
    from sklearn.metrics.cluster import contingency_matrix

    labels = np.asarray(labels)
    motifs = pd.Series(list(motifs), dtype=object)
    keep = (labels != -1) & motifs.notna().to_numpy()
    if not keep.any():
        return float("nan")
    table = contingency_matrix(motifs[keep].astype(str).to_numpy(), labels[keep])
    return float(table.max(axis=0).sum() / table.sum())


def quality(vectors, coords, k=5, scale=True) -> float:
    """Trustworthiness of the map: how well its ``k`` nearest neighbours are neighbours in
    the vectors too (centred, and with ``scale`` standardised, as :func:`embed` saw them);
    1 = perfectly, NaN below 4 points.
    """
    from sklearn.manifold import trustworthiness

    n = len(coords)
    if n < 4:
        return float("nan")
    return float(trustworthiness(_standardise(vectors, scale), np.asarray(coords, dtype=float),
                                 n_neighbors=min(k, (n - 1) // 2)))


def stability(previous, coords) -> float:
    """How far the previous round's points moved in the new map.

    Parameters
    ----------
    previous : ndarray, shape (k, 2)
        The previous map's coordinates of the first ``k`` points.
    coords : ndarray, shape (n, 2), n >= k
        The new map.

    Returns
    -------
    float
        Median displacement of the first ``k`` rows of ``coords`` from ``previous``, over the
        spread of ``previous`` (root-mean-square distance from its centroid); 0 = they did not
        move, NaN without previous points or spread.
    """
    previous = np.asarray(previous, dtype=float)
    coords = np.asarray(coords, dtype=float)
    if len(previous) == 0:
        return float("nan")
    spread = _spread(previous)
    if spread < 1e-12:
        return float("nan")
    moved = np.linalg.norm(coords[:len(previous)] - previous, axis=1)
    return float(np.median(moved) / spread)


def family_table(points):
    """One row per motif family of charted points (``family``, ``family_name``, ``e_rel``,
    ``structure_id``; -1 = no family): name, members, best and mean ``e_rel``, and the
    lowest-energy member (``representative``)."""
    rows = []
    for family, members in points[points["family"] >= 0].groupby("family"):
        lowest = members.loc[members["e_rel"].idxmin()]
        rows.append({"family": int(family), "name": lowest["family_name"],
                     "members": len(members), "best_e_rel": float(members["e_rel"].min()),
                     "mean_e_rel": float(members["e_rel"].mean()),
                     "representative": lowest["structure_id"]})
    return pd.DataFrame(rows, columns=["family", "name", "members", "best_e_rel", "mean_e_rel",
                                       "representative"])
