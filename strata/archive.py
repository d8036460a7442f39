"""The archive of distinct orderings scored by the model, and the hill climb on the model.

One :class:`Archive` per search target (one composition on one template) records every
ordering the search scores — exact repeats once, with the model score and the origin of the
first copy — and reads back the best ones with distinct canonical keys (symmetry-equivalent
copies count once). :func:`polish` climbs from the best orderings to single-swap optima of the
model, recording every neighbour it scores.
"""

import numpy as np

from strata import orderings
from strata.moves import all_single_swaps

MAX_POLISH_STEPS = 50  # single-swap steps of one hill climb of the polish


class Archive:
    """Distinct orderings seen by the search (exact repeats dropped), with score and origin.

    Canonical keys (symmetry) are only computed for the few rows that are read back
    (parents and the final pool), not for every scored child.

    Parameters
    ----------
    score : callable
        ``score(codes) -> scores``: the model score of orderings (2-D), higher is better.
    keys : callable
        ``keys(codes) -> keys``: canonical keys of orderings (2-D) of this template.
    labelled_keys : set, optional
        Keys of the structures already computed (left out by ``best(include_labelled=False)``).
    """

    def __init__(self, score, keys, labelled_keys=frozenset()):
        self.score = score
        self.keys = keys
        self.labelled = labelled_keys
        self.origins = []
        self._blocks, self._score_blocks = [], []
        self._seen = set()
        self._codes = self._scores = None

    def evaluate(self, codes, origins):
        """Score orderings on the model and record the new ones.

        Parameters
        ----------
        codes : array_like, shape (m, n_atoms)
        origins : str or list[str]
            One origin for all rows, or one per row.

        Returns
        -------
        numpy.ndarray, shape (m,)
            The score of every row (repeats included); the model is not called for no rows.
        """
        codes = np.asarray(codes, dtype=orderings.CODE_DTYPE)
        if len(codes) == 0:
            return np.empty(0)
        scores = np.asarray(self.score(codes))
        self.add(codes, scores, origins)
        return scores

    def add(self, codes, scores, origins):
        """Record the rows of ``codes`` not seen before, with their ``scores`` and origins."""
        if len(codes) == 0:
            return
        keep = [k for k in orderings.first_occurrences(codes)
                if codes[k].tobytes() not in self._seen]
        self._seen.update(codes[k].tobytes() for k in keep)
        if not keep:
            return
        self._blocks.append(codes[keep])
        self._score_blocks.append(np.asarray(scores)[keep])
        origins = [origins] * len(codes) if isinstance(origins, str) else list(origins)
        self.origins.extend(origins[k] for k in keep)
        self._codes = self._scores = None

    def _concatenate(self):
        if self._codes is None:
            self._codes = np.concatenate(self._blocks)
            self._scores = np.concatenate(self._score_blocks)

    @property
    def codes(self):
        """Every recorded ordering, in the order first seen, shape (n, n_atoms)."""
        self._concatenate()
        return self._codes

    @property
    def scores(self):
        """Model score of every recorded ordering."""
        self._concatenate()
        return self._scores

    def __len__(self):
        return len(self.origins)

    def best(self, n, include_labelled=True):
        """The ``n`` best-scored rows with distinct canonical keys (ties: first seen first).

        Returns
        -------
        rows : list[int]
            Indices into :attr:`codes`, best first.
        keys : list
            Their canonical keys.
        """
        order = np.argsort(-self.scores, kind="stable")
        chosen, keys, seen = [], [], set()
        start, width = 0, max(4 * n, 64)
        while len(chosen) < n and start < len(order):
            rows = order[start:start + width]
            for row, key in zip(rows, self.keys(self.codes[rows]), strict=True):
                if key in seen or (not include_labelled and key in self.labelled):
                    continue
                seen.add(key)
                chosen.append(int(row))
                keys.append(key)
                if len(chosen) == n:
                    break
            start += width
        return chosen, keys


def hill_climb(codes, archive, max_steps=MAX_POLISH_STEPS, neighbours=all_single_swaps):
    """Steepest ascent over single swaps on the model, to a local optimum (or ``max_steps``).

    Every scored neighbour goes into ``archive``, so the pool also holds the neighbourhood of
    the model's optimum.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n_atoms,)
        The start.
    archive : Archive
        Scores the orderings (:attr:`Archive.score`) and records the neighbours.
    max_steps : int
    neighbours : callable
        ``neighbours(codes) -> (m, n_atoms)``: the swaps scored at each step, all of them
        (:func:`strata.moves.all_single_swaps`) or a screened few
        (:func:`strata.moves.screened_swaps`: then the optimum is one over those).

    Returns
    -------
    codes : numpy.ndarray, shape (n_atoms,)
        The final ordering.
    score : float
        Its model score.
    """
    current = np.asarray(codes, dtype=orderings.CODE_DTYPE)
    current_score = archive.score(current[None, :])[0]
    for _ in range(max_steps):
        swapped = neighbours(current)
        if not len(swapped):
            break
        scores = archive.evaluate(swapped, "mutation")
        best = int(np.argmax(scores))
        if scores[best] <= current_score + 1e-12 * max(1.0, abs(current_score)):
            break
        current, current_score = swapped[best], scores[best]
    return current, current_score


def polish(archive, n, max_steps=MAX_POLISH_STEPS, neighbours=all_single_swaps):
    """Hill-climb (:func:`hill_climb`, over ``neighbours``) from each of the ``n`` best
    distinct orderings.

    The starts are chosen before the first climb, so one climb does not pick the next start.

    Returns
    -------
    list[tuple[numpy.ndarray, float]]
        The optimum reached from each start, with its score.
    """
    if n <= 0:
        return []
    rows, _ = archive.best(n)
    starts = [archive.codes[k].copy() for k in rows]
    return [hill_climb(start, archive, max_steps, neighbours) for start in starts]
