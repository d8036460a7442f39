"""Templates: ideal cluster shapes and user structure files."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

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
    ("2\n\nPt 0 0 0\nAu 0 0 0.3\n", "overlapping atoms (closest pair 0.30 Å < 0.5 Å)"),
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
    with pytest.raises(clusters.StructureFileError, match=r"mixed particle sizes \[13, 55\]"):
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
