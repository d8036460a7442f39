"""Smoke tests of the benchmark scripts' plumbing (no figures are asserted)."""

import numpy as np
import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def hawthorne():
    return load_benchmark("hawthorne2026")


def test_hawthorne_skips_without_data(hawthorne, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hawthorne, "SEED_DATA", tmp_path / "absent")
    hawthorne.main(["--quick"])
    assert "skipped" in capsys.readouterr().out


def test_hawthorne_random_picking_exact(hawthorne):
    """The exact expectation against a hand count and against permutations drawn apart."""
    assert (hawthorne.N_INITIAL, hawthorne.BATCH_SIZE) == (10, 5)
    # 12 structures: the best among the first 10 costs 10 labels, else the batch to 15, cut at 12
    assert hawthorne.random_picking(12, seeds=10)["exact"]["mean labels"] == pytest.approx(
        (10 * 10 + 12 + 12) / 12)
    exact = hawthorne.random_picking(388, seeds=10)["exact"]
    drawn = hawthorne.simulate_random_campaigns(388, 3000)
    sem = drawn["labels"].std() / np.sqrt(len(drawn))
    assert abs(drawn["labels"].mean() - exact["mean labels"]) < 4 * sem
    assert abs(drawn["position"].mean() - exact["mean position"]) < 4 * sem


def test_hawthorne_refuses_prototypes_without_lattice_orderings(hawthorne, capsys):
    """The relaxed particles have no lattice ordering: prototypes would be the same for all."""
    with pytest.raises(SystemExit):
        hawthorne.parse_args(["--model", "prototypes=8"])
    assert "no lattice orderings" in capsys.readouterr().err
    assert hawthorne.parse_args(["--model", "prior_weight=2"]).model == ["prior_weight=2"]


def test_hawthorne_overrides_and_summary(hawthorne):
    assert hawthorne.parse_overrides(["prior_weight=0", "prior=none"]) == {
        "prior_weight": 0, "prior": "none"}
    runs = hawthorne.simulate_random_campaigns(388, 5)
    summary = hawthorne.campaign_summary(runs)
    assert summary.loc["random", "seeds"] == 5
    assert np.all(runs["labels"] >= runs["position"])
