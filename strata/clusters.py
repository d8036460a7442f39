"""Templates: the geometries whose sites the chemical orderings fill.

A template is an :class:`ase.Atoms` object. Its chemical symbols carry no meaning for an ideal
cluster (the orderings replace them); for a user structure file they are that structure's own
ordering. Every template of a campaign has the same number of atoms.
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.data import atomic_numbers, reference_states
from ase.io import read

SHAPES = ("icosahedron", "decahedron", "octahedron", "truncated_octahedron")
STRUCTURE_SUFFIXES = (".xyz", ".extxyz", ".cif", ".vasp", ".traj", ".pdb")
MIN_DISTANCE = 0.5  # Å: closer atoms are overlapping, not bonded


class StructureFileError(ValueError):
    """A user structure file that cannot be a template."""


def nearest_neighbour_distance(symbol):
    """Nearest-neighbour distance of an element's ground-state crystal (Å).

    Parameters
    ----------
    symbol : str
        Chemical symbol.

    Returns
    -------
    float
        From ASE's reference states: fcc ``a/√2``, bcc ``a√3/2``, hcp and diamond their own.
    """
    state = reference_states[atomic_numbers[symbol]]
    if state is None or "a" not in state:
        raise ValueError(f"no crystal reference state for {symbol}")
    a = state["a"]
    return {
        "fcc": a / np.sqrt(2),
        "bcc": a * np.sqrt(3) / 2,
        "hcp": a,
        "diamond": a * np.sqrt(3) / 4,
        "sc": a,
    }.get(state["symmetry"], a)


def default_lattice_constant(counts):
    """Fcc lattice constant from Vegard's law on nearest-neighbour distances.

    Parameters
    ----------
    counts : dict[str, float]
        Element → count (or fraction) of the particle.

    Returns
    -------
    float
        ``√2 · Σ x_i d_i`` with ``d_i`` the element's nearest-neighbour distance.
    """
    total = sum(counts.values())
    d = sum(n / total * nearest_neighbour_distance(s) for s, n in counts.items())
    return float(np.sqrt(2) * d)


def build_template(shape, size, lattice_constant, cutoff=1, reentrance=0, symbol="Cu"):
    """Build an ideal cluster of one of :data:`SHAPES`.

    Parameters
    ----------
    shape : str
        ``icosahedron`` (``size`` = number of shells: 2 → 13, 3 → 55, 4 → 147 atoms),
        ``decahedron`` (Ino/Marks: ``size`` atoms along the 100 facet edges and along the
        5-fold axis, ``reentrance`` Marks re-entrances), ``octahedron`` (``size`` atoms along an
        edge) or ``truncated_octahedron`` (``size`` atoms along an edge with ``cutoff``
        layers cut from each vertex: 4/1 → 38 atoms).
    size : int
        Size parameter, see ``shape``.
    lattice_constant : float
        Fcc lattice constant (Å).
    cutoff, reentrance : int
        Truncation of the truncated octahedron and Marks re-entrance of the decahedron.
    symbol : str
        Placeholder element.

    Returns
    -------
    ase.Atoms
        Centred at the origin, no cell, no periodicity.
    """
    if shape == "icosahedron":
        atoms = Icosahedron(symbol, noshells=size, latticeconstant=lattice_constant)
    elif shape == "decahedron":
        atoms = Decahedron(symbol, p=size, q=size, r=reentrance, latticeconstant=lattice_constant)
    elif shape == "octahedron":
        atoms = Octahedron(symbol, length=size, cutoff=0, latticeconstant=lattice_constant)
    elif shape == "truncated_octahedron":
        atoms = Octahedron(symbol, length=size, cutoff=cutoff, latticeconstant=lattice_constant)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    atoms = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions)
    atoms.translate(-atoms.positions.mean(axis=0))
    return atoms


def structure_files(folder):
    """Sorted structure files of a user folder (by suffix)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StructureFileError(f"structure folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES)
    if not files:
        raise StructureFileError(
            f"structure folder {folder} holds no structure file ({', '.join(STRUCTURE_SUFFIXES)})"
        )
    return files


def read_template(path):
    """Read one user structure as a centred, non-periodic template.

    Raises
    ------
    StructureFileError
        When the file cannot be read or has overlapping atoms.
    """
    try:
        atoms = read(path)
    except Exception as error:  # ASE raises many kinds for a malformed file
        raise StructureFileError(f"{path}: unreadable structure file ({error})") from error
    if len(atoms) < 2:
        raise StructureFileError(f"{path}: a particle needs at least 2 atoms, found {len(atoms)}")
    distances = atoms.get_all_distances()[np.triu_indices(len(atoms), 1)]
    if distances.min() < MIN_DISTANCE:
        raise StructureFileError(
            f"{path}: overlapping atoms (closest pair {distances.min():.2f} Å < {MIN_DISTANCE} Å)"
        )
    template = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions)
    template.translate(-template.positions.mean(axis=0))
    return template


def read_templates(folder):
    """Read every structure file of a user folder; all must have one size.

    Returns
    -------
    list[ase.Atoms]
    """
    templates = [read_template(path) for path in structure_files(folder)]
    sizes = {len(t) for t in templates}
    if len(sizes) > 1:
        raise StructureFileError(
            f"structure folder {folder}: mixed particle sizes {sorted(sizes)}; one campaign "
            "ranks orderings of one size"
        )
    return templates
