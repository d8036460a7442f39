"""Round 0: the diverse initial set of orderings, and structures as ASE objects.

The initial set mixes the classic motifs of nanoalloys — core–shell both ways, Janus,
onion-like layers, surface segregation of each element — with random orderings, at the
exact stoichiometry of every composition of the campaign.
"""

import itertools

import numpy as np
import pandas as pd
from ase import Atoms

from strata import orderings

MOTIFS = ("core_shell", "segregated", "janus", "layered", "random")


def motif_makers(positions, coordination, counts):
    """The structured motifs for one template and one composition, in a fixed order.

    Parameters
    ----------
    positions : numpy.ndarray
        Site positions of the template.
    coordination : numpy.ndarray
        Coordination number per site (low = vertex/edge), for surface segregation.
    counts : numpy.ndarray
        Count per element.

    Returns
    -------
    list[tuple[str, callable]]
        ``(origin, make)`` pairs; ``make(rng)`` returns one ordering.
    """
    present = [int(e) for e in np.flatnonzero(counts)]
    makers = [
        ("core_shell", lambda rng, e=e: orderings.core_shell(positions, counts, [e], rng))
        for e in present
    ]
    makers += [
        ("segregated", lambda rng, e=e: orderings.surface_segregated(coordination, counts, e, rng))
        for e in present
    ]
    makers += [
        ("janus", lambda rng: orderings.janus(positions, counts, rng)),
        ("layered", lambda rng: orderings.layered(positions, counts, rng)),
    ]
    return makers


def initial_set(templates, coordinations, compositions, size, elements, rng, key=None,
                motifs=MOTIFS, given=()):
    """The diverse initial set: ``size`` distinct orderings per composition.

    Structured motifs come first (each once per template, as far as ``size`` allows); the
    rest are random orderings. Duplicates (by ``key``) are never returned.

    On small, symmetric particles a structured motif can already be the ground state (on the
    Pt74Au73 Mackay icosahedron, Au segregated to the 73 least-coordinated sites is), which is
    the point of seeding with physically motivated motifs; ``motifs=("random",)`` gives a purely
    random start, as used to measure the surrogate alone.

    Parameters
    ----------
    templates : list[ase.Atoms]
    coordinations : list[numpy.ndarray]
        Coordination number per site of each template.
    compositions : list[numpy.ndarray]
        Count per element of every composition of the campaign.
    size : int
        Orderings per composition.
    elements : list[str]
    rng : numpy.random.Generator
    key : callable, optional
        ``key(template_index, codes) -> hashable`` identifying equivalent orderings (for
        example a canonical key under the template's point group). Default: the codes.
    motifs : sequence of str
        Which of :data:`MOTIFS` to use; with ``"random"`` left out the set has only as many
        orderings as there are structured motifs.
    given : sequence of (int, numpy.ndarray)
        Orderings given by the user (template index, codes): each joins the set of its
        composition first, with origin ``user``.

    Returns
    -------
    pandas.DataFrame
        Columns ``template``, ``codes``, ``composition``, ``origin``.
    """
    key = key or (lambda t, codes: (t, codes.tobytes()))
    rows, seen = [], set()
    for counts in compositions:
        composition = orderings.composition_key(counts, elements)
        structured = [
            (t, "user", lambda rng, c=codes: np.array(c, dtype=orderings.CODE_DTYPE))
            for t, codes in given
            if (orderings.element_counts(codes, len(elements)) == counts).all()
        ] + [
            (t, origin, make)
            for t, (template, coordination) in enumerate(zip(templates, coordinations, strict=True))
            for origin, make in motif_makers(template.positions, coordination, counts)
            if origin in motifs
        ]
        random_makers = itertools.cycle(
            [(t, "random", lambda rng, c=counts: orderings.random_ordering(c, rng))
             for t in range(len(templates))] if "random" in motifs else []
        )
        n_made, attempts = 0, 0
        for t, origin, make in itertools.chain(structured, random_makers):
            if n_made == size:
                break
            attempts += 1
            if attempts > 100 * size:
                raise ValueError(
                    f"only {n_made} distinct orderings of {composition} exist on these templates; "
                    f"initial_size asks for {size}"
                )
            codes = make(rng)
            if key(t, codes) in seen:
                continue
            seen.add(key(t, codes))
            rows.append({"template": t, "codes": codes, "composition": composition,
                         "origin": origin})
            n_made += 1
    return pd.DataFrame(rows)


def structure_atoms(geometry, codes, elements, **info):
    """:class:`ase.Atoms` of the template ``geometry`` filled with ``codes``, with ``info``."""
    atoms = Atoms(orderings.symbols_from_codes(codes, elements), positions=geometry.positions)
    atoms.info.update(info)
    return atoms
