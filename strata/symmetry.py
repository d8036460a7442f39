"""Point-group permutations of a template and canonical keys of orderings.

Two orderings of one template that a symmetry operation of the geometry maps onto each other
are the same structure (same energy). :func:`point_group_permutations` finds every orthogonal
transform (rotation or improper rotation about the centroid) that maps the template's sites onto
themselves within a tolerance, as site permutations; :func:`canonical_keys` reduces each
ordering to the lexicographically smallest of its images, so that equal keys mean equivalent
structures. A Mackay icosahedron has 120 operations (I_h), an ideal octahedron 48 (O_h), an
ideal Ino decahedron 20 (D_5h) and an irregular particle only the identity.
"""

import hashlib

import numpy as np
from scipy.spatial import cKDTree

from strata.settings import schema_default

#: position tolerance of the point-group search (Å): the schema's search.symmetry_tolerance
TOLERANCE = schema_default("search", "symmetry_tolerance")

CHUNK_BYTES = 32_000_000  # memory per chunk of permuted orderings in canonical_keys


def _shells(radius, tolerance):
    """Group sites into radial shells: label per site (0 = innermost)."""
    order = np.argsort(radius)
    label = np.empty(len(radius), dtype=int)
    current, start = 0, radius[order[0]]
    for k in order:
        if radius[k] - start > tolerance:
            current += 1
            start = radius[k]
        label[k] = current
    return label


def _frame(a, b):
    """Orthonormal frame (rows) built from two non-collinear vectors."""
    e1 = a / np.linalg.norm(a)
    e3 = np.cross(a, b)
    e3 /= np.linalg.norm(e3)
    return np.array([e1, np.cross(e3, e1), e3])


def _match(transformed, tree, tolerance):
    """Site permutation ``p`` with ``transformed[i] ≈ positions[p[i]]``, or None."""
    distance, index = tree.query(transformed, distance_upper_bound=tolerance)
    if not np.all(np.isfinite(distance)):
        return None
    if len(np.unique(index)) != len(index):
        return None
    return index


def point_group_permutations(template, tolerance=TOLERANCE):
    """Site permutations of every point-group operation of a template's geometry.

    An operation is an orthogonal 3×3 matrix ``R`` (proper or improper) about the centroid
    that sends every site within ``tolerance`` of a site. Chemical symbols are ignored.

    Parameters
    ----------
    template : ase.Atoms or numpy.ndarray
        The geometry (or an ``(n_atoms, 3)`` array of positions).
    tolerance : float
        Largest distance (Å) between a transformed site and its image.

    Returns
    -------
    numpy.ndarray of int, shape (n_operations, n_atoms)
        Row ``g`` is the permutation ``p`` of operation ``g``: the site ``i`` goes to
        ``p[i]``. Row 0 is the identity. The ordering ``codes`` transformed by ``g`` is
        ``codes[inverse(p)]``; as the rows form a group, the set of images
        ``{codes[p] for p in rows}`` is the orbit of ``codes``.
    """
    positions = np.asarray(getattr(template, "positions", template), dtype=float)
    n_atoms = len(positions)
    identity = np.arange(n_atoms)
    centred = positions - positions.mean(axis=0)
    radius = np.linalg.norm(centred, axis=1)
    off_centre = radius > tolerance
    if off_centre.sum() == 0:
        return identity[None, :]
    tree = cKDTree(centred)
    shell = _shells(radius, tolerance)
    # First anchor: a site of the smallest off-centre shell (fewest candidate images).
    shell_ids, shell_sizes = np.unique(shell[off_centre], return_counts=True)
    a_shell = shell_ids[np.argmin(shell_sizes)]
    a = np.flatnonzero(shell == a_shell)[0]
    # Second anchor: a site not collinear with a, from the shell giving the fewest images.
    cross = np.linalg.norm(np.cross(centred, centred[a]), axis=1)
    non_collinear = off_centre & (cross > tolerance * radius[a])
    found = {identity.tobytes(): identity}
    if not non_collinear.any():  # a linear particle: keep identity and the inversion
        inverted = _match(-centred, tree, tolerance)
        if inverted is not None:
            found.setdefault(inverted.tobytes(), inverted)
        return np.array(list(found.values()))
    candidates = np.flatnonzero(non_collinear)
    b_sizes = np.array([(shell == shell[c]).sum() for c in candidates])
    b = candidates[np.argmin(b_sizes)]
    source = _frame(centred[a], centred[b])
    dot_ab = centred[a] @ centred[b]
    a_images = np.flatnonzero(np.abs(radius - radius[a]) <= tolerance)
    b_images = np.flatnonzero(np.abs(radius - radius[b]) <= tolerance)
    angle_tolerance = 2 * tolerance * (radius[a] + radius[b])
    for a2 in a_images:
        close = np.abs(centred[b_images] @ centred[a2] - dot_ab) <= angle_tolerance
        for b2 in b_images[close]:
            if b2 == a2:
                continue
            target = _frame(centred[a2], centred[b2])
            for handedness in (1.0, -1.0):
                target_h = target * np.array([1.0, 1.0, handedness])[:, None]
                rotation = target_h.T @ source  # maps source frame rows onto target rows
                permutation = _match(centred @ rotation.T, tree, tolerance)
                if permutation is not None:
                    found.setdefault(permutation.tobytes(), permutation)
    return np.array(list(found.values()))


def _lexicographic_min_rows(images):
    """Lexicographically smallest row per ordering of ``images`` (n, n_ops, n_atoms) uint8."""
    n, n_ops, n_atoms = images.shape
    width = -(-n_atoms // 8) * 8
    padded = np.zeros((n, n_ops, width), dtype=np.uint8)
    padded[:, :, :n_atoms] = images
    words = padded.view(">u8").astype(np.uint64)  # big-endian: word order = byte order
    alive = np.ones((n, n_ops), dtype=bool)
    big = np.iinfo(np.uint64).max
    for k in range(words.shape[2]):
        column = np.where(alive, words[:, :, k], big)
        alive &= column == column.min(axis=1, keepdims=True)
        if np.all(alive.sum(axis=1) == 1):
            break
    best = alive.argmax(axis=1)
    return images[np.arange(n), best]


def canonical_orderings(codes, permutations):
    """The canonical representative of each ordering: smallest image under the point group.

    Parameters
    ----------
    codes : array_like of int, shape (n_orderings, n_atoms) or (n_atoms,)
    permutations : numpy.ndarray of int, shape (n_operations, n_atoms)
        From :func:`point_group_permutations`.

    Returns
    -------
    numpy.ndarray of int8, same shape as ``codes``
    """
    codes = np.asarray(codes)
    single = codes.ndim == 1
    codes = np.atleast_2d(codes).astype(np.uint8)
    permutations = np.asarray(permutations)
    n, n_atoms = codes.shape
    if permutations.shape[1] != n_atoms:
        raise ValueError(
            f"orderings have {n_atoms} sites but the permutations {permutations.shape[1]}"
        )
    out = np.empty_like(codes)
    chunk = max(1, CHUNK_BYTES // max(1, len(permutations) * n_atoms * 3))
    for start in range(0, n, chunk):
        block = codes[start:start + chunk]
        out[start:start + chunk] = _lexicographic_min_rows(block[:, permutations])
    out = out.astype(np.int8)
    return out[0] if single else out


def canonical_keys(codes, permutations, template=None):
    """Canonical key of each ordering: equal keys ⇔ symmetry-equivalent orderings.

    Parameters
    ----------
    codes : array_like of int, shape (n_orderings, n_atoms)
    permutations : numpy.ndarray of int, shape (n_operations, n_atoms)
        From :func:`point_group_permutations` (a single identity row: no symmetry).
    template : int or array_like of int, optional
        Template index (one for all, or one per ordering), prefixed to the key so that
        orderings of different templates never share a key.

    Returns
    -------
    numpy.ndarray of object (str), shape (n_orderings,)
        ``"t{template}:"`` (when given) followed by a 32-hex-digit BLAKE2b digest of the
        canonical ordering. Strings, so they go into sets, CSV files and ``atoms.info``.
    """
    canonical = np.atleast_2d(canonical_orderings(codes, permutations))
    if template is None:
        prefixes = [""] * len(canonical)
    else:
        prefixes = [f"t{int(t)}:" for t in np.broadcast_to(template, (len(canonical),))]
    keys = [
        prefix + hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest()
        for prefix, row in zip(prefixes, canonical, strict=True)
    ]
    return np.array(keys, dtype=object)


class SymmetryCache:
    """Permutations of each template, computed once per template.

    Parameters
    ----------
    templates : list[ase.Atoms]
    tolerance : float
        See :func:`point_group_permutations`.
    enabled : bool
        False: identity only (duplicates are exact repeats only).
    """

    def __init__(self, templates, tolerance=TOLERANCE, enabled=True):
        self.templates = templates
        self.tolerance = tolerance
        self.enabled = enabled
        self._permutations = {}

    def permutations(self, t):
        """Permutations of template ``t``."""
        if t not in self._permutations:
            if self.enabled:
                self._permutations[t] = point_group_permutations(self.templates[t],
                                                                 self.tolerance)
            else:
                self._permutations[t] = np.arange(len(self.templates[t]))[None, :]
        return self._permutations[t]

    def keys(self, template, codes):
        """Keys of orderings ``codes`` (2-D) on templates ``template`` (int or one per row)."""
        codes = np.atleast_2d(np.asarray(codes))
        template = np.broadcast_to(np.asarray(template, dtype=int), (len(codes),))
        keys = np.empty(len(codes), dtype=object)
        for t in np.unique(template):
            rows = np.flatnonzero(template == t)
            keys[rows] = canonical_keys(codes[rows], self.permutations(int(t)), template=t)
        return keys


def cycle_lengths(permutation):
    """Lengths of the cycles of a site permutation, sorted (a tuple, e.g. ``(1, 3, 3)``)."""
    permutation = np.asarray(permutation)
    seen = np.zeros(len(permutation), dtype=bool)
    lengths = []
    for start in range(len(permutation)):
        length, site = 0, start
        while not seen[site]:
            seen[site] = True
            site = permutation[site]
            length += 1
        if length:
            lengths.append(length)
    return tuple(sorted(lengths))


def fixed_orderings(lengths, counts):
    """Orderings with ``counts`` atoms per element that a permutation of cycle ``lengths`` fixes.

    A fixed ordering puts one element on every site of a cycle, so the count is the
    coefficient of ``x_1^{n_1} … x_k^{n_k}`` in ``∏_c (x_1^{l_c} + … + x_k^{l_c})``,
    computed exactly (Python integers) on the truncated polynomial.
    """
    counts = tuple(int(c) for c in counts)
    poly = np.zeros(tuple(c + 1 for c in counts), dtype=object)
    poly[(0,) * len(counts)] = 1
    for length in lengths:
        grown = np.zeros_like(poly)
        for axis, count in enumerate(counts):
            if length <= count:
                target = [slice(None)] * len(counts)
                source = [slice(None)] * len(counts)
                target[axis], source[axis] = slice(length, None), slice(None, count + 1 - length)
                grown[tuple(target)] += poly[tuple(source)]
        poly = grown
    return int(poly[counts])


def count_distinct_orderings(permutations, counts):
    """Orderings of one composition distinct under a point group (Burnside's lemma).

    Parameters
    ----------
    permutations : numpy.ndarray of int, shape (n_operations, n_atoms)
        From :func:`point_group_permutations` (a group).
    counts : sequence of int
        Atoms per element, adding up to ``n_atoms``.

    Returns
    -------
    int
        The number of orbits: the mean, over the operations, of the orderings each fixes.
        Its cost grows with the product of ``counts + 1``: call it on small counts only.
    """
    by_type = {}
    for permutation in np.asarray(permutations):
        lengths = cycle_lengths(permutation)
        by_type[lengths] = by_type.get(lengths, 0) + 1
    total = sum(n * fixed_orderings(lengths, counts) for lengths, n in by_type.items())
    return total // len(permutations)
