"""Prototype environments: a few learned reference environments that explain a structure.

The structural-constraint view of local order (Jiang et al. 2024): the atoms of the
labelled structures are described by their local environment (the ``local`` block's
per-atom invariants, :meth:`strata.environments.PairExpansion.invariants`, with the
central element), and K-means finds ``model.prototypes`` prototype environments among them.
Every structure then gets, per region, the share of the region's atoms whose nearest
prototype is ``p``: the features ``<region>.prototypes.p<p>`` that the surrogate's trees see
and the report explains with SHAP ("more surface atoms like prototype 3 → more stable").
Each prototype is pictured by its *exemplar*, the real atom closest to its centre.

The prototypes are learned by the train stage from the labelled structures' lattice
orderings (the same environments their pool rows have), saved with the surrogate, and
applied to every candidate the surrogate scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: atoms K-means is fitted on at most (a seeded sample beyond)
MAX_ATOMS = 20_000
#: restarts of K-means (the best inertia is kept)
N_INIT = 4


def prototype_names(region_names, count) -> list[str]:
    """Feature names ``<region>.prototypes.p<p>`` of ``count`` prototypes."""
    return [f"{region}.prototypes.p{p}" for region in region_names for p in range(count)]


def environments(invariants: np.ndarray, codes: np.ndarray, n_elements: int) -> np.ndarray:
    """Per-atom environment vectors: the invariants, then the central element (one-hot).

    Parameters
    ----------
    invariants : ndarray, shape (n, n_atoms, f)
        Per-atom invariants of ``n`` orderings.
    codes : ndarray, shape (n, n_atoms)
        Element index of every atom.
    n_elements : int

    Returns
    -------
    ndarray, shape (n, n_atoms, f + n_elements)
    """
    centre = (codes[..., None] == np.arange(n_elements)).astype(float)
    return np.concatenate([invariants, centre], axis=-1)


@dataclass
class Prototypes:
    """K prototype environments and how an atom is assigned to one.

    Attributes
    ----------
    centres : ndarray, shape (K, f)
        Prototype centres in the scaled space.
    mean, scale : ndarray, shape (f,)
        The scaling of the environment vectors (standardised; the central element's
        one-hot block weighted like all the invariants together).
    region_names : tuple of str
    exemplars : list of dict
        Per prototype, the real atom closest to its centre: ``structure_id``, ``atom``
        (index in its structure), ``centre`` (its element) and ``atoms`` (how many learned
        atoms it took).
    """

    centres: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    region_names: tuple
    exemplars: list

    @property
    def count(self) -> int:
        return len(self.centres)

    @property
    def names(self) -> list[str]:
        return prototype_names(self.region_names, self.count)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """Nearest prototype of each environment vector (any leading shape), in the
        standardised space ``z = (x - mean) / scale``: the k of least
        ``|c_k|² - 2 z·c_k`` (``|z|²`` is the same for every k), as one product of the raw
        vectors, ``z·c_k = x·(c_k / scale) - (mean / scale)·c_k``, without standardising
        them (a third of the prototype features' time on a pool)."""
        offset = (self.centres**2).sum(axis=1) + 2.0 * self.centres @ (self.mean / self.scale)
        flat = vectors.reshape(-1, vectors.shape[-1])
        return (offset - 2.0 * flat @ (self.centres / self.scale).T).argmin(axis=1).reshape(
            vectors.shape[:-1])

    def features(self, vectors: np.ndarray, region: np.ndarray) -> np.ndarray:
        """Share of each region's atoms nearest each prototype, in :attr:`names` order.

        Parameters
        ----------
        vectors : ndarray, shape (n, n_atoms, f)
            :func:`environments` of ``n`` orderings of one geometry.
        region : ndarray of int, shape (n_atoms,)
            Region index of every atom (0 where a region is empty).
        """
        nearest = self.assign(vectors)  # (n, i)
        n_regions, count = len(self.region_names), self.count
        cells = n_regions * count
        cell = np.arange(len(vectors))[:, None] * cells + region[None, :] * count + nearest
        out = np.bincount(cell.ravel(), minlength=len(vectors) * cells).reshape(-1, cells)
        sizes = np.bincount(region, minlength=n_regions).astype(float)
        per_region = np.repeat(np.where(sizes > 0, sizes, 1.0), count)
        return out / per_region

    def to_dict(self) -> dict:
        return {"centres": self.centres.tolist(), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "region_names": list(self.region_names),
                "exemplars": self.exemplars}

    @classmethod
    def from_dict(cls, data: dict) -> Prototypes:
        return cls(np.array(data["centres"], dtype=float), np.array(data["mean"], dtype=float),
                   np.array(data["scale"], dtype=float), tuple(data["region_names"]),
                   list(data["exemplars"]))


def learn(vectors: np.ndarray, owners: list, count: int, n_elements: int,
          region_names, seed: int) -> Prototypes:
    """K-means prototypes of the environment vectors of labelled structures.

    Parameters
    ----------
    vectors : ndarray, shape (m, f)
        :func:`environments` of every atom of the labelled structures, stacked.
    owners : list of (structure_id, atom)
        Whose environment each row is.
    count : int
        K, the number of prototypes (fewer when there are fewer distinct environments).
    n_elements : int
        The one-hot central-element block is the last ``n_elements`` columns.
    region_names : sequence of str
    seed : int
        Seeds the sample and K-means (same labels, same prototypes).

    Returns
    -------
    Prototypes
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0)
    scale[scale < 1e-12] = 1.0
    n_invariants = vectors.shape[1] - n_elements
    # the centre's element weighs as much as all the invariants together
    scale[n_invariants:] /= np.sqrt(max(n_invariants, 1) / n_elements)
    scaled = (vectors - mean) / scale
    sample = np.arange(len(scaled))
    if len(sample) > MAX_ATOMS:
        sample = np.sort(rng.choice(len(scaled), MAX_ATOMS, replace=False))
    distinct = len(np.unique(np.round(scaled[sample], 9), axis=0))
    k = max(1, min(count, distinct))
    kmeans = KMeans(n_clusters=k, n_init=N_INIT, random_state=int(rng.integers(2**31)))
    kmeans.fit(scaled[sample])
    centres = kmeans.cluster_centers_
    distance = _squared_distances(scaled, centres)
    nearest = distance.argmin(axis=1)
    exemplars = []
    for p in range(k):
        row = int(distance[:, p].argmin())
        structure_id, atom = owners[row]
        exemplars.append({"structure_id": str(structure_id), "atom": int(atom),
                          "centre": int(vectors[row, n_invariants:].argmax()),
                          "atoms": int((nearest == p).sum())})
    return Prototypes(centres, mean, scale, tuple(region_names), exemplars)


def _squared_distances(points, centres):
    """Squared distances (m, K) of ``points`` (m, f) to ``centres`` (K, f)."""
    return ((points**2).sum(axis=1)[:, None] - 2.0 * points @ centres.T
            + (centres**2).sum(axis=1)[None, :])
