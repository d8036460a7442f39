"""Tests of strata.chart: RDF encodings, the 2-D map, its motif families and their names."""

from itertools import combinations_with_replacement

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.cluster import Icosahedron
from scipy.spatial.distance import pdist

from strata.chart import (
    embed,
    families,
    family_names,
    place,
    profile_name,
    purity,
    quality,
    rdf_of_orderings,
    rdf_vectors,
    stability,
)

ELEMENTS = ["Ag", "Au", "Cu"]


@pytest.fixture(scope="module")
def ico55():
    return Icosahedron("Cu", noshells=3)


def ordered(template, codes, elements=ELEMENTS):
    """Copies of ``template`` with the elements ``codes`` (n, n_atoms) on its sites."""
    out = []
    for ordering in codes:
        atoms = template.copy()
        atoms.symbols = np.array(elements)[ordering]
        out.append(atoms)
    return out


def random_codes(n_atoms, n, n_elements=3, seed=0):
    return np.random.default_rng(seed).integers(0, n_elements, size=(n, n_atoms))


def blobs(n, k, dim=20, seed=0, separation=10.0):
    """``n`` points in ``k`` well-separated Gaussian blobs (equal sizes, shuffled)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(k, dim))
    labels = np.arange(n) % k
    rng.shuffle(labels)
    return centres[labels] + rng.normal(size=(n, dim)), labels


# ---------------------------------------------------------------- RDF


def test_rdf_vectors_have_one_block_per_unordered_pair(ico55):
    structures = ordered(ico55, random_codes(len(ico55), 4))
    vectors = rdf_vectors(structures, ELEMENTS, bins=40)
    assert vectors.shape == (4, 6 * 40)
    assert np.all(vectors >= 0) and np.all(vectors.reshape(4, 6, 40).sum(axis=2) > 0)


def test_rdf_vectors_are_invariant_under_rotation_translation_and_permutation(ico55):
    atoms = ordered(ico55, random_codes(len(ico55), 1, seed=1))[0]
    moved = atoms.copy()
    moved.rotate(37, (1, 2, 3), center="COM")
    moved.rotate(-80, "z")
    moved.translate((5.0, -3.0, 12.0))
    shuffled = moved[np.random.default_rng(2).permutation(len(moved))]
    reference, *others = rdf_vectors([atoms, moved, shuffled], ELEMENTS)
    for other in others:
        assert np.allclose(other, reference, atol=1e-10)
    assert not np.allclose(reference, rdf_vectors([ordered(ico55, random_codes(55, 1))[0]],
                                                  ELEMENTS)[0])


def test_a_pure_particle_has_only_its_own_pair_block(ico55):
    blocks = rdf_vectors([ico55], ELEMENTS).reshape(6, -1)
    pairs = list(combinations_with_replacement(ELEMENTS, 2))
    for (a, b), block in zip(pairs, blocks, strict=True):
        if (a, b) == ("Cu", "Cu"):
            assert block.sum() > 0
        else:
            assert np.all(block == 0)


def test_block_areas_are_pairs_per_atom(ico55):
    codes = random_codes(len(ico55), 1, seed=3)[0]
    atoms = ordered(ico55, [codes])[0]
    r_max, bins = 30.0, 3000  # every pair, a fine grid: the Gaussians integrate to 1
    areas = rdf_vectors([atoms], ELEMENTS, r_max=r_max, bins=bins, width=0.1)
    areas = areas.reshape(6, bins).sum(axis=1) * (r_max / bins)
    counts = np.bincount(codes, minlength=3)
    expected = [counts[a] * counts[b] if a != b else counts[a] * (counts[a] - 1) / 2
                for a, b in combinations_with_replacement(range(3), 2)]
    assert np.allclose(areas, np.array(expected) / len(atoms), rtol=1e-6)


def test_only_pairs_within_r_max_count(ico55):
    distances = np.sort(pdist(ico55.positions))
    inside = (distances[:-1] > 3.0) & (distances[:-1] < 8.0)
    gap = np.argmax(np.diff(distances) * inside)  # a gap between shells
    r_max = (distances[gap] + distances[gap + 1]) / 2
    assert distances[gap + 1] - distances[gap] > 0.3
    bins = int(round(r_max / 0.005))
    vector = rdf_vectors([ico55], ["Cu"], r_max=r_max, bins=bins, width=0.02)
    within = (distances < r_max).sum()
    assert vector.sum() * (r_max / bins) == pytest.approx(within / len(ico55), rel=1e-3)


def test_rdf_rejects_an_element_outside_the_list(ico55):
    with pytest.raises(ValueError, match="Cu"):
        rdf_vectors([ico55], ["Ag", "Au"])


def test_rdf_of_orderings_equals_rdf_vectors(ico55):
    codes = random_codes(len(ico55), 7, seed=4)
    fast = rdf_of_orderings(ico55, codes, ELEMENTS, chunk=3)
    direct = rdf_vectors(ordered(ico55, codes), ELEMENTS)
    assert fast.shape == direct.shape
    assert np.allclose(fast, direct, rtol=1e-10, atol=1e-12)


def test_rdf_of_orderings_with_two_elements_and_other_grid(ico55):
    codes = random_codes(len(ico55), 3, n_elements=2, seed=5)
    options = {"r_max": 5.0, "bins": 17, "width": 0.4}
    fast = rdf_of_orderings(ico55, codes, ["Ag", "Cu"], **options)
    direct = rdf_vectors(ordered(ico55, codes, ["Ag", "Cu"]), ["Ag", "Cu"], **options)
    assert np.allclose(fast, direct, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- embedding


def test_embed_is_deterministic_for_a_seed():
    vectors, _ = blobs(60, 4, seed=1)
    vectors[:, 3] = 2.0  # a constant column is dropped, not divided by 0
    first, second = embed(vectors, seed=7), embed(vectors, seed=7)
    assert first.shape == (60, 2) and np.all(np.isfinite(first))
    assert np.array_equal(first, second)
    previous = first[:50]
    assert np.array_equal(embed(vectors, previous, seed=3), embed(vectors, previous, seed=3))


def test_embed_keeps_the_previous_rounds_points_in_place():
    vectors, _ = blobs(66, 4, seed=2)
    old = embed(vectors[:60], seed=2)
    new = embed(vectors, previous=old, seed=2)
    # measured 0.063 (0.03-0.19 over seeds 0-9; 0.4-2.2 for a fresh map of all 66)
    assert stability(old, new) < 0.25
    assert quality(vectors, new) > 0.9


def test_embed_aligns_onto_a_rotated_reflected_scaled_previous_map():
    vectors, _ = blobs(40, 3, seed=3)
    old = embed(vectors, seed=0)
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    previous = (old @ rotation) * [[-3.0, 3.0]] + [100.0, -20.0]
    new = embed(vectors, previous=previous, seed=0)
    assert stability(previous, new) < 0.15  # measured 0.06


def test_place_puts_a_fitted_row_on_its_own_point_and_ignores_row_order():
    vectors, _ = blobs(60, 4, seed=4)
    coords = embed(vectors, seed=0)
    assert np.allclose(place(vectors[:5], vectors, coords), coords[:5])
    new = vectors[:7] + 0.05
    order = np.random.default_rng(0).permutation(60)
    placed = place(new, vectors, coords)
    assert np.allclose(place(new, vectors[order], coords[order]), placed)
    # between its fitted neighbours: inside the map's bounding box
    assert (placed >= coords.min(axis=0)).all() and (placed <= coords.max(axis=0)).all()
    assert place(vectors[:0], vectors, coords).shape == (0, 2)


def test_embed_of_tiny_inputs_is_their_pca():
    vectors = np.array([[0.0, 0.0, 1.0], [1.0, 2.0, 1.0], [2.0, 4.0, 1.0]])
    coords = embed(vectors)
    assert coords.shape == (3, 2)
    assert np.allclose(coords[:, 1], 0.0)  # one varying direction: padded
    assert np.allclose(np.abs(coords[:, 0]), [3**0.5, 0.0, 3**0.5])  # ±sqrt(3/2)·sqrt(2)
    assert embed(np.ones((1, 4))).shape == (1, 2)
    with pytest.raises(ValueError, match="previous"):
        embed(vectors, previous=np.zeros((4, 2)))


# ---------------------------------------------------------------- families


def test_families_recover_well_separated_blobs():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 20)
    coords = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])[truth] + rng.normal(
        scale=0.5, size=(60, 2))
    labels = families(coords, min_size=5)
    assert len(set(labels) - {-1}) == 3
    assert purity(labels, truth) == 1.0
    assert (labels == -1).mean() < 0.1


def test_too_few_points_are_in_no_family():
    assert np.array_equal(families(np.zeros((4, 2)), min_size=5), [-1] * 4)
    assert families(np.zeros((0, 2))).shape == (0,)


def test_purity_by_hand():
    labels = [0, 0, 0, 1, 1, -1, -1, 2]
    motifs = ["ico", "ico", "deca", "fcc", None, "fcc", "ico", np.nan]
    # family 0: 2 of 3 ico; family 1: 1 known (fcc); -1 and unknown motifs ignored
    assert purity(labels, motifs) == pytest.approx(3 / 4)
    assert np.isnan(purity([-1, 0], ["ico", None]))


# ---------------------------------------------------------------- names


def profiles_of(rows):
    """A layer-descriptor-like frame: per point, surface/intermediate/core fractions."""
    frame = pd.DataFrame(rows)
    frame.insert(0, "surface.count", 42)  # columns other than the fractions are ignored
    frame["surface.site.vertex.frac.Au"] = 1.0
    return frame


def point(surface_au, intermediate_au, core_au):
    return {"surface.frac.Au": surface_au, "surface.frac.Pt": 1 - surface_au,
            "intermediate.frac.Au": intermediate_au, "intermediate.frac.Pt": 1 - intermediate_au,
            "core.frac.Au": core_au, "core.frac.Pt": 1 - core_au}


def test_family_names_from_region_profiles():
    rows = [point(0.85, 0.5, 0.0), point(0.95, 0.5, 0.0),  # family 3: Au shell, Pt core
            point(0.5, 0.5, 0.5), point(0.5, 0.45, 0.55),  # family 1: evenly mixed
            point(0.0, 0.0, 0.0)]  # no family
    names = family_names([3, 3, 1, 1, -1], profiles_of(rows))
    assert names == {1: "mixed", 3: "Au shell / Pt core"}


def test_families_with_the_same_name_are_numbered_in_label_order():
    rows = [point(0.9, 0.5, 0.0), point(0.5, 0.5, 0.5), point(0.8, 0.5, 0.1),
            point(0.0, 1.0, 0.2)]
    names = family_names([5, 0, 2, 7], profiles_of(rows))
    assert names == {0: "mixed", 2: "Au shell / Pt core (1)", 5: "Au shell / Pt core (2)",
                     7: "Pt shell / Au subsurface / Pt core"}


def test_profile_name_threshold_and_region_words():
    means = {"surface": {"Au": 0.6, "Pt": 0.4}, "core": {"Au": 0.3, "Pt": 0.7}}
    assert profile_name(means, threshold=0.6) == "Au shell / Pt core"
    assert profile_name(means, threshold=0.65) == "Pt core"
    assert profile_name(means, threshold=0.8) == "mixed"
    assert profile_name({"intermediate": {"Cu": 1.0}}) == "Cu subsurface"


# ---------------------------------------------------------------- scores


def test_quality_is_high_for_a_faithful_map_and_low_for_a_random_one():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(80, 2)) * [3.0, 1.0]
    vectors = plane @ rng.normal(size=(2, 10)) + 1e-3 * rng.normal(size=(80, 10))
    from sklearn.decomposition import PCA

    faithful = PCA(n_components=2).fit_transform((vectors - vectors.mean(0)) / vectors.std(0))
    assert quality(vectors, faithful) > 0.99
    assert quality(vectors, rng.normal(size=(80, 2))) < 0.7
    assert np.isnan(quality(vectors[:3], faithful[:3]))


def test_stability_is_displacement_over_spread():
    previous = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # spread 1
    assert stability(previous, np.vstack([previous, [[5.0, 5.0]]])) == 0.0
    moved = previous + [[0.5, 0.0], [0.2, 0.0], [0.0, 0.1], [0.0, 0.0]]
    assert stability(previous, moved) == pytest.approx(0.15)  # median of 0.5, 0.2, 0.1, 0
    assert np.isnan(stability(np.zeros((0, 2)), moved))


def test_atoms_without_neighbours_within_r_max_give_zeros():
    single = Atoms("Cu", positions=[[0.0, 0.0, 0.0]])
    far = Atoms("CuAg", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    assert np.all(rdf_vectors([single, far], ELEMENTS) == 0)
