"""Templates: ideal cluster shapes and user structure files."""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.io import write
from conftest import SEED_DATA, seed_structures

from strata import clusters


@pytest.mark.parametrize("shape, size, cutoff, n_atoms", [
    ("icosahedron", 2, 1, 13), ("icosahedron", 3, 1, 55), ("icosahedron", 4, 1, 147),
    ("decahedron", 2, 1, 13), ("octahedron", 2, 1, 6), ("octahedron", 3, 1, 19),
    ("truncated_octahedron", 4, 1, 38),
])
def test_build_template(shape, size, cutoff, n_atoms):
    atoms = clusters.build_template(shape, size, 4.0, cutoff=cutoff)
    assert len(atoms) == n_atoms
    assert np.allclose(atoms.positions.mean(axis=0), 0, atol=1e-9)
    assert not atoms.pbc.any() and not atoms.cell.any()
    distances = atoms.get_all_distances()[np.triu_indices(n_atoms, 1)]
    assert distances.min() == pytest.approx(4.0 / np.sqrt(2), rel=0.06)


def test_build_template_scales_with_lattice_constant():
    small = clusters.build_template("icosahedron", 3, 3.6)
    large = clusters.build_template("icosahedron", 3, 4.0)
    assert np.allclose(large.positions, small.positions * 4.0 / 3.6)


def test_unknown_shape_raises():
    with pytest.raises(ValueError, match="unknown shape 'cube'"):
        clusters.build_template("cube", 3, 4.0)


def test_vegard_lattice_constant():
    pt = clusters.default_lattice_constant({"Pt": 1})
    au = clusters.default_lattice_constant({"Au": 1})
    assert pt == pytest.approx(3.92, abs=0.01) and au == pytest.approx(4.08, abs=0.01)
    mixed = clusters.default_lattice_constant({"Pt": 74, "Au": 73})
    assert mixed == pytest.approx((74 * pt + 73 * au) / 147)


def test_nearest_neighbour_distance_of_other_lattices():
    assert clusters.nearest_neighbour_distance("Fe") == pytest.approx(2.87 * np.sqrt(3) / 2,
                                                                       abs=0.01)
    with pytest.raises(ValueError, match="no crystal reference state"):
        clusters.nearest_neighbour_distance("Og")


def particle(symbols="Pt7Au6", shift=(0.0, 0.0, 0.0)):
    template = clusters.build_template("icosahedron", 2, 4.0)
    return Atoms(symbols, positions=template.positions + shift)


def test_read_template_centres_and_drops_the_cell(tmp_path):
    periodic = Atoms(particle(), cell=[15, 15, 15], pbc=True)
    periodic.translate([7.5, 7.5, 7.5])
    write(tmp_path / "p.cif", periodic)
    template = clusters.read_template(tmp_path / "p.cif")
    assert np.allclose(template.positions.mean(axis=0), 0, atol=1e-6)
    assert not template.pbc.any() and not template.cell.any()
    assert template.get_chemical_formula() == particle().get_chemical_formula()


def test_structure_files_are_sorted_and_filtered(tmp_path):
    for name in ("b.xyz", "a.extxyz", "c.VASP", "notes.txt", "image.png"):
        (tmp_path / name).write_text("")
    assert [p.name for p in clusters.structure_files(tmp_path)] == ["a.extxyz", "b.xyz", "c.VASP"]


@pytest.mark.parametrize("content, words", [
    ("3\n\nPt 0 0 0\nAu 0 0\n", "unreadable structure file"),
    ("", "unreadable structure file"),
    ("1\n\nPt 0 0 0\n", "at least 2 atoms, found 1"),
    ("2\n\nPt 0 0 0\nAu 0 0 0.3\n", "everything overlapping (nearest neighbours are typically "
                                    "0.30 Å apart, bonds ≈ 2.72 Å)"),
])
def test_read_template_rejects(tmp_path, content, words):
    (tmp_path / "bad.xyz").write_text(content)
    with pytest.raises(clusters.StructureFileError) as raised:
        clusters.read_template(tmp_path / "bad.xyz")
    assert words in str(raised.value) and "bad.xyz" in str(raised.value)


def test_read_templates_rejects_mixed_sizes(tmp_path):
    write(tmp_path / "a.xyz", particle())
    write(tmp_path / "b.xyz", Atoms("Pt55", positions=clusters.build_template(
        "icosahedron", 3, 4.0).positions))
    with pytest.raises(clusters.StructureFileError,
                       match=r"mixed particle sizes \[13, 55\] \(a.xyz has 13, b.xyz has 55 atoms"):
        clusters.read_templates(tmp_path)


@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "absent", "does not exist"),
    (lambda tmp: tmp, "holds no structure file"),
])
def test_structure_folder_errors(tmp_path, make, words):
    with pytest.raises(clusters.StructureFileError, match=words):
        clusters.read_templates(make(tmp_path))


def test_read_templates_keeps_each_file_ordering(tmp_path):
    write(tmp_path / "a.xyz", particle("Pt7Au6"))
    write(tmp_path / "b.xyz", particle("Au6Pt7", shift=(3, 0, 0)))
    a, b = clusters.read_templates(tmp_path)
    assert a.get_chemical_symbols() == particle("Pt7Au6").get_chemical_symbols()
    assert b.get_chemical_symbols() == particle("Au6Pt7").get_chemical_symbols()
    assert np.allclose(a.positions, b.positions)


# ---------------------------------------------- structure files that are not one metal particle

def _fcc(repeat, vacuum_axes=()):
    """Pt/Au fcc cell (cubic, a = 4 Å), periodic, with vacuum along ``vacuum_axes``."""
    atoms = bulk("Pt", "fcc", a=4.0, cubic=True).repeat(repeat)
    atoms.symbols[::2] = "Au"
    if vacuum_axes:
        atoms.center(vacuum=6.0, axis=vacuum_axes)
    return atoms


def _with_atom(atoms, symbol, position):
    return atoms + Atoms(symbol, positions=[position])


def _moved(atoms, index, position):
    atoms = atoms.copy()
    atoms.positions[index] = position
    return atoms


#: case -> ({file name: structure}, words of the message); every message names its file
BAD_STRUCTURES = {
    "ligands": ({"a.xyz": particle() + Atoms("H2", positions=[[0, 0, 4.3], [0, 0, -4.3]])},
                "a.xyz: non-metal atoms (H): atoms 13, 14 of 15; a template is a bare metal"),
    "bulk cell": ({"bulk.extxyz": _fcc(2)},
                  "bulk.extxyz: periodic bulk cell, not a particle: atoms"),
    "slab": ({"slab.extxyz": _fcc((2, 2, 2), vacuum_axes=2)},
             "slab.extxyz: periodic slab, not a particle"),
    "bohr": ({"bohr.xyz": Atoms(particle().symbols, positions=particle().positions / units.Bohr)},
             "bohr.xyz: no two atoms bonded (nearest neighbours are typically 5.34 Å apart, "
             "bonds ≈ 2.72 Å): coordinates in Bohr?"),
    "nm": ({"nm.xyz": Atoms(particle().symbols, positions=particle().positions / 10)},
           "nm.xyz: everything overlapping (nearest neighbours are typically 0.28 Å apart, "
           "bonds ≈ 2.72 Å): coordinates in nm?"),
    "duplicate atom": ({"dup.xyz": _with_atom(particle(), "Pt", particle().positions[3] + 0.05)},
                       "dup.xyz: overlapping atoms (closest pair 0.09 Å < 0.5 Å): atoms 3 and "
                       "13 are duplicates"),
    "stray atom": ({"stray.xyz": _moved(particle(), 12, [12.0, 0, 0])},
                   "stray.xyz: atom 12 (Au) bonded to no other atom (nearest"),
    "mixed sizes": ({"a.xyz": particle(), "b.xyz": Atoms(
        "Pt55", positions=clusters.build_template("icosahedron", 3, 4.0).positions)},
        "mixed particle sizes [13, 55] (a.xyz has 13, b.xyz has 55 atoms)"),
}


def write_structures(folder, case):
    """Write the files of a :data:`BAD_STRUCTURES` case into ``folder``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, atoms in BAD_STRUCTURES[case][0].items():
        write(folder / name, atoms)
    return folder


@functools.cache
def _scratch():
    root = Path(tempfile.mkdtemp(prefix="strata-structures-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def bad_structure_folder(case):
    """A folder holding a :data:`BAD_STRUCTURES` case, for tables built at import time."""
    return write_structures(_scratch() / case.replace(" ", "-"), case)


@pytest.mark.parametrize("case", BAD_STRUCTURES)
def test_structure_that_is_not_one_metal_particle_is_named(tmp_path, case):
    write_structures(tmp_path, case)
    with pytest.raises(clusters.StructureFileError) as raised:
        clusters.read_templates(tmp_path)
    message = str(raised.value)
    assert BAD_STRUCTURES[case][1] in message and "\n" not in message, message


def test_periodic_bulk_cell_names_its_shortest_bond_through_a_face(tmp_path):
    write(tmp_path / "cu.vasp", bulk("Cu", "fcc", a=3.61).repeat((2, 1, 1)))
    with pytest.raises(clusters.StructureFileError,
                       match=r"cu.vasp: periodic bulk cell, .* along a, b, c \(2.55 Å apart\)"):
        clusters.read_template(tmp_path / "cu.vasp")


def test_particle_cut_by_its_cell_faces_is_made_whole(tmp_path):
    """A particle wrapped into its periodic cell (as DFT codes write it) keeps its shape."""
    whole = particle()
    wrapped = Atoms(whole, cell=[12, 12, 12], pbc=True)
    wrapped.wrap()
    assert np.ptp(wrapped.positions, axis=0).max() > 10  # split over the faces
    write(tmp_path / "wrapped.extxyz", wrapped)
    template = clusters.read_template(tmp_path / "wrapped.extxyz")
    assert np.allclose(template.get_all_distances(), whole.get_all_distances())


def test_particle_in_too_small_a_cell_is_periodic(tmp_path):
    tight = Atoms(particle(), cell=[6.5, 6.5, 6.5], pbc=True)  # 5.4 Å wide: 1.1 Å to the image
    write(tmp_path / "tight.cif", tight)
    with pytest.raises(clusters.StructureFileError, match="tight.cif: periodic bulk cell"):
        clusters.read_template(tmp_path / "tight.cif")


@pytest.mark.parametrize("symbol", ["Pt", "Au", "Ag", "Cu", "Al", "Ni", "Pd", "Fe", "Co", "Na",
                                    "K", "Cs", "Mg", "Zn", "Pb", "Ir", "W"])
def test_ideal_particles_of_metals_pass_every_check(symbol):
    a = clusters.default_lattice_constant({symbol: 1})
    for shape, size in (("icosahedron", 3), ("truncated_octahedron", 4)):
        template = clusters.build_template(shape, size, a, symbol=symbol)
        clusters.template_from_atoms(template, f"{symbol}.xyz")


@pytest.mark.skipif(not (SEED_DATA / "structures.tar.gz").exists(), reason="no seed data")
def test_relaxed_seed_particles_pass_every_check():
    """The 999 relaxed Al-Co-Fe-Ni-Cu particles: irregular, split first shells, all accepted."""
    for i, atoms in enumerate(seed_structures(999)):
        assert len(clusters.template_from_atoms(atoms, f"{i}.xyz")) == len(atoms)


def test_metalloids_are_not_taken_for_ligands():
    atoms = particle("Pt7Sb6")
    assert clusters.template_from_atoms(atoms, "ptsb.xyz").get_chemical_formula() == "Pt7Sb6"
