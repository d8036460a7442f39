"""Templates: the geometries whose sites the chemical orderings fill.

A template is an :class:`ase.Atoms` object. Its chemical symbols carry no meaning for an ideal
cluster (the orderings replace them); for a user structure file they are that structure's own
ordering. Every template of a campaign has the same number of atoms.

A user structure must be one metal particle in Ångström: :func:`read_template` names the file
and what is wrong for non-metal atoms (ligands), a periodic cell without vacuum, a unit mistake
(no bonds: Bohr; everything overlapping: nm), duplicate atoms and stray atoms. A particle cut by
the faces of its periodic cell is made whole again. Atoms are bonded here when
``d_ij < 1.4 (r_i + r_j)`` (covalent radii): any usual bond factor bonds fewer.
"""

from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states
from ase.io import read
from ase.neighborlist import neighbor_list
from scipy.spatial import cKDTree

SHAPES = ("icosahedron", "decahedron", "octahedron", "truncated_octahedron")
STRUCTURE_SUFFIXES = (".xyz", ".extxyz", ".cif", ".vasp", ".traj", ".pdb")
MIN_DISTANCE = 0.5  # Å: closer atoms are overlapping, not bonded
#: nearest-neighbour distance / (r_i + r_j) of a bonded pair: at most this (metals: 0.9-1.2)
BOND_REACH = 1.4
#: a typical nearest-neighbour distance below this fraction of a bond: wrong unit or scale
TOO_CLOSE = 0.7
#: not metals (the metalloids B, Si, Ge, As, Sb, Te are allowed); X is ASE's dummy atom
NON_METALS = frozenset(("X", "H", "He", "C", "N", "O", "F", "Ne", "P", "S", "Cl", "Ar", "Se",
                        "Br", "Kr", "I", "Xe", "Rn"))


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
        When the file cannot be read or is not one metal particle in Ångström
        (:func:`template_from_atoms`).
    """
    try:
        atoms = read(path)
    except Exception as error:  # ASE raises many kinds for a malformed file
        raise StructureFileError(f"{path}: unreadable structure file ({error})") from error
    return template_from_atoms(atoms, path)


def template_from_atoms(atoms, name):
    """A centred, non-periodic template of a user structure, checked to be a metal particle.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure as read (cell and periodicity are used to make the particle whole).
    name : str or pathlib.Path
        The file, named in every message.

    Raises
    ------
    StructureFileError
        For fewer than 2 atoms, non-metal atoms, a periodic structure bonded to its own images,
        a unit mistake, duplicate atoms or atoms bonded to no other.
    """
    if len(atoms) < 2:
        raise StructureFileError(f"{name}: a particle needs at least 2 atoms, found {len(atoms)}")
    _check_metals(atoms, name)
    positions = _whole(atoms, name)
    _check_distances(atoms.numbers, positions, name)
    template = Atoms(atoms.get_chemical_symbols(), positions=positions)
    template.translate(-template.positions.mean(axis=0))
    return template


def _atom_list(indices, symbols=None, most=6):
    """``atoms 3, 7 (Pt, Au)``: the first few indices, with their symbols."""
    shown = [int(i) for i in indices[:most]]
    text = ", ".join(map(str, shown)) + (f" … ({len(indices)} in all)" if len(indices) > most
                                         else "")
    if symbols is not None:
        text += f" ({', '.join(symbols[i] for i in shown)})"
    return f"atom{'s' if len(indices) > 1 else ''} {text}"


def _check_metals(atoms, name):
    """Every atom is a metal (a ligand or adsorbate is not a site of the particle)."""
    symbols = atoms.get_chemical_symbols()
    foreign = [i for i, s in enumerate(symbols) if s in NON_METALS]
    if foreign:
        elements = sorted({symbols[i] for i in foreign})
        which = _atom_list(foreign, symbols if len(elements) > 1 else None)
        raise StructureFileError(
            f"{name}: non-metal atoms ({', '.join(elements)}): {which} of {len(atoms)}; a "
            "template is a bare metal particle (remove ligands, adsorbates and dummy atoms)"
        )


def _whole(atoms, name):
    """Positions of the particle, made whole across the faces of a periodic cell.

    Raises
    ------
    StructureFileError
        When the structure is bonded to one of its own periodic images (no vacuum).
    """
    periodic = atoms.pbc & (atoms.cell.lengths() > 0)
    if not periodic.any():
        return atoms.get_positions()
    probe = atoms.copy()
    probe.pbc = periodic
    i, j, shifts, d = neighbor_list("ijSd", probe, BOND_REACH * covalent_radii[atoms.numbers])
    image = _images(len(atoms), i, j, shifts)  # cell of each atom in the whole particle
    winding = image[i] + shifts - image[j]  # non-zero: the bonds loop through the boundary
    through = np.flatnonzero(winding.any(axis=1))
    if len(through):
        k = through[np.argmin(d[through])]
        axes = [axis for axis, n in zip("abc", np.abs(winding[through]).sum(axis=0), strict=True)
                if n]
        kind = {3: "bulk cell", 2: "slab"}.get(len(axes), "wire")
        pair = f"atoms {i[k]} and {j[k]} are" if i[k] != j[k] else f"atom {i[k]} is"
        raise StructureFileError(
            f"{name}: periodic {kind}, not a particle: {pair} bonded "
            f"through the cell faces along {', '.join(axes)} ({d[k]:.2f} Å apart), so the "
            "structure touches its own periodic images; give the particle vacuum in its cell, "
            "or write it without a cell"
        )
    return atoms.get_positions() + image @ atoms.cell.array


def _images(n_atoms, i, j, shifts):
    """Periodic image of every atom that joins it to its bonded neighbours (graph search)."""
    image = np.zeros((n_atoms, 3), dtype=int)
    seen = np.zeros(n_atoms, dtype=bool)
    order = np.argsort(i, kind="stable")
    starts = np.searchsorted(i[order], np.arange(n_atoms + 1))
    for root in range(n_atoms):
        if seen[root]:
            continue
        seen[root], stack = True, [root]
        while stack:
            a = stack.pop()
            for k in order[starts[a]:starts[a + 1]]:
                if not seen[j[k]]:
                    seen[j[k]], image[j[k]] = True, image[a] + shifts[k]
                    stack.append(j[k])
    return image


def _check_distances(numbers, positions, name):
    """Ångström coordinates of one particle: no unit mistake, duplicate or stray atom."""
    distance, partner = cKDTree(positions).query(positions, k=2)
    distance, partner = distance[:, 1], partner[:, 1]
    bond = covalent_radii[numbers] + covalent_radii[numbers[partner]]
    unit = _unit_problem(distance, bond)
    if unit:
        raise StructureFileError(f"{name}: {unit}")
    if distance.min() < MIN_DISTANCE:
        a = int(np.argmin(distance))
        raise StructureFileError(
            f"{name}: overlapping atoms (closest pair {distance.min():.2f} Å < {MIN_DISTANCE} "
            f"Å): atoms {a} and {partner[a]} are duplicates; remove one"
        )
    stray = np.flatnonzero(distance > BOND_REACH * bond)
    if len(stray):
        symbols = [chemical_symbols[z] for z in numbers]
        raise StructureFileError(
            f"{name}: {_atom_list(stray, symbols)} bonded to no other atom (nearest "
            f"{distance[stray[0]]:.2f} Å away, bonds ≈ {bond[stray[0]]:.2f} Å): stray atoms?"
        )


def _unit_problem(distance, bond):
    """What is wrong with the scale of nearest-neighbour distances (nm, Bohr …), or None."""
    reduced = float(np.median(distance / bond))
    scale = (f"nearest neighbours are typically {np.median(distance):.2f} Å apart, bonds ≈ "
             f"{np.median(bond):.2f} Å")
    if reduced < TOO_CLOSE:
        unit = "in nm? (1 nm = 10 Å)" if TOO_CLOSE <= 10 * reduced <= BOND_REACH else \
            "in another unit, or scaled?"
        return f"everything overlapping ({scale}): coordinates {unit}"
    if reduced > BOND_REACH:
        n_stray = int((distance > BOND_REACH * bond).sum())
        what = "no two atoms bonded" if n_stray == len(distance) else \
            f"{n_stray} of {len(distance)} atoms bonded to no other"
        unit = f"in Bohr? (1 Bohr = {units.Bohr:.3f} Å)" if \
            TOO_CLOSE <= units.Bohr * reduced <= BOND_REACH else "in another unit?"
        return f"{what} ({scale}): coordinates {unit}"
    return None


def read_templates(folder):
    """Read every structure file of a user folder; all must have one size.

    Returns
    -------
    list[ase.Atoms]
    """
    files = structure_files(folder)
    templates = [read_template(path) for path in files]
    first = {}
    for path, template in zip(files, templates, strict=True):
        first.setdefault(len(template), path.name)
    if len(first) > 1:
        sizes = ", ".join(f"{name} has {n}" for n, name in sorted(first.items()))
        raise StructureFileError(
            f"structure folder {folder}: mixed particle sizes {sorted(first)} ({sizes} atoms); "
            "one campaign ranks orderings of one size"
        )
    return templates
