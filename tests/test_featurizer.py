"""Descriptor tables of structures and of template orderings: one answer, three routes."""

import numpy as np
from ase.cluster import Icosahedron

from strata import orderings
from strata.clusters import build_template
from strata.descriptors import describe_orderings
from strata.featurizer import Featurizer, describe, describe_many
from strata.generation import structure_atoms
from strata.layers import Topology
from strata.orderings import codes_from_symbols
from strata.settings import DescriptorSettings

PTAU = DescriptorSettings.from_config(["Pt", "Au"])


def test_describe_equals_describe_orderings_and_many():
    ico147 = Icosahedron("Pt", 4, latticeconstant=4.0)
    rng = np.random.default_rng(1)
    codes = np.stack([orderings.random_ordering(np.array([74, 73]), rng) for _ in range(5)])
    topology = Topology.from_atoms(ico147, PTAU)
    batch = describe_orderings(topology, codes, PTAU)
    structures = [structure_atoms(ico147, row, PTAU.elements) for row in codes]
    singles = np.stack([describe(a, PTAU).to_numpy() for a in structures])
    assert np.array_equal(batch, singles)
    relaxed = structures[0].copy()
    relaxed.rattle(0.02, seed=3)  # another geometry: its own topology
    many = describe_many([*structures, relaxed], PTAU)
    assert np.array_equal(many.to_numpy()[:5], singles)
    assert np.array_equal(many.to_numpy()[5], describe(relaxed, PTAU).to_numpy())
    back = [codes_from_symbols(a.get_chemical_symbols(), PTAU.elements) for a in structures]
    assert np.array_equal(back, codes)
    small_chunks = DescriptorSettings(elements=["Pt", "Au"], chunk_size=2)
    assert np.allclose(describe_orderings(topology, codes, small_chunks), batch, atol=1e-12)


def test_featurizer_of_templates_describes_their_orderings():
    templates = [build_template("icosahedron", 3, 4.0), build_template("decahedron", 3, 4.0)]
    featurizer = Featurizer(templates, PTAU)
    rng = np.random.default_rng(0)
    for t, template in enumerate(templates):
        counts = np.array([len(template) // 2, len(template) - len(template) // 2])
        codes = np.stack([orderings.random_ordering(counts, rng) for _ in range(3)])
        expected = describe_many([structure_atoms(template, c, PTAU.elements) for c in codes],
                                 PTAU)
        assert list(expected.columns) == featurizer.names
        assert np.array_equal(featurizer(t, codes), expected.to_numpy())
        shells = featurizer.shells(t)
        surface = Topology.from_atoms(template, PTAU).surface
        assert (shells[surface] <= 2).all() and (shells[~surface] >= 3).all()
        assert featurizer.coordination(t).max() == 12


def test_pair_coefficients_computed_once_serve_another_featurizer(tmp_path, monkeypatch):
    """The pair_coefficients rule's file gives every later job the same descriptors without
    recomputing the template's expansions (LODE's cost ~30 s at 147 atoms)."""
    import pytest

    from strata import environments, files

    settings = DescriptorSettings.from_config(
        ["Pt", "Au"], {"blocks": ["layers", "local", "long_range"],
                       "long_range": {"vacuum": 6.0, "max_radial": 1, "max_angular": 1}})
    templates = [build_template("icosahedron", 2, 4.0), build_template("octahedron", 3, 4.0)]
    first = Featurizer(templates, settings)
    pairs = first.pair_coefficients()
    assert sorted(pairs) == ["0.local", "0.long_range", "0.positions", "1.local",
                             "1.long_range", "1.positions"]
    files.write_arrays(pairs, tmp_path / "pairs.npz")
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 2, size=(4, len(templates[1])))

    def never(*_):
        raise AssertionError("pair coefficients computed again")

    monkeypatch.setattr(environments, "_PAIRS", {"local": never, "long_range": never})
    again = Featurizer(templates, settings,
                       files.read_pairs([tmp_path / "pairs.npz"]))
    assert np.array_equal(again(1, codes), first(1, codes))
    # the file of another particle is refused
    with pytest.raises(ValueError, match="template 0 were computed on another geometry"):
        Featurizer(templates[::-1], settings, pairs)
    moved = {**pairs, "0.positions": pairs["0.positions"] + [0.1, 0.0, 0.0]}
    with pytest.raises(ValueError, match="another geometry"):
        Featurizer(templates, settings, moved)
    with pytest.raises(ValueError, match="local pair coefficients of shape"):
        Featurizer(templates, settings, {**pairs, "1.local": pairs["0.local"]})(1, codes)
    assert Featurizer(templates, PTAU).pair_coefficients() == {}
    assert files.read_pairs([]) is None
