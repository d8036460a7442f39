"""Checks of the particle that a schema cannot make, for :func:`strata.config.check_campaign`.

Each function returns what is wrong as text (or a number), not an exception: the config module
names the key. They catch what otherwise fails in the first job, or runs on nonsense: a size
parameter read as a number of atoms, a lattice constant in nm or Bohr, a bond factor that
bonds nothing or the next neighbour shell (no surface), more initial orderings than the
particle has symmetry-distinct ones.
"""

import math

import numpy as np

from strata.layers import Topology, bond_graph
from strata.symmetry import count_distinct_orderings, point_group_permutations

#: the largest ideal cluster a campaign builds (a size of 147 meant as atoms would be 10 M)
MAX_ATOMS = 10_000
#: plain ordering counts up to this are reduced by symmetry exactly (Burnside's lemma)
MAX_COUNTED = 10**7
#: bond factors that bond the first neighbour shell of a metal and not the second
USUAL_BOND_FACTOR = (1.0, 1.4)
#: the most neighbours of a metal atom (12 close-packed, 14 bcc with its second shell, 16 in
#: Frank-Kasper phases): more means the bond factor reaches the next shell
MAX_COORDINATION = 16
#: a given lattice constant within these times Vegard's estimate (fcc metals: a few %)
LATTICE_RATIO = (0.75, 1.33)
SIZE_MEANING = {
    "icosahedron": "the number of shells (2 → 13, 3 → 55, 4 → 147 atoms)",
    "decahedron": "atoms along the facet edges and the 5-fold axis (4 → 147 atoms)",
    "octahedron": "atoms along an edge (4 → 44 atoms)",
    "truncated_octahedron": "atoms along an edge (4 with cutoff 1 → 38 atoms)",
}


def ideal_atoms(shape, size, cutoff=1):
    """Atoms of an ideal cluster (at least that many for a Marks decahedron)."""
    if shape in ("icosahedron", "decahedron"):
        return (10 * size**3 - 15 * size**2 + 11 * size - 3) // 3
    corner = cutoff * (cutoff + 1) * (2 * cutoff + 1) // 6  # a square pyramid of cutoff layers
    removed = 6 * corner if shape == "truncated_octahedron" else 0
    return (2 * size**3 + size) // 3 - removed


def size_problem(shape, size, cutoff=1):
    """What is wrong with an ideal cluster's ``size`` (too many atoms), or None."""
    n_atoms = ideal_atoms(shape, size, cutoff)
    if n_atoms <= MAX_ATOMS:
        return None
    article = "an" if shape[0] in "aeiou" else "a"
    return (f"{article} {shape} of size {size} has {n_atoms:,} atoms, more than "
            f"{MAX_ATOMS:,}; size is {SIZE_MEANING[shape]}, not a number of atoms")


def _usual(bond_factor):
    return USUAL_BOND_FACTOR[0] <= bond_factor <= USUAL_BOND_FACTOR[1]


def surface_problem(templates, settings):
    """The key to blame and what is wrong when a template has no surface atom, or None.

    Parameters
    ----------
    templates : list[ase.Atoms]
    settings : strata.settings.DescriptorSettings

    Returns
    -------
    (str, str) or None
        The key (``descriptors.bond_factor`` when it is unusual, else
        ``descriptors.bulk_coordination`` or ``descriptors.surface_method``) and the message.
    """
    for t, template in enumerate(templates):
        try:
            Topology.from_atoms(template, settings)
        except ValueError:  # no surface atoms
            bonds, _ = bond_graph(template, settings.bond_factor)
            median = int(np.median(np.bincount(bonds.ravel(), minlength=len(template))))
            text = (f"with bond_factor {settings.bond_factor}, bulk_coordination "
                    f"{settings.bulk_coordination} and surface_method {settings.surface_method}"
                    f", no atom of template {t} ({len(template)} atoms, {median} neighbours in "
                    "the median) is on the surface")
            if not _usual(settings.bond_factor):
                return "descriptors.bond_factor", f"{text}; a bond factor of 1.1–1.3 is usual"
            if settings.surface_method == "geometric":
                return "descriptors.surface_method", f"{text}; try surface_method: coordination"
            return "descriptors.bulk_coordination", f"{text}; a close-packed metal has 12"
    return None


def bond_problem(templates, bond_factor):
    """What is wrong when no two atoms of an ideal template are bonded, or an atom has more
    neighbours than a metal atom can (the next shell is bonded); else None."""
    for t, template in enumerate(templates):
        bonds, _ = bond_graph(template, bond_factor)
        most = np.bincount(bonds.ravel(), minlength=len(template)).max()
        if most == 0:
            what = f"no two atoms of template {t} are bonded (every atom is surface, none core)"
        elif most > MAX_COORDINATION:
            what = (f"an atom of template {t} has {most} neighbours (a metal atom has at most "
                    f"{MAX_COORDINATION}: the next neighbour shell is bonded)")
        else:
            continue
        return f"with bond_factor {bond_factor} {what}; a bond factor of 1.1–1.3 is usual"
    return None


def lattice_problem(lattice_constant, vegard):
    """What is wrong with a given lattice constant far from Vegard's estimate, or None."""
    if LATTICE_RATIO[0] <= lattice_constant / vegard <= LATTICE_RATIO[1]:
        return None
    return (f"{lattice_constant} Å is far from the {vegard:.2f} Å that Vegard's law gives for "
            "these elements (a value in nm or Bohr, or a misplaced decimal point?); give it in "
            f"Å within {LATTICE_RATIO[0]:g}–{LATTICE_RATIO[1]:g} times that, or null")


def plain_orderings(counts):
    """Orderings of a composition with ``counts`` atoms per element (the multinomial)."""
    n_orderings = math.factorial(int(sum(counts)))
    for count in counts:
        n_orderings //= math.factorial(int(count))
    return n_orderings


def distinct_orderings(templates, counts, symmetry=True, tolerance=0.1):
    """Orderings of a composition on the templates, symmetry-distinct when ``symmetry``.

    Returns
    -------
    int
        The number of distinct orderings, summed over the templates; the plain count (no
        symmetry reduction) when it exceeds :data:`MAX_COUNTED` or ``symmetry`` is off.
    """
    plain = plain_orderings(counts)
    if not symmetry or plain > MAX_COUNTED:
        return plain * len(templates)
    return sum(count_distinct_orderings(point_group_permutations(t, tolerance), counts)
               for t in templates)
