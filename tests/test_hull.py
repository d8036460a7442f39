"""The mixing-energy hull: definitions, invariants and the changes between rounds."""

import numpy as np
import pandas as pd
import pytest

from strata import hull

PURE = {"Ag": -10.0, "Au": -20.0}


def _table(rows, pure=PURE, elements=("Ag", "Au")):
    """The hull table of structures ``(counts, energy)``."""
    points = hull.mixing_table(_computed(rows, elements), pure, elements)
    return hull.hull_table(points, pure, elements, sum(rows[0][0]))


def _computed(rows, elements=("Ag", "Au")):
    """Structures ``(counts, energy)`` as the mixing table's input."""
    table = []
    for i, (counts, energy) in enumerate(rows):
        key = "".join(f"{e}{n}" for e, n in sorted(zip(elements, counts, strict=True)) if n)
        table.append({"composition": key, "structure_id": f"s{i}", "energy": energy,
                      **dict(zip(elements, counts, strict=True))})
    return pd.DataFrame(table)


def _energy(counts, e_mix, pure=PURE, elements=("Ag", "Au")):
    """Total energy of a particle with mixing energy ``e_mix`` (eV/atom)."""
    n = sum(counts)
    return n * e_mix + sum(c * pure[e] for c, e in zip(counts, elements, strict=True)) / n


def test_mixing_energy_is_zero_for_the_pure_particles_and_linear_in_energy():
    counts = np.array([[10, 0], [0, 10], [4, 6]])
    energy = np.array([PURE["Ag"], PURE["Au"], -16.0 - 0.5])
    e_mix = hull.mixing_energy(energy, counts, [PURE["Ag"], PURE["Au"]])
    assert np.allclose(e_mix, [0.0, 0.0, -0.05])


def test_a_binary_hull_by_hand():
    # e_mix per composition (n = 10): the middle one is below the chord of its neighbours
    best = {2: -0.01, 4: -0.05, 5: -0.03, 8: -0.02}
    rows = [((10 - k, k), _energy((10 - k, k), e)) for k, e in best.items()]
    rows.append(((6, 4), _energy((6, 4), 0.2)))  # a worse ordering of Ag6Au4
    table = _table(rows)
    assert list(table["x_Au"]) == [0.0, 0.2, 0.4, 0.5, 0.8, 1.0]
    by = table.set_index("composition")
    assert by.loc["Ag6Au4", "structure_id"] == "s1" and by.loc["Ag6Au4", "computed"] == 2
    assert np.allclose(by.loc["Ag6Au4", "e_mix"], -0.05)
    on = set(by.index[by["on_hull"]])
    # Au50 %: the chord Ag6Au4–Ag2Au8 at 0.5 is -0.05 + 0.1/0.4·0.03 = -0.0425 < -0.03
    assert on == {"Ag10", "Ag6Au4", "Ag2Au8", "Au10"}
    assert np.isclose(by.loc["Ag5Au5", "distance"], -0.03 + 0.0425)
    # Ag8Au2: chord Ag10–Ag6Au4 at 0.2 is -0.025 < -0.01
    assert np.isclose(by.loc["Ag8Au2", "distance"], 0.015)
    assert (by.loc[list(on), "distance"] == 0).all()


@pytest.mark.parametrize("seed", range(4))
def test_hull_invariants(seed):
    rng = np.random.default_rng(seed)
    n = 20
    rows = [((n - k, k), _energy((n - k, k), rng.normal(-0.02, 0.03)))
            for k in rng.choice(np.arange(1, n), size=12)]
    table = _table(rows)
    x, e = table["x_Au"].to_numpy(), table["e_mix"].to_numpy()
    on = table["on_hull"].to_numpy()
    # every point lies on or above every chord of two hull points (lower convexity)
    for i, j in zip(np.flatnonzero(on)[:-1], np.flatnonzero(on)[1:], strict=True):
        between = (x > x[i]) & (x < x[j])
        chord = e[i] + (e[j] - e[i]) * (x[between] - x[i]) / (x[j] - x[i])
        assert (e[between] >= chord - 1e-9).all()
    assert on[0] and on[-1] and (table["distance"] >= 0).all()
    # a point added above the hull changes nothing; one below the hull joins it
    worst = table.iloc[1:-1]["distance"].idxmax()
    counts = (int(round(n * (1 - x[worst]))), int(round(n * x[worst])))
    above = _table([*rows, (counts, _energy(counts, e[worst] + 1))])
    assert above["on_hull"].equals(table["on_hull"])
    below_e = e[worst] - table.loc[worst, "distance"] - 0.01
    below = _table([*rows, (counts, _energy(counts, below_e))])
    assert below.loc[worst, "on_hull"] and below.loc[worst, "distance"] == 0
    # the element order is a relabelling: the same hull
    swapped = _table([((b, a), en) for (a, b), en in rows], elements=("Au", "Ag"))
    assert set(swapped.loc[swapped["on_hull"], "composition"]) == \
        set(table.loc[table["on_hull"], "composition"])


def test_a_ternary_hull():
    pure = {"Ag": -10.0, "Au": -20.0, "Cu": -5.0}
    elements = ("Ag", "Au", "Cu")
    rows = [((4, 4, 4), _energy((4, 4, 4), -0.1, pure, elements)),
            ((6, 6, 0), _energy((6, 6, 0), -0.02, pure, elements)),
            ((8, 2, 2), _energy((8, 2, 2), 0.05, pure, elements))]
    table = _table(rows, pure, elements)
    by = table.set_index("composition")
    assert by.loc["Ag4Au4Cu4", "on_hull"] and by.loc["Ag6Au6", "on_hull"]
    assert not by.loc["Ag8Au2Cu2", "on_hull"] and by.loc["Ag8Au2Cu2", "distance"] > 0.05


def test_failed_structures_are_left_out():
    rows = [((5, 5), _energy((5, 5), -0.03)), ((5, 5), np.nan)]
    table = _table(rows)
    assert table.set_index("composition").loc["Ag5Au5", "computed"] == 1


def test_changes_between_rounds():
    first = [((5, 5), _energy((5, 5), -0.03)), ((8, 2), _energy((8, 2), -0.001))]
    before = _table(first)
    assert hull.hull_changes(None, before) == []
    assert hull.hull_changes(before, before) == []
    after = _table([*first, ((8, 2), _energy((8, 2), -0.05))])
    lines = hull.hull_changes(before, after)
    assert lines[0] == "joined the hull: Ag8Au2"
    assert any("Ag8Au2 (−49.0 meV/atom)" in line for line in lines)


def test_energy_scale_recovers_a_pooled_slope_whatever_the_composition_offsets():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], 40)
    score = rng.normal(size=120)
    offsets = {"a": 10.0, "b": -3.0, "c": 0.5}
    energy = np.array([offsets[g] for g in groups]) - 0.2 * score + rng.normal(0, 0.01, 120)
    slope, spread = hull.energy_scale(energy, score, groups)
    assert np.isclose(slope, -0.2, atol=0.005) and np.isclose(spread, 0.01, rtol=0.2)
    # scores shifted per composition change nothing (only within-composition differences count)
    shifted = score + np.array([{"a": 5, "b": -1, "c": 0}[g] for g in groups])
    assert np.allclose(hull.energy_scale(energy, shifted, groups), (slope, spread))


def test_below_hull_probability():
    chance = hull.below_hull_probability([-0.06, -0.02, 0.01], [0.01, 0.01, 0.01], -0.02)
    assert chance[0] > 0.999 and abs(chance[1] - 0.5) < 0.01 and chance[2] < 0.002
